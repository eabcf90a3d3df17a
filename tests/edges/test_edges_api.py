"""GET /v1/edges: the key's mode only, each edge's feed and feed health."""

from __future__ import annotations

from edges import services


def test_lists_the_modes_edges_with_their_feed(api, anon_api, live_key) -> None:
    live_feed = services.edge_register(
        edge_id="venue-edge-kraken", venue="kraken", is_sandbox=True, symbols=["BTC/USD"], feed="live"
    )
    services.edge_report(
        edge=live_feed,
        reports=[],
        feed_status={"feed": "live", "state": "connected", "reconnects": 2, "resyncs": {"checksum": 1}},
    )
    services.edge_register(
        edge_id="venue-edge-coinbase", venue="coinbase", is_sandbox=True, symbols=["ETH/USD"]
    )
    services.edge_register(edge_id="venue-edge-kraken", venue="kraken", is_sandbox=False, symbols=["BTC/USD"])

    status, body = api.get("/v1/edges")
    assert status == 200
    rows = {e["edge_id"]: e for e in body["edges"]}
    assert set(rows) == {"venue-edge-kraken", "venue-edge-coinbase"}
    kraken = rows["venue-edge-kraken"]
    assert kraken["mode"] == "sandbox" and kraken["feed"] == "live" and kraken["connected"]
    assert kraken["feed_status"]["reconnects"] == 2 and kraken["feed_status"]["resyncs"] == {"checksum": 1}
    assert rows["venue-edge-coinbase"]["feed"] == "sim"

    status, body = api.get("/v1/edges", key=live_key.plaintext)
    assert status == 200 and [e["mode"] for e in body["edges"]] == ["live"]

    status, body = anon_api.get("/v1/edges")
    assert status == 401 and body["error"]
