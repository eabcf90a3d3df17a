"""examples/strategies/prediction_smoke runs unchanged as a hosted strategy in sandbox: deployed
through `strategies.services` with the SDK vendored as the CLI does, claimed by a real Celery
runner, talking to a real daphne, with real kalshi and polymarket edges behind it."""

from __future__ import annotations

import io
import json
import tarfile
import tomllib
from pathlib import Path

import pytest

from sequence_site.scope import Scope
from strategies import services as strategy_services
from strategies.models import Strategy, StrategyLog, StrategyRun
from tests.edges.conftest import wait_for
from trading.lifecycle import GraphStatus, NodeStatus
from trading.models import Fill, Graph, Node

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples/strategies/prediction_smoke"

pytestmark = pytest.mark.slow


def artifact() -> bytes:
    files = {p.name: p.read_bytes() for p in EXAMPLE.iterdir() if p.is_file()}
    for name in ("__init__.py", "client.py", "ws.py"):  # vendored, as `sequence strategy deploy` does
        files[f"sequence_markets/{name}"] = (REPO / "sequence_markets" / name).read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_prediction_smoke_runs_hosted_and_ends_with_done(
    daphne, edge_process, strategy_runner, settings, owner, sandbox_key
):
    settings.SEQUENCE_PUBLIC_API_URL = daphne
    edge_process("kalshi", "polymarket")
    toml = tomllib.loads((EXAMPLE / "Sequence.toml").read_text())
    result = strategy_services.strategy_deploy(
        scope=Scope(client=owner, is_sandbox=True, api_key=sandbox_key.api_key),
        name=toml["strategy"]["name"],
        artifact=artifact(),
        entrypoint=toml["hosted"]["entrypoint"],
        latency_target=toml["hosted"]["placement"]["latency_target"],
        sequence_api_key=sandbox_key.plaintext,
        start=True,
    )
    strategy = result.strategy

    def finished():
        run = StrategyRun.objects.filter(strategy=strategy, ended_at__isnull=False).first()
        return run

    run = wait_for(finished, timeout=180, what="the hosted run to end")
    lines = [json.loads(line) for line in StrategyLog.objects.filter(run=run).order_by("seq").values_list("line", flat=True)
             if line.startswith("{")]  # fmt: skip
    events = [rec["event"] for rec in lines]
    assert run.exit_code == 0, (run.reason, lines[-5:])
    assert events[-1] == "done", events
    assert Strategy.objects.get(pk=strategy.pk).status == "stopped"
    boot = lines[0]
    assert boot["has_api_key"] and boot["is_sandbox"] == "true"
    assert "ws_msg" in events and events.count("graph_cancelled") == 2
    channels = {rec["channel"] for rec in lines if rec["event"] == "ws_msg"}
    assert len(channels) == 2, channels
    done = next(rec for rec in lines if rec["event"] == "done")
    assert done["graphs_submitted"] == 2
    statuses = [rec["status"] for rec in lines if rec["event"] == "graph_status"]
    assert statuses == ["active", "active"]

    # The platform side: two resting graphs, cancelled, never filled.
    graphs = Graph.objects.filter(client=owner, is_sandbox=True)
    assert graphs.count() == 2 and all(g.status == GraphStatus.CANCELLED and g.paper for g in graphs)
    assert {n.venue for n in Node.objects.filter(graph__in=graphs)} == {"kalshi", "polymarket"}
    wait_for(lambda: all(n.status == NodeStatus.CANCELLED for n in Node.objects.filter(graph__in=graphs)),
             timeout=60, what="the edges to confirm both cancels")  # fmt: skip
    assert not Fill.objects.exists()
    intents = [rec for rec in lines if rec["event"] == "graph_submit_intent"]
    poly = next(rec for rec in intents if rec["venue"] == "polymarket")
    assert poly["notional_usd"] >= 1.0 and poly["limit_price"] < poly["best_bid"]
