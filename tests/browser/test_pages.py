"""The main pages in real Chromium: a phone's viewport (390 px) never scrolls sideways, and
`make screenshots` (SEQUENCE_SCREENSHOTS=<dir>) saves each page for the README."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.utils import timezone

from algo_studio import services as algo_services
from algo_studio.models import DeploymentEdge, MetricSample
from edges.models import Edge
from sequence_site.scope import Scope
from tests.edges.conftest import scripted_algo
from venues.instruments import instruments_for_venue

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

PAGES = [("overview", "/"), ("algo-studio", "/algos/"), ("deployments", "/algos/deployments/"),
         ("strategies", "/strategies/"), ("backtests", "/backtests/"), ("edges", "/edges/"),
         ("api-keys", "/keys/"), ("venues", "/venues/")]  # fmt: skip


def _some_data(member) -> str:
    """A connected sandbox edge and a running algo with an hour of PnL, so pages have rows."""
    edge = Edge.objects.create(
        edge_id="venue-edge-coinbase", venue="coinbase", is_sandbox=True, algo_capable=True,
        symbols=[i.symbol for i in instruments_for_venue("coinbase")], last_heartbeat=timezone.now(),
    )  # fmt: skip
    scope = Scope(client=member.client, is_sandbox=True)
    result = algo_services.algo_deploy(scope=scope, symbol="ETH/USD", wasm=scripted_algo(), actor="test")
    deployment = result.deployment
    DeploymentEdge.objects.filter(deployment=deployment, edge=edge).update(
        status="running", desired_state="running", applied_generation=1, realized_pnl_1e9=1_234_560_000_000,
        unrealized_pnl_1e9=-4_000_000_000, last_heartbeat=timezone.now(), update_count=12_345,
    )  # fmt: skip
    now = timezone.now()
    for minute in range(30):
        MetricSample.objects.create(
            deployment=deployment, edge_id=edge.edge_id, symbol="ETH/USD",
            ts=now - timezone.timedelta(minutes=30 - minute), position_1e8=0,
            realized_pnl_1e9=minute * 40_000_000_000, unrealized_pnl_1e9=0, callback_latency_ns=40_000,
            fill_count=minute,
        )  # fmt: skip
    return deployment.deployment_id


def _login(page, base: str, member) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", member.username)
    page.fill("input[name=password]", member.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_phone_viewport_has_no_horizontal_overflow(live_server_process, member, page) -> None:
    deployment_id = _some_data(member)
    base = live_server_process.url
    shots = os.environ.get("SEQUENCE_SCREENSHOTS")
    page.set_viewport_size({"width": 390, "height": 844})
    _login(page, base, member)
    overflow = {}
    for name, path in [*PAGES, ("deployment", f"/algos/deployments/{deployment_id}/")]:
        page.goto(f"{base}{path}")  # waits for "load": stylesheets applied
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            overflow[name] = width
    assert overflow == {}, f"pages wider than the 390 px screen: {overflow}"
    if shots:  # `make screenshots`: the desktop views for docs/
        page.set_viewport_size({"width": 1360, "height": 900})
        for name, path in [("overview", "/"), ("deployment", f"/algos/deployments/{deployment_id}/"),
                           ("algo-studio", "/algos/"), ("backtests", "/backtests/"),
                           ("strategies", "/strategies/"), ("edges", "/edges/")]:  # fmt: skip
            page.goto(f"{base}{path}")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(Path(shots) / f"{name}.png"), full_page=False)
