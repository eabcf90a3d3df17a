"""PolymarketFeed (sans-I/O) on the captured frames: books, both outcome tokens, updates checked
against the venue's best_bid/best_ask, tick size changes, and every kind of bad input."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from tests.fakevenues.polymarket import FakePolymarket, load_fixture
from venues.live.protocol import BookChanged, Reconnect, Resync, Send, TickSizeChanged
from venues.polymarket.feed import PolymarketFeed, parse_price_1e9, parse_qty_1e8

A = FakePolymarket.BURST_A  # the 2026 frame-array capture's book token
B = FakePolymarket.BURST_B  # its complement (price_changes only)
TRUMP_NO = FakePolymarket.TRUMP_NO
S = 1_000_000_000


def books(events: list[Any]) -> list[BookChanged]:
    return [e for e in events if isinstance(e, BookChanged)]


def resubscription(tokens: list[str]) -> list[dict[str, Any]]:
    """The frames that ask for fresh snapshots of `tokens`: a real cycle, unsubscribe then subscribe
    (the venue is reported to ignore a subscribe of a token the connection already follows)."""
    return [
        {"assets_ids": tokens, "operation": "unsubscribe"},
        {"assets_ids": tokens, "operation": "subscribe", "initial_dump": True},
    ]


def sent(events: list[Any]) -> list[Any]:
    return [json.loads(e.frame) for e in events if isinstance(e, Send)]


def feed(*symbols: str, **kw: Any) -> PolymarketFeed:
    f = PolymarketFeed(list(symbols), ws_url="ws://127.0.0.1:1/ws/market", **kw)
    f.on_open()
    return f


def test_subscription_is_the_documented_initial_form() -> None:
    f = PolymarketFeed([A, B], ws_url="ws://x")
    (frame,) = f.on_open()
    msg = json.loads(frame)
    doc = load_fixture("docs_examples/ws_market_subscribe.json")
    assert {"assets_ids", "type"} <= set(doc) and msg["type"] == doc["type"] == "market"
    assert msg["assets_ids"] == [A, B] and msg["initial_dump"] is True
    assert f.ping_frame() == "PING" and f.ping_interval_s == 10.0
    with pytest.raises(ValueError, match="at least one"):
        PolymarketFeed([], ws_url="ws://x")  # an empty assets_ids would subscribe to every market
    with pytest.raises(ValueError, match="not a Polymarket token id"):
        PolymarketFeed(["BTC/USD"], ws_url="ws://x")


def test_2024_capture_book_is_read_by_value_not_position() -> None:
    """Bids ascending, asks descending in the capture: best bid is the LAST bid, best ask the LAST ask."""
    cap = load_fixture("ws_market/book__ws_capture_2024_asks_desc_bids_asc.json")
    f = feed(TRUMP_NO, depth=200)
    (ev,) = books(f.on_frame(json.dumps(cap), 123))
    snap = ev.snapshot
    assert ev.symbol == TRUMP_NO and snap.ts_ns == 123
    assert snap.best_bid == (parse_price_1e9("0.511"), parse_qty_1e8("1304.72"))
    assert snap.best_ask == (514_000_000, 2_023_087_000_000)  # 0.514 x 20230.87, exactly
    assert len(snap.bids) == len(cap["bids"]) and len(snap.asks) == len(cap["asks"])
    assert [p for p, _ in snap.bids] == sorted((p for p, _ in snap.bids), reverse=True)
    assert [p for p, _ in snap.asks] == sorted(p for p, _ in snap.asks)
    assert (1_000_000, 900_002_358_000_000) in snap.bids  # 0.001 x 9000023.58: no float on the way


def test_docs_book_example_with_leading_dot_prices() -> None:
    doc = load_fixture("docs_examples/ws_market_book.json")
    f = feed(doc["asset_id"])
    (ev,) = books(f.on_frame(json.dumps(doc), 1))
    assert ev.snapshot.best_bid == (500_000_000, 1_500_000_000)
    assert ev.snapshot.best_ask == (520_000_000, 2_500_000_000)


def test_frame_array_routes_each_entry_by_asset_id_and_agrees_with_best_bid_ask() -> None:
    frame = load_fixture("ws_market/frame_array__book_then_price_changes__capture_2026_TRIMMED.json")
    f = feed(A, B)
    # B has no book yet: its entries wait for its snapshot (which will include them).
    out = f.on_frame(json.dumps(frame), 10)
    assert [e.symbol for e in books(out)] == [A] * 5
    assert not [e for e in out if isinstance(e, Resync)]
    last = books(out)[-1].snapshot
    assert last.best_bid == (311_000_000, 200_000_000_000) and last.best_ask == (390_000_000, 476_500_000_000)
    assert f.tick_1e9(A) == 1_000_000  # the book carried tick_size "0.001"
    # Now both tokens: B's book is the mirror of A's (as the venue keeps them), then the same updates.
    fake = FakePolymarket.from_fixtures()
    g = feed(A, B)
    b_book = fake._book_event(fake.books[B])
    b_book["timestamp"] = frame[0]["timestamp"]
    out = g.on_frame(json.dumps([frame[0], b_book, *frame[1:]]), 20)
    assert not [e for e in out if isinstance(e, Resync)]
    by_symbol: dict[str, Any] = {}
    for e in books(out):
        by_symbol[e.symbol] = e.snapshot
    assert by_symbol[B].best_bid[0] == 610_000_000 and by_symbol[B].best_ask[0] == 689_000_000
    assert by_symbol[A].best_ask[0] == 390_000_000
    assert len(books(out)) == 2 + 2 * 4  # one change per token per message


def test_a_book_after_updates_replaces_the_book() -> None:
    frame = load_fixture("ws_market/frame_array__book_then_price_changes__capture_2026_TRIMMED.json")
    f = feed(A)
    f.on_frame(json.dumps(frame), 1)
    assert (311_000_000, 200_000_000_000) in f.book(A).levels(0, 50)
    replacement = {**frame[0], "timestamp": "1790658700000", "bids": [{"price": "0.2", "size": "7"}]}
    (ev,) = books(f.on_frame(json.dumps(replacement), 2))
    assert ev.snapshot.bids == ((200_000_000, 700_000_000),)
    assert ev.snapshot.best_ask == (397_000_000, 10_009_000_000)


def test_legacy_single_level_price_change_is_accepted() -> None:
    cap = load_fixture("ws_market/book__ws_capture_2024_asks_desc_bids_asc.json")
    legacy = load_fixture("ws_market/price_change__LEGACY_single_level_2024.json")
    f = feed(TRUMP_NO)
    f.on_frame(json.dumps({**cap, "timestamp": "1723967931000"}), 1)
    (ev,) = books(f.on_frame(json.dumps(legacy), 2))
    assert ev.snapshot.best_ask == (514_000_000, 2_157_408_000_000)  # SELL 0.514 set to 21574.08


def _synced(*symbols: str) -> tuple[PolymarketFeed, FakePolymarket]:
    fake = FakePolymarket.from_fixtures()
    f = feed(*symbols)
    for s in symbols:
        ev = fake._book_event(fake.books[s])
        ev["timestamp"] = "1000"
        f.on_frame(json.dumps(ev), 1)
    return f, fake


def change(token: str, side: str, price: str, size: str, best_bid: str, best_ask: str, ts: str) -> str:
    return json.dumps(
        {
            "market": "0x285746de0e4f751fd4dc8f9dc2cecd0101ba9ad0096a43145ed9643b09514f01",
            "price_changes": [
                {
                    "asset_id": token,
                    "price": price,
                    "size": size,
                    "side": side,
                    "hash": "h",
                    "best_bid": best_bid,
                    "best_ask": best_ask,
                }
            ],
            "timestamp": ts,
            "event_type": "price_change",
        }
    )


def test_an_update_that_disagrees_with_the_venues_top_is_a_gap_and_asks_for_a_snapshot() -> None:
    f, _ = _synced(A)
    # The venue says the best bid is 0.32 after setting 0.301: an update we never saw moved it.
    out = f.on_frame(change(A, "BUY", "0.301", "10", "0.32", "0.397", "2000"), 5)
    assert Resync("gap", (A,)) in out and not books(out)
    assert sent(out) == resubscription([A])
    assert not f.is_synced(A) and f.book(A).depth(0) == 0
    # Updates before the fresh snapshot are skipped; the snapshot brings the book back.
    assert f.on_frame(change(A, "BUY", "0.302", "10", "0.302", "0.397", "2001"), 6) == []
    fresh = {**load_fixture("ws_market/frame_array__book_then_price_changes__capture_2026_TRIMMED.json")[0]}
    fresh["timestamp"] = "2002"
    (ev,) = books(f.on_frame(json.dumps(fresh), 7))
    assert ev.snapshot.best_bid == (300_000_000, 500_000_000_000) and f.is_synced(A)


def test_an_update_older_than_one_applied_is_out_of_order() -> None:
    f, _ = _synced(A)
    assert books(f.on_frame(change(A, "BUY", "0.301", "10", "0.301", "0.397", "3000"), 2))
    out = f.on_frame(change(A, "BUY", "0.302", "10", "0.302", "0.397", "2999"), 3)
    assert Resync("out_of_order", (A,)) in out and not books(out)
    # Older than the snapshot with nothing applied since: the snapshot already has it, no resync.
    g, _ = _synced(A)
    assert g.on_frame(change(A, "BUY", "0.301", "10", "0.301", "0.397", "999"), 2) == []
    assert g.is_synced(A)


def test_crossed_books_are_dropped() -> None:
    f, _ = _synced(A)
    out = f.on_frame(change(A, "BUY", "0.5", "10", "0.5", "0.397", "2000"), 2)
    assert Resync("crossed", (A,)) in out
    cap = load_fixture("ws_market/book__ws_capture_2026_with_tick_size.json")
    g = feed(cap["asset_id"])
    crossed = {**cap, "bids": cap["bids"] + [{"price": "0.95", "size": "1"}]}
    assert Resync("crossed", (cap["asset_id"],)) in g.on_frame(json.dumps(crossed), 1)


def test_removing_a_level_with_size_zero() -> None:
    f, _ = _synced(A)
    out = f.on_frame(change(A, "SELL", "0.397", "0", "0.3", "0.398", "2000"), 2)
    (ev,) = books(out)
    assert ev.snapshot.best_ask == (398_000_000, 373_787_000_000)


def test_tick_size_change_reaches_the_consumer() -> None:
    cap = load_fixture("ws_market/tick_size_change__capture_2025.json")
    f = feed(cap["asset_id"])
    out = f.on_frame(json.dumps(cap), 1)
    assert out == [TickSizeChanged(cap["asset_id"], 10_000_000, 1_000_000)]
    assert f.tick_1e9(cap["asset_id"]) == 1_000_000
    assert f.on_frame(json.dumps(cap), 2) == []  # the same tick again changes nothing
    bad = {**cap, "new_tick_size": "-0.01"}
    assert Resync("malformed", (cap["asset_id"],)) in f.on_frame(json.dumps(bad), 3)


def test_last_trade_price_changes_no_book() -> None:
    cap = load_fixture("ws_market/last_trade_price__capture_2024.json")
    f = feed(cap["asset_id"])
    assert f.on_frame(json.dumps(cap), 1) == []
    assert f.last_trade[cap["asset_id"]] == (491_000_000, 8_536_000_000, 1724564136087)


@pytest.mark.parametrize(
    "name",
    [
        "best_bid_ask__custom_feature.json",
        "new_market__custom_feature.json",
        "market_resolved__custom_feature.json",
    ],
)
def test_custom_feature_events_are_tolerated(name: str) -> None:
    f, _ = _synced(A)
    assert f.on_frame(json.dumps(load_fixture(f"ws_market/{name}")), 2) == []


def test_text_frames() -> None:
    f, _ = _synced(A)
    assert f.on_frame("PONG", 1) == [] and f.pongs == 1
    assert f.on_frame("NO NEW ASSETS", 1) == []
    assert f.on_frame("INVALID OPERATION", 1) == [Reconnect("venue answered INVALID OPERATION")]
    assert isinstance(f.on_frame(b"\xff\xfe", 1)[0], Reconnect)


def test_malformed_json_resyncs_every_book() -> None:
    f, _ = _synced(A, B)
    out = f.on_frame('{"event_type": "book", "asset_id": ', 2)
    assert out[0] == Resync("malformed", (A, B)) and sent(out[1:]) == resubscription([A, B])
    assert not f.is_synced(A) and not f.is_synced(B)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda ev: ev["bids"].append({"price": "abc", "size": "1"}),
        lambda ev: ev["asks"].append({"price": "0.5"}),
        lambda ev: ev.__setitem__("bids", "none"),
        lambda ev: ev.pop("timestamp"),
        lambda ev: ev["bids"].append({"price": "1e-2", "size": "1"}),
        lambda ev: ev["bids"].append({"price": "-0.2", "size": "1"}),
        lambda ev: ev["bids"].append({"price": "0.2", "size": "0.000000001"}),
    ],
)
def test_a_bad_book_resyncs_that_token(mutate: Any) -> None:
    f, fake = _synced(A, B)
    ev = fake._book_event(fake.books[A])
    mutate(ev)
    out = f.on_frame(json.dumps(ev), 2)
    assert Resync("malformed", (A,)) in out and f.is_synced(B) and not f.is_synced(A)


def test_bad_price_change_entries() -> None:
    f, _ = _synced(A, B)
    for bad in (
        change(A, "HOLD", "0.301", "10", "0.301", "0.397", "2000"),
        change(A, "BUY", "0.3.1", "10", "0.301", "0.397", "2000"),
        json.dumps({"event_type": "price_change", "price_changes": "x", "timestamp": "2000"}),
        json.dumps({"event_type": "price_change", "price_changes": [1], "timestamp": "2000"}),
    ):
        g, _ = _synced(A, B)
        out = g.on_frame(bad, 2)
        assert any(isinstance(e, Resync) and e.reason == "malformed" for e in out), bad
    assert f.on_frame("[1, 2]", 3)[0].reason == "malformed"  # type: ignore[union-attr]


def test_never_raises_on_mutated_captures() -> None:
    rng = random.Random(12)
    frames = [
        json.dumps(load_fixture("ws_market/frame_array__book_then_price_changes__capture_2026_TRIMMED.json")),
        json.dumps(load_fixture("ws_market/book__ws_capture_2026_with_tick_size.json")),
        json.dumps(load_fixture("ws_market/tick_size_change__capture_2025.json")),
    ]
    f = feed(A, B, "350977769852917329387037893294763093471844346281449484439085576212613048126")
    for i in range(3000):
        text = rng.choice(frames)
        pos = rng.randrange(len(text))
        mutated = text[:pos] + rng.choice(['"', "}", "0", "-", "x", "", "]", ".", " "]) + text[pos + 1 :]
        for ev in f.on_frame(mutated, i):
            assert isinstance(ev, BookChanged | Send | Resync | Reconnect | TickSizeChanged)


def test_snapshot_timeouts() -> None:
    unknown = "1" * 70
    f = feed(A, unknown)
    f.on_frame(
        json.dumps(
            load_fixture("ws_market/frame_array__book_then_price_changes__capture_2026_TRIMMED.json")[0]
        ),
        1,
    )
    assert f.on_frame("PONG", 10 * S) == []  # within the limit
    out = f.on_frame("PONG", 17 * S)
    assert out[0] == Resync("no_snapshot", (unknown,)) and sent(out[1:]) == resubscription([unknown])
    assert f.on_frame("PONG", 20 * S) == []  # re-armed
    # A token that lost its book and gets no fresh snapshot: start over on a new connection.
    f.on_frame(change(A, "BUY", "0.301", "10", "0.9", "0.397", "1790658661235"), 21 * S)  # a gap
    assert f.on_frame("PONG", 30 * S) == []  # 9 s after the resync: still waiting
    out = f.on_frame("PONG", 37 * S)
    assert any(isinstance(e, Reconnect) for e in out)


def test_symbol_mapping_and_resubscription() -> None:
    f = PolymarketFeed(["POLY-A", "POLY-B"], ws_url="ws://x", token_ids={"POLY-A": A, "POLY-B": B})
    assert json.loads(f.on_open()[0])["assets_ids"] == [A, B]
    frame = load_fixture("ws_market/frame_array__book_then_price_changes__capture_2026_TRIMMED.json")
    assert books(f.on_frame(json.dumps(frame[0]), 1))[0].symbol == "POLY-A"
    assert f.token_id("POLY-B") == B and f.symbol_for(A) == "POLY-A" and f.symbol_for("9") is None
    f.symbols = ("POLY-B",)  # what FeedThread.set_symbols does before reconnecting
    assert json.loads(f.on_open()[0])["assets_ids"] == [B]


@pytest.mark.parametrize(
    ("text", "value"), [("0.52", 520_000_000), (".48", 480_000_000), ("1", S), ("0.0010", 1_000_000)]
)
def test_price_parser(text: str, value: int) -> None:
    assert parse_price_1e9(text) == value


@pytest.mark.parametrize("text", ["", ".", "-0.1", "+1", "1e-3", "0.1234567891", "١", None, 0.5, "0x1"])
def test_price_parser_refuses(text: Any) -> None:
    with pytest.raises(ValueError):
        parse_price_1e9(text)


def test_a_quiet_book_is_refreshed_without_counting_a_resync() -> None:
    f = feed(A)
    snap = load_fixture("ws_market/frame_array__book_then_price_changes__capture_2026_TRIMMED.json")[0]
    f.on_frame(json.dumps(snap), 1 * S)
    assert f.on_frame("PONG", 50 * S) == []
    out = f.on_frame("PONG", 62 * S)
    assert [type(e) for e in out] == [Send, Send] and f.refreshes == 1
    assert sent(out) == resubscription([A])
    assert f.on_frame("PONG", 70 * S) == []  # asked once per window
    (ev,) = books(f.on_frame(json.dumps({**snap, "timestamp": "1790658700000"}), 71 * S))
    assert ev.snapshot.ts_ns == 71 * S and f.on_frame("PONG", 120 * S) == []


@pytest.mark.parametrize("fault", ["gap", "crossed", "crossed_book", "out_of_order", "malformed"])
def test_every_resync_cycles_the_subscription(fault: str) -> None:
    """A subscribe alone for a token this connection already follows brings no book (the venue is
    reported to ignore duplicates): every resync sends unsubscribe, then subscribe with initial_dump,
    for exactly the tokens it dropped, right after the Resync."""
    f, fake = _synced(A, B)
    if fault == "gap":
        out = f.on_frame(change(A, "BUY", "0.301", "10", "0.32", "0.397", "2000"), 2)
    elif fault == "crossed":
        out = f.on_frame(change(A, "BUY", "0.5", "10", "0.5", "0.397", "2000"), 2)
    elif fault == "crossed_book":
        ev = fake._book_event(fake.books[A])
        ev["bids"] = ev["bids"] + [{"price": "0.99", "size": "1"}]
        out = f.on_frame(json.dumps(ev), 2)
    elif fault == "out_of_order":
        f.on_frame(change(A, "BUY", "0.301", "10", "0.301", "0.397", "3000"), 2)
        out = f.on_frame(change(A, "BUY", "0.302", "10", "0.302", "0.397", "2999"), 3)
    else:
        out = f.on_frame(change(A, "HOLD", "0.301", "10", "0.301", "0.397", "2000"), 2)
    reason = "crossed" if fault == "crossed_book" else fault
    assert [type(e) for e in out] == [Resync, Send, Send] and out[0] == Resync(reason, (A,))
    assert sent(out) == resubscription([A])
    assert f.is_synced(B) and not f.is_synced(A)


def test_a_resync_while_waiting_cycles_again_and_restarts_the_snapshot_clock() -> None:
    f, _ = _synced(A)
    out = f.on_frame(change(A, "BUY", "0.301", "10", "0.32", "0.397", "2000"), 5 * S)
    assert sent(out) == resubscription([A])
    out = f.on_frame('{"event_type": "book", "asset_id": ', 6 * S)  # malformed while waiting
    assert out[0] == Resync("malformed", (A,)) and sent(out[1:]) == resubscription([A])
    assert f.on_frame("PONG", 20 * S) == []  # 14 s after the last resync: still waiting
    assert any(isinstance(e, Reconnect) for e in f.on_frame("PONG", 21 * S))


def test_refresh_cycles_every_quiet_book_in_one_pair_of_frames() -> None:
    f, _ = _synced(A, B)
    out = f.on_frame("PONG", 62 * S)
    assert sent(out) == resubscription([A, B]) and f.refreshes == 2
    assert f.is_synced(A) and f.is_synced(B)  # a refresh drops nothing: the books stay as they are
