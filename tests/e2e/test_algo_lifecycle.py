"""Issue 4's end-to-end run with real processes: daphne (HTTP API), a Celery worker and a sim edge.

deploy -> start -> fills and logs appear -> stop -> restart the edge process -> still stopped ->
start -> delete -> logs gone. Driven through the public HTTP API with the SDK's own client.
"""

from __future__ import annotations

import base64
import time

import pytest

from sequence_markets.client import Sequence, SequenceError
from tests.edges.conftest import wait_for

pytestmark = pytest.mark.slow


def edge_row(client: Sequence) -> dict:
    rows = client.request("GET", "/algos", params={"detail": "edge"})["edges"]
    assert len(rows) == 1
    return rows[0]


def test_algo_lifecycle_end_to_end(
    daphne, celery_worker_process, edge_process, sandbox_key, market_maker_wasm
):
    edge = edge_process("coinbase")
    client = Sequence(sandbox_key.plaintext, daphne)
    deployed = client.request("POST", "/algos/deploy", json_body={
        "symbol": "ETH-USD", "wasm_base64": base64.b64encode(market_maker_wasm).decode()})  # fmt: skip
    assert deployed["status"] == "deployed (pushed to 1/1 capable edges) - stopped (click Start to begin)"
    wait_for(lambda: edge_row(client)["status"] == "accepted", what="the edge to accept the algo")

    assert client.request("POST", "/algos/ETH-USD/start") == {
        "symbol": "ETH/USD",
        "status": "running",
        "edges_notified": 1,
        "warnings": [],  # the market maker's orders pass Coinbase's rules in the dry run
    }
    wait_for(lambda: edge_row(client)["status"] == "running", what="running")
    wait_for(lambda: client.request("GET", "/algos/ETH-USD/stats")["fills"] > 0, timeout=30, what="a fill")
    logs = client.request("GET", "/algos/ETH-USD/logs")["logs"]
    assert any("FILL: order=" in line["message"] for line in logs)
    assert all(isinstance(line["ts_ns"], int) and line["ts_ns"] > 1_700_000_000 * 10**9 for line in logs)

    assert client.request("POST", "/algos/ETH-USD/stop")["status"] == "stopped"
    wait_for(lambda: edge_row(client)["status"] == "accepted", what="stopped on the edge")
    stopped_updates = edge_row(client)["update_count"]
    assert stopped_updates > 0

    edge.stop()
    stopped_at = time.time()
    edge = edge_process("coinbase")
    # last_heartbeat is in whole seconds and the old process reported up to the moment it stopped,
    # possibly within the same second: only a later second proves the report is the new process's.
    wait_for(
        lambda: (edge_row(client)["last_heartbeat"] or 0) > int(stopped_at),
        what="the restarted edge reports",
    )
    row = edge_row(client)
    # Still stopped after the restart, and its counters continue where they were (never backwards).
    assert row["status"] == "accepted" and row["update_count"] == stopped_updates

    client.request("POST", "/algos/ETH-USD/start")
    wait_for(
        lambda: (
            edge_row(client)["status"] == "running" and edge_row(client)["update_count"] > stopped_updates
        ),
        what="running again",
    )

    assert client.request("DELETE", "/algos/ETH-USD") == {"symbol": "ETH/USD", "deleted": True}
    assert client.request("GET", "/algos") == {"algos": []}
    with pytest.raises(SequenceError) as missing:
        client.request("GET", "/algos/ETH-USD/logs")
    assert missing.value.status == 404
    from algo_studio.models import AlgoLog

    time.sleep(1.0)  # a late batch from the edge must not bring logs back
    assert not AlgoLog.objects.exists()
