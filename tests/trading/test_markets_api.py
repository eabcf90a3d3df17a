from __future__ import annotations

from venues.instruments import get_market


def test_kalshi_markets_by_volume_active_with_the_fields_strategies_use(api):
    status, body = api.get("/v1/markets?venue=kalshi&limit=30&order=volume&active=true")
    assert status == 200, body
    rows = body["markets"]
    assert rows and body["count"] == len(rows) and body["venue"] == "kalshi"
    volumes = [r["volume"] for r in rows]
    assert volumes == sorted(volumes, reverse=True)
    assert all(r["active"] and r["status"] == "active" for r in rows)
    row = rows[0]
    for field in ("slug", "liquidity", "yes_token_id", "no_token_id", "outcome_name", "is_placeholder_outcome",
                  "venue", "symbol", "tick_size", "min_notional", "status", "instrument_type"):  # fmt: skip
        assert field in row, field
    assert row["yes_token_id"].endswith("-YES") and row["no_token_id"].endswith("-NO")
    assert row["min_notional"] == "0" and row["instrument_type"] == "prediction"


def test_inactive_filter_and_limit(api):
    _, everything = api.get("/v1/markets?venue=kalshi")
    _, closed = api.get("/v1/markets?venue=kalshi&active=false")
    assert closed["markets"] and all(not r["active"] and r["status"] == "closed" for r in closed["markets"])
    assert len(everything["markets"]) > len(closed["markets"])
    _, two = api.get("/v1/markets?venue=kalshi&limit=2")
    assert len(two["markets"]) == 2


def test_polymarket_events_group_outcomes_unless_expanded(api):
    _, grouped = api.get("/v1/markets?venue=polymarket&active=true")
    event = next(r for r in grouped["markets"] if r["slug"] == "2026-fifa-world-cup-winner")
    assert event["yes_token_id"] is None and len(event["outcomes"]) >= 5
    status, expanded = api.get(
        "/v1/markets?venue=polymarket&limit=200&order=volume&active=true&expand=outcomes"
    )
    assert status == 200
    rows = expanded["markets"]
    spain = next(r for r in rows if r["outcome_name"] == "Spain")
    assert spain["yes_token_id"] == get_market("polymarket", spain["slug"]).yes_token_id
    assert spain["min_notional"] == "1"
    assert any(r["is_placeholder_outcome"] for r in rows)
    assert all(r["yes_token_id"] for r in rows)


def test_spot_venue_lists_its_pairs(api):
    status, body = api.get("/v1/markets?venue=coinbase")
    assert status == 200
    symbols = {r["symbol"] for r in body["markets"]}
    assert "BTC-USD" in symbols and all(r["instrument_type"] == "spot" for r in body["markets"])


def test_bad_market_queries_are_400_with_a_message(api):
    status, body = api.get("/v1/markets?venue=nasdaq")
    assert status == 400 and "unknown venue" in body["message"]
    status, body = api.get("/v1/markets?venue=kalshi&order=price")
    assert status == 400 and "order must be" in body["message"]
    status, body = api.get("/v1/markets?venue=kalshi&expand=everything")
    assert status == 400
    status, body = api.get("/v1/markets?venue=kalshi&limit=0")
    assert status == 400
    status, body = api.get("/v1/markets")
    assert status == 400 and "venue" in body["message"]


def test_markets_need_a_key(anon_api):
    status, body = anon_api.get("/v1/markets?venue=kalshi")
    assert status == 401 and body["error"] == "unauthorized"
