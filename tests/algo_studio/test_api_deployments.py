"""Contract of /v1/deployments (v2) and /v1/bundles, and their refusals."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.utils import timezone

from algo_studio.models import AlgoLog, AlgoTrace, Bundle, Deployment, DeploymentEdge, MetricSample

LIST_FIELDS = {"deployment_id", "name", "symbols", "size_bytes", "desired_state", "edges"}


def create(api, wasm_b64, symbols=("ETH-USDC", "BTC-USDC"), key=None, **extra):
    body = {"symbols": list(symbols), "name": "My MM", "wasm_base64": wasm_b64, **extra}
    return api.post("/v1/deployments", json=body, key=key)


def test_create_list_get(api, sandbox_edges, wasm_b64, wasm):
    status, body = create(api, wasm_b64, venue="kraken")
    assert status == 201
    dep_id = body["deployment_id"]
    assert dep_id.startswith("dep_") and len(dep_id) == 40
    assert body["symbols"] == ["ETH-USDC", "BTC-USDC"]  # hyphen form, the user's order
    assert body["pushed_to"] == 1 and body["capable_edges"] == 1
    assert body["desired_state"] == "stopped" and body["size_bytes"] == len(wasm)

    status, body = api.get("/v1/deployments")
    assert status == 200
    (listed,) = body["deployments"]
    assert set(listed) >= LIST_FIELDS
    assert {(e["edge_id"], e["symbol"], e["status"]) for e in listed["edges"]} == {
        ("venue-edge-kraken", "ETH-USDC", "pending"),
        ("venue-edge-kraken", "BTC-USDC", "pending"),
    }
    status, detail = api.get(f"/v1/deployments/{dep_id}")
    assert status == 200 and detail["deployment_id"] == dep_id
    edge = detail["edges"][0]
    assert {"deploy_id", "position_1e8", "callback_latency_ns", "update_count", "last_heartbeat"} <= set(edge)


def test_v1_and_v2_are_one_model(api, sandbox_edges, wasm_b64):
    status, body = create(api, wasm_b64, symbols=["XRP-USD"])
    assert api.get("/v1/algos")[1]["algos"][0]["symbol"] == "XRP/USD"
    assert api.post("/v1/algos/XRP-USD/start")[0] == 200
    assert api.get(f"/v1/deployments/{body['deployment_id']}")[1]["desired_state"] == "running"


def test_rename_start_stop_with_venue(api, sandbox_edges, wasm_b64):
    dep_id = create(api, wasm_b64)[1]["deployment_id"]
    status, body = api.patch(f"/v1/deployments/{dep_id}", json={"name": "New Name"})
    assert status == 200 and body["name"] == "New Name"
    status, body = api.post(f"/v1/deployments/{dep_id}/start?venue=coinbase")
    assert (status, body) == (
        200,
        {"deployment_id": dep_id, "desired_state": "running", "edges_notified": 2, "warnings": []},
    )
    states = set(DeploymentEdge.objects.values_list("edge__venue", "desired_state"))
    assert states == {("kraken", "stopped"), ("coinbase", "running")}
    status, body = api.post(f"/v1/deployments/{dep_id}/stop")
    assert body["edges_notified"] == 4
    assert set(DeploymentEdge.objects.values_list("desired_state", flat=True)) == {"stopped"}


def test_rename_to_spaces_clears_the_name(api, sandbox_edges, wasm_b64):
    # As the dashboard's rename does: one clean-up in services.deployment_rename.
    dep_id = create(api, wasm_b64)[1]["deployment_id"]
    assert api.patch(f"/v1/deployments/{dep_id}", json={"name": "  Named  "})[1]["name"] == "Named"
    status, body = api.patch(f"/v1/deployments/{dep_id}", json={"name": "   "})
    assert status == 200 and body["name"] is None
    assert Deployment.objects.get().name is None


def test_delete_is_soft_and_removes_logs(api, sandbox_edges, wasm_b64):
    dep_id = create(api, wasm_b64)[1]["deployment_id"]
    deployment = Deployment.objects.get()
    AlgoLog.objects.create(
        deployment=deployment, edge_id="e", symbol="ETH/USDC", ts_ns=1, level="INFO", message="x"
    )
    assert api.delete(f"/v1/deployments/{dep_id}") == (200, {"deployment_id": dep_id, "deleted": True})
    deployment.refresh_from_db()
    assert deployment.deleted_at is not None  # soft: the row stays
    assert not AlgoLog.objects.exists()
    assert api.get("/v1/deployments")[1] == {"deployments": []}
    assert api.get(f"/v1/deployments/{dep_id}")[0] == 404
    status, body = api.post(f"/v1/deployments/{dep_id}/start")
    assert status == 404 and body["error"] == "not_found"


def test_logs_and_traces(api, sandbox_edges, wasm_b64):
    dep_id = create(api, wasm_b64)[1]["deployment_id"]
    deployment = Deployment.objects.get()
    AlgoLog.objects.create(deployment=deployment, edge_id="venue-edge-kraken", symbol="ETH/USDC", ts_ns=1_710_700_000_000_000_000,
                           level="INFO", message="BUY: trip=1 order=5001 @$1.800")  # fmt: skip
    for kind in ("on_book", "on_fill", "on_book"):
        AlgoTrace.objects.create(deployment=deployment, edge_id="venue-edge-kraken", symbol="ETH/USDC", callback_type=kind,
                                 ts_ns=1, latency_ns=38000, input={"book": {}}, output={"actions": ["cancel_all"]})  # fmt: skip
    status, body = api.get(f"/v1/deployments/{dep_id}/logs")
    assert status == 200
    assert body["logs"] == [{"ts_ns": 1_710_700_000_000_000_000, "level": "INFO", "message": "BUY: trip=1 order=5001 @$1.800",
                             "edge_id": "venue-edge-kraken", "symbol": "ETH-USDC"}]  # fmt: skip
    status, body = api.get(f"/v1/deployments/{dep_id}/traces?type=on_fill")
    assert status == 200 and [t["callback_type"] for t in body["traces"]] == ["on_fill"]
    trace = body["traces"][0]
    assert set(trace) == {
        "callback_type",
        "symbol",
        "ts_ns",
        "latency_ns",
        "edge_id",
        "input",
        "output",
        "logs",
    }
    assert len(api.get(f"/v1/deployments/{dep_id}/traces?limit=2")[1]["traces"]) == 2
    assert api.get(f"/v1/deployments/{dep_id}/traces?type=on_timer")[0] == 400
    assert api.get(f"/v1/deployments/{dep_id}/traces?limit=0")[0] == 400


def test_metrics_are_real_bucketed_aggregates(api, sandbox_edges, wasm_b64):
    dep_id = create(api, wasm_b64)[1]["deployment_id"]
    deployment = Deployment.objects.get()
    base = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=10)
    samples = [
        # minute 0: two samples on kraken (last one counts), one on coinbase
        ("venue-edge-kraken", 5, 100, 10, 1000, 1),
        ("venue-edge-kraken", 35, 200, 20, 3000, 2),
        ("venue-edge-coinbase", 40, 50, 5, 2000, 4),
        # minute 2
        ("venue-edge-kraken", 125, 300, 30, 6000, 5),
    ]
    for edge_id, offset, pos, pnl, latency, fills in samples:
        MetricSample.objects.create(deployment=deployment, edge_id=edge_id, symbol="ETH/USDC", ts=base + timedelta(seconds=offset),
                                    position_1e8=pos, realized_pnl_1e9=pnl, unrealized_pnl_1e9=-pnl, callback_latency_ns=latency,
                                    fill_count=fills)  # fmt: skip
    start = int(base.timestamp())
    status, body = api.get(f"/v1/deployments/{dep_id}/metrics?from={start}&to={start + 600}&interval=1m")
    assert status == 200
    assert body["series"] == [
        {"ts": start, "position_1e8": 250, "realized_pnl_1e9": 25, "unrealized_pnl_1e9": -25, "callback_latency_ns": 2000,
         "fill_count": 6},
        {"ts": start + 120, "position_1e8": 300, "realized_pnl_1e9": 30, "unrealized_pnl_1e9": -30, "callback_latency_ns": 6000,
         "fill_count": 5},
    ]  # fmt: skip
    iso = base.isoformat().replace("+00:00", "Z")
    status, body = api.get(
        f"/v1/deployments/{dep_id}/metrics?from={iso}&to={start + 600}&interval=5m&edge_id=venue-edge-coinbase"
    )
    assert body["series"] == [{"ts": start, "position_1e8": 50, "realized_pnl_1e9": 5, "unrealized_pnl_1e9": -5,
                               "callback_latency_ns": 2000, "fill_count": 4}]  # fmt: skip


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("from=0&to=100&interval=1x", "Bad interval"),
        ("from=0&to=100&interval=0m", "Bad interval"),
        ("from=yesterday&to=100&interval=1m", "Bad from"),
        ("from=100&to=50&interval=1m", "after"),
        ("from=0&to=100000000&interval=1s", "over 5000 points"),
        ("to=100&interval=1m", "from"),
    ],
)
def test_bad_metrics_queries(api, sandbox_edges, wasm_b64, query, fragment):
    dep_id = create(api, wasm_b64)[1]["deployment_id"]
    status, body = api.get(f"/v1/deployments/{dep_id}/metrics?{query}")
    assert status == 400 and fragment in body["message"]


def test_symbol_already_deployed_is_409_and_changes_nothing(api, sandbox_edges, wasm_b64):
    create(api, wasm_b64, symbols=["ETH-USDC"])
    status, body = create(api, wasm_b64, symbols=["BTC-USDC", "ETH/USDC"])
    assert status == 409 and "ETH/USDC is already deployed by dep_" in body["message"]
    assert Deployment.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"symbols": []}, "symbols is empty"),
        ({"symbols": ["ETH-USDC"]}, "exactly one of wasm_base64 or bundle_id"),
        ({"symbols": ["ETH-USDC"], "wasm_base64": "AGFzbQEAAAA=", "bundle_id": "bun_x"}, "exactly one"),
        ({"symbols": ["ETH-USDC"], "bundle_id": "bun_nope"}, "Bundle bun_nope not found"),
        ({"symbols": ["ETH USDC!"], "wasm_base64": "AGFzbQEAAAA="}, "Bad symbol"),
        ({"symbols": "ETH-USDC", "wasm_base64": "AGFzbQEAAAA="}, "symbols"),
    ],
)
def test_bad_create_input(api, sandbox_edges, payload, fragment):
    status, body = api.post("/v1/deployments", json=payload)
    assert status in (400, 404) and fragment in body["message"], body
    assert not Deployment.objects.exists()


def test_unknown_and_malformed_deployment_ids_are_404(api, sandbox_edges):
    for dep_id in ("dep_00000000-0000-0000-0000-000000000000", "dep_garbage", "x"):
        status, body = api.get(f"/v1/deployments/{dep_id}")
        assert status == 404 and body["error"] == "not_found"


def test_other_client_and_mode_get_404_and_change_nothing(
    api, sandbox_edges, live_edges, wasm_b64, stranger_sandbox_key, live_key
):
    dep_id = create(api, wasm_b64)[1]["deployment_id"]
    for key in (stranger_sandbox_key.plaintext, live_key.plaintext):
        assert api.get("/v1/deployments", key=key)[1] == {"deployments": []}
        for method, path in [("get", ""), ("post", "/start"), ("post", "/stop"), ("get", "/logs"), ("get", "/traces"),
                             ("delete", "")]:  # fmt: skip
            assert api.request(method.upper(), f"/v1/deployments/{dep_id}{path}", key=key)[0] == 404
        assert api.patch(f"/v1/deployments/{dep_id}", json={"name": "pwned"}, key=key)[0] == 404
    deployment = Deployment.objects.get()
    assert deployment.name == "My MM" and deployment.deleted_at is None
    assert set(DeploymentEdge.objects.values_list("desired_state", flat=True)) == {"stopped"}


def test_bundles(api, sandbox_edges, wasm_b64, wasm, stranger_sandbox_key):
    status, body = api.post("/v1/bundles", json={"name": "mm v1", "wasm_base64": wasm_b64})
    assert status == 201 and body["bundle_id"].startswith("bun_") and body["size_bytes"] == len(wasm)
    bundle_id = body["bundle_id"]
    assert [b["bundle_id"] for b in api.get("/v1/bundles")[1]["bundles"]] == [bundle_id]
    assert api.get("/v1/bundles", key=stranger_sandbox_key.plaintext)[1] == {"bundles": []}
    status, body = api.post("/v1/deployments", json={"symbols": ["ETH-USDC"], "bundle_id": bundle_id})
    assert status == 201 and body["sha256"] == Bundle.objects.get().artifact.sha256
    # another client cannot deploy my bundle
    status, body = api.post("/v1/deployments", json={"symbols": ["BTC-USDC"], "bundle_id": bundle_id},
                            key=stranger_sandbox_key.plaintext)  # fmt: skip
    assert status == 404
    assert api.delete(f"/v1/bundles/{bundle_id}") == (200, {"bundle_id": bundle_id, "deleted": True})
    assert api.get("/v1/bundles")[1] == {"bundles": []}
    assert api.get("/v1/deployments")[1]["deployments"][0]["sha256"]  # the deployment keeps running
    assert api.delete(f"/v1/bundles/{bundle_id}")[0] == 404
    assert api.post("/v1/bundles", json={"wasm_base64": base64.b64encode(b"nope").decode()})[0] == 400
