"""A real `run_edge` process on the live Coinbase feed (the fake Coinbase on 127.0.0.1): the edge
takes its instruments from Coinbase's public product list, the algo gets the venue's books and
paper-fills on them under Coinbase's rules; a gap is resynced and shows in the edge's report; a book
that stops changing pauses the algo (`stale_book`) and a changing one resumes it."""

from __future__ import annotations

import pytest

from algo_studio import services
from algo_studio.models import DeploymentEdge
from edges.models import Edge
from sequence_site.scope import Scope
from tests.edges.conftest import EdgeProcess, scripted_algo, wait_for
from tests.fakevenues.coinbase import FakeCoinbase

pytestmark = pytest.mark.slow


class LiveCoinbaseEdge(EdgeProcess):
    def __init__(self, fake: FakeCoinbase) -> None:
        super().__init__(["coinbase"])
        self.fake = fake

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(
            VENUE_FEED_COINBASE="live",
            VENUE_FEED_COINBASE_WS_URL=self.fake.ws_url,
            VENUE_FEED_COINBASE_REST_URL=self.fake.url,
            VENUE_FEED_STALE_AFTER_SECONDS="2",
        )
        return env


@pytest.fixture
def fake():
    # heartbeats slower than the stale limit's confirmations would matter: 20 s confirm, 2 s stale
    with FakeCoinbase(heartbeat_interval_s=0.2) as srv:
        yield srv


def row(deployment) -> DeploymentEdge:
    return DeploymentEdge.objects.select_related("edge").get(deployment=deployment, removed=False)


def test_an_algo_paper_fills_on_the_live_coinbase_book(transactional_db, owner, fake):
    edge = LiveCoinbaseEdge(fake).start()
    try:
        registered = Edge.objects.get(edge_id="venue-edge-coinbase", is_sandbox=True)
        assert registered.feed == "live"
        assert set(registered.symbols) == {"BTC/USD", "ETH/USD", "XRP/USD", "ETH/USDC", "BTC/USDC"}
        wait_for(
            lambda: any("BTC-USD" in s for s in fake.subscriptions()),
            timeout=30,
            what=f"the subscribe ({edge.output()})",
        )
        assert ("GET", "/api/v3/brokerage/market/products?product_type=SPOT") in fake.http_requests

        scope = Scope(client=owner, is_sandbox=True)
        deployment = services.algo_deploy(
            scope=scope, symbol="BTC/USD", wasm=scripted_algo(), start_immediately=True
        ).deployment
        size = [0]

        def playing(cond, what):  # keep the book changing while waiting (else it goes stale)
            def step():
                size[0] += 1
                fake.update("BTC-USD", [("offer", "68902.00", f"0.{size[0]:08d}")])
                return cond()

            wait_for(step, timeout=60, what=f"{what} ({edge.output()})")

        # buys 0.01 BTC at twice the ask on its first book: a taker fill at the live best offer
        playing(lambda: (r := row(deployment)).fill_count == 1 and r.status == "running", "the paper fill")
        r = row(deployment)
        assert r.position_1e8 == 1_000_000 and r.update_count >= 1

        wait_for(lambda: row(deployment).pause_reason == "stale_book", timeout=60, what="the stale pause")
        playing(lambda: (r := row(deployment)).status == "running" and r.pause_reason is None, "the resume")

        fake.skip_sequence()  # a lost message: every book resynced, counted in the edge's report
        playing(
            lambda: (Edge.objects.get(pk=registered.pk).feed_status.get("resyncs") or {}).get("gap", 0) >= 1,
            "the gap resync in the report",
        )
        assert fake.snapshots_sent.count("BTC-USD") >= 2
        assert row(deployment).fill_count == 1
    finally:
        assert edge.stop() == 0
