"""Contract of /v1/algos (the per-symbol face), field by field against the spec, and its refusals."""

from __future__ import annotations

import base64

import pytest

from algo_studio.models import (
    AlgoLog,
    AlgoTrace,
    Deployment,
    DeploymentEdge,
    DeploymentTransition,
    MetricSample,
    WasmArtifact,
)

ALGO_FIELDS = {"symbol", "size_bytes", "modified_at", "status"}
EDGE_FIELDS = {
    "symbol", "edge_id", "deploy_id", "status", "size_bytes", "deployed_at", "last_heartbeat", "pause_reason",
    "position_1e8", "realized_pnl_1e9", "session_realized_pnl_1e9", "unrealized_pnl_1e9", "callback_latency_ns",
    "update_count",
}  # fmt: skip


# The scripted algo sends 0.01 XRP: under Kraken's minimum of 2, within Coinbase's rules.
KRAKEN_XRP_WARNING = (
    "XRP-USD on kraken: the venue would refuse 1 order of the algo's 30-second dry run on a "
    "simulated book: BELOW_MIN_QTY: 0.01 < kraken min 2"
)


def deploy(api, wasm_b64, symbol="XRP-USD", key=None, **extra):
    return api.post("/v1/algos/deploy", json={"symbol": symbol, "wasm_base64": wasm_b64, **extra}, key=key)


def test_deploy_is_stopped_by_default(api, sandbox_edges, wasm_b64, wasm):
    status, body = deploy(api, wasm_b64)
    assert status == 200
    assert body == {
        "symbol": "XRP/USD",
        "size_bytes": len(wasm),
        "status": "deployed (pushed to 2/2 capable edges) - stopped (click Start to begin)",
        "paused": True,
        "pushed_to": 2,
        "capable_edges": 2,
        "warnings": [KRAKEN_XRP_WARNING],
    }
    rows = DeploymentEdge.objects.all()
    assert {r.edge.venue for r in rows} == {"kraken", "coinbase"}
    assert {r.desired_state for r in rows} == {"stopped"}
    assert DeploymentTransition.objects.get().action == "deploy"


def test_deploy_start_immediately_and_venue(api, sandbox_edges, wasm_b64):
    status, body = deploy(api, wasm_b64, symbol="BTC/USD", start_immediately=True, venue="kraken")
    assert status == 200
    assert body["status"] == "deployed (pushed to 1/1 capable edges) - running"
    assert body["paused"] is False and body["pushed_to"] == 1
    assert set(DeploymentEdge.objects.values_list("desired_state", "edge__venue")) == {("running", "kraken")}


def test_list_and_detail_edge(api, sandbox_edges, wasm_b64, wasm):
    deploy(api, wasm_b64, symbol="eth-usd")
    status, body = api.get("/v1/algos")
    assert status == 200 and set(body) == {"algos"}
    (algo,) = body["algos"]
    assert set(algo) == ALGO_FIELDS
    assert algo["symbol"] == "ETH/USD" and algo["size_bytes"] == len(wasm) and algo["status"] == "pending"
    assert isinstance(algo["modified_at"], int)

    status, body = api.get("/v1/algos?detail=edge")
    assert status == 200 and set(body) == {"algos", "edges"}
    assert len(body["edges"]) == 2
    for row in body["edges"]:
        assert set(row) >= EDGE_FIELDS
        assert row["symbol"] == "ETH/USD" and row["status"] == "pending" and row["pause_reason"] is None
        assert row["edge_id"] in {"venue-edge-kraken", "venue-edge-coinbase"}
        assert len(row["deploy_id"]) == 36


def test_start_and_stop_by_symbol_in_any_spelling(api, sandbox_edges, wasm_b64):
    deploy(api, wasm_b64, symbol="XRP/USD")
    status, body = api.post("/v1/algos/XRP%2FUSD/start")
    assert (status, body) == (
        200,
        {"symbol": "XRP/USD", "status": "running", "edges_notified": 2, "warnings": [KRAKEN_XRP_WARNING]},
    )
    assert set(DeploymentEdge.objects.values_list("desired_state", flat=True)) == {"running"}
    status, body = api.post("/v1/algos/xrp-usd/stop?venue=kraken")
    assert (status, body) == (
        200,
        {"symbol": "XRP/USD", "status": "stopped", "edges_notified": 1, "warnings": []},
    )
    assert dict(DeploymentEdge.objects.values_list("edge__venue", "desired_state")) == {
        "kraken": "stopped",
        "coinbase": "running",
    }
    actions = list(DeploymentTransition.objects.values_list("action", "venue", "edges_notified"))
    assert actions == [("deploy", None, 2), ("start", None, 2), ("stop", "kraken", 1)]


def test_aggregate_status_follows_the_edges(api, sandbox_edges, wasm_b64):
    deploy(api, wasm_b64, symbol="XRP/USD")
    rows = list(DeploymentEdge.objects.all())
    DeploymentEdge.objects.update(applied_generation=1, status="accepted")
    assert api.get("/v1/algos")[1]["algos"][0]["status"] == "accepted"
    DeploymentEdge.objects.filter(pk=rows[0].pk).update(status="running")
    assert api.get("/v1/algos")[1]["algos"][0]["status"] == "running"
    DeploymentEdge.objects.filter(pk=rows[1].pk).update(status="paused", pause_reason="wasm trap in on_book")
    status, body = api.get("/v1/algos?detail=edge")
    assert body["algos"][0]["status"] == "paused"
    assert "wasm trap in on_book" in {row["pause_reason"] for row in body["edges"]}


def test_logs_newest_window_oldest_first_with_edge_filter(api, sandbox_edges, wasm_b64):
    deploy(api, wasm_b64, symbol="XRP/USD")
    deployment = Deployment.objects.get()
    AlgoLog.objects.bulk_create(
        AlgoLog(deployment=deployment, edge_id="venue-edge-kraken" if i % 2 else "venue-edge-coinbase",
                symbol="XRP/USD", ts_ns=1_705_420_800_000_000_000 + i, level="INFO", message=f"line {i}")
        for i in range(150)
    )  # fmt: skip
    status, body = api.get("/v1/algos/XRP-USD/logs")
    assert status == 200 and body["symbol"] == "XRP/USD"
    assert len(body["logs"]) == 100
    assert body["logs"][0]["message"] == "line 50" and body["logs"][-1]["message"] == "line 149"
    assert set(body["logs"][0]) == {"ts_ns", "level", "message"}
    status, body = api.get("/v1/algos/XRP-USD/logs?edge_id=venue-edge-kraken")
    assert len(body["logs"]) == 75 and all(int(line["message"].split()[1]) % 2 for line in body["logs"])


def test_stats(api, sandbox_edges, wasm_b64):
    deploy(api, wasm_b64, symbol="XRP/USD")
    DeploymentEdge.objects.update(position_1e8=150_000_000, realized_pnl_1e9=1_500_000_000, unrealized_pnl_1e9=-500_000_000,
                                  order_count=10, fill_count=4, reject_count=1, trade_count=2)  # fmt: skip
    status, body = api.get("/v1/algos/XRP%2FUSD/stats")
    assert status == 200
    assert body == {
        "symbol": "XRP/USD", "status": "pending", "position": 3.0, "pnl": 2.0, "trades": 4, "orders": 20,
        "fills": 8, "rejects": 2, "uptime_secs": 0,
    }  # fmt: skip


def test_delete_removes_logs_traces_metrics_and_frees_the_symbol(api, sandbox_edges, wasm_b64):
    deploy(api, wasm_b64, symbol="XRP/USD")
    deployment = Deployment.objects.get()
    AlgoLog.objects.create(
        deployment=deployment, edge_id="e", symbol="XRP/USD", ts_ns=1, level="INFO", message="x"
    )
    AlgoTrace.objects.create(deployment=deployment, edge_id="e", symbol="XRP/USD", callback_type="on_book", ts_ns=1,
                             latency_ns=1)  # fmt: skip
    from django.utils import timezone

    MetricSample.objects.create(deployment=deployment, edge_id="e", symbol="XRP/USD", ts=timezone.now(), position_1e8=0,
                                realized_pnl_1e9=0, unrealized_pnl_1e9=0, callback_latency_ns=0, fill_count=0)  # fmt: skip
    status, body = api.delete("/v1/algos/XRP-USD")
    assert (status, body) == (200, {"symbol": "XRP/USD", "deleted": True})
    assert (
        not AlgoLog.objects.exists() and not AlgoTrace.objects.exists() and not MetricSample.objects.exists()
    )
    assert set(DeploymentEdge.objects.values_list("removed", flat=True)) == {True}
    assert api.get("/v1/algos")[1] == {"algos": []}
    assert api.get("/v1/algos/XRP-USD/logs")[0] == 404
    assert deploy(api, wasm_b64, symbol="XRP/USD")[0] == 200  # the symbol is free again


def test_redeploy_replaces_the_artifact(api, sandbox_edges, wasm_b64):
    deploy(api, wasm_b64, symbol="XRP/USD", start_immediately=True)
    from tests.edges.conftest import scripted_algo

    other = base64.b64encode(scripted_algo(log=False)).decode()
    status, body = deploy(api, other, symbol="XRP/USD")
    assert status == 200 and body["paused"] is True
    deployment = Deployment.objects.get()
    assert bytes(deployment.artifact.wasm) == base64.b64decode(other)
    assert set(DeploymentEdge.objects.values_list("desired_state", flat=True)) == {"stopped"}
    assert list(DeploymentTransition.objects.values_list("action", flat=True)) == ["deploy", "redeploy"]


# -- refusals: each is a 4xx with the JSON error shape, and changes nothing ----------------------


def assert_error(result, status, fragment):
    code, body = result
    assert code == status, body
    assert set(body) >= {"error", "message", "status"} and body["status"] == status
    assert fragment.lower() in body["message"].lower()


def test_no_capable_edge_is_400(api, db, wasm_b64):
    assert_error(deploy(api, wasm_b64), 400, "No algo-capable sandbox edges are connected")
    assert not Deployment.objects.exists() and not WasmArtifact.objects.exists()


def test_sandbox_key_does_not_see_live_edges(api, live_edges, wasm_b64):
    assert_error(deploy(api, wasm_b64), 400, "No algo-capable sandbox edges")


def test_live_key_deploys_to_live_edges_only(api, sandbox_edges, live_edges, live_key, wasm_b64):
    status, body = deploy(api, wasm_b64, key=live_key.plaintext)
    assert status == 200 and body["pushed_to"] == 2
    assert set(DeploymentEdge.objects.values_list("edge__is_sandbox", flat=True)) == {False}


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"symbol": "XRP-USD", "wasm_base64": "%%% not base64"}, "not valid base64"),
        ({"symbol": "XRP-USD", "wasm_base64": ""}, "empty"),
        ({"symbol": "XRP-USD", "wasm_base64": base64.b64encode(b"\0" * (1024 * 1024 + 1)).decode()}, "1 MiB"),
        ({"symbol": "XRP-USD", "wasm_base64": base64.b64encode(b"hello").decode()}, "Invalid algo"),
        ({"symbol": "not a symbol", "wasm_base64": "AGFzbQEAAAA="}, "Bad symbol"),
        ({"symbol": "XRP-USD"}, "wasm_base64"),
        ({"symbol": "XRP-USD", "wasm_base64": "AGFzbQEAAAA=", "venue": "nasdaq"}, "Unknown venue"),
    ],
)
def test_bad_deploy_input_is_400_and_stores_nothing(api, sandbox_edges, payload, fragment):
    # An oversize module is a 413 (with its size), every other mistake a 400.
    status = 413 if fragment == "1 MiB" else 400
    assert_error(api.post("/v1/algos/deploy", json=payload), status, fragment)
    assert not Deployment.objects.exists() and not WasmArtifact.objects.exists()


def test_wasi_module_is_refused_with_the_import_named(api, sandbox_edges):
    from tests.edges.conftest import wat

    wasi = wat("""(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1) (func (export "on_book") (param i64 i64 i64 i64 i64)))""")
    result = deploy(api, base64.b64encode(wasi).decode())
    assert_error(result, 400, "wasi_snapshot_preview1::fd_write")


def test_unknown_symbol_is_404(api, sandbox_edges):
    for method, path in [("post", "/v1/algos/BTC-USD/start"), ("post", "/v1/algos/BTC-USD/stop"),
                         ("get", "/v1/algos/BTC-USD/logs"), ("get", "/v1/algos/BTC-USD/stats"),
                         ("delete", "/v1/algos/BTC-USD")]:  # fmt: skip
        assert_error(getattr(api, method)(path), 404, "No algo deployed on BTC/USD")


def test_bad_symbol_in_path_is_400(api, sandbox_edges):
    assert_error(api.post("/v1/algos/!!!/start"), 400, "Bad symbol")


def test_other_client_and_other_mode_cannot_see_or_touch(api, sandbox_edges, live_edges, wasm_b64,
                                                         stranger_sandbox_key, live_key):  # fmt: skip
    deploy(api, wasm_b64, symbol="XRP/USD")
    for key in (stranger_sandbox_key.plaintext, live_key.plaintext):
        assert api.get("/v1/algos", key=key)[1] == {"algos": []}
        assert api.post("/v1/algos/XRP-USD/start", key=key)[0] == 404
        assert api.delete("/v1/algos/XRP-USD", key=key)[0] == 404
        assert api.get("/v1/algos/XRP-USD/logs", key=key)[0] == 404
    assert set(DeploymentEdge.objects.values_list("desired_state", flat=True)) == {"stopped"}
    assert Deployment.objects.filter(deleted_at__isnull=True).count() == 1


def test_live_and_sandbox_same_symbol_are_separate(api, sandbox_edges, live_edges, wasm_b64, live_key):
    assert deploy(api, wasm_b64, symbol="XRP/USD")[0] == 200
    assert deploy(api, wasm_b64, symbol="XRP/USD", key=live_key.plaintext)[0] == 200
    api.post("/v1/algos/XRP-USD/start", key=live_key.plaintext)
    states = dict(
        DeploymentEdge.objects.filter(edge__venue="kraken").values_list("edge__is_sandbox", "desired_state")
    )
    assert states == {True: "stopped", False: "running"}


def test_venue_filter_that_matches_nothing_is_400(api, sandbox_edges, wasm_b64):
    deploy(api, wasm_b64, symbol="XRP/USD", venue="kraken")
    assert_error(api.post("/v1/algos/XRP-USD/start?venue=coinbase"), 400, "on no edge on venue coinbase")


def test_symbol_no_edge_trades_is_400(api, sandbox_edges, wasm_b64):
    assert_error(deploy(api, wasm_b64, symbol="DOGE/USD"), 400, "No connected sandbox edge trades DOGE/USD")
    # The error lists what the connected edges do trade.
    _, body = deploy(api, wasm_b64, symbol="DOGE/USD")
    assert "Tradable on connected sandbox edges: " in body["message"] and "ETH/USD" in body["message"]


def test_unauthenticated_is_401(anon_api, sandbox_edges):
    assert anon_api.get("/v1/algos")[0] == 401
