"""A real `run_edge` process on the live Kraken feed (the fake Kraken on 127.0.0.1): the algo gets
the venue's books and paper-fills on them; a book that stops changing pauses it (`stale_book`) and
a fresh one resumes it; the edge reports its feed's health."""

from __future__ import annotations

import pytest

from algo_studio import services
from algo_studio.models import DeploymentEdge
from edges.models import Edge
from sequence_site.scope import Scope
from tests.edges.conftest import EdgeProcess, scripted_algo, wait_for
from tests.fakevenues.kraken import KrakenFake

pytestmark = pytest.mark.slow


class LiveKrakenEdge(EdgeProcess):
    def __init__(self, fake: KrakenFake) -> None:
        super().__init__(["kraken"])
        self.fake = fake

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(
            VENUE_FEED_KRAKEN="live",
            VENUE_FEED_KRAKEN_WS_URL=self.fake.ws_url,
            VENUE_FEED_KRAKEN_REST_URL=self.fake.url,
            VENUE_FEED_STALE_AFTER_SECONDS="2",
        )
        return env


@pytest.fixture
def fake():
    with KrakenFake(heartbeat_s=0.2) as srv:
        yield srv


def row(deployment) -> DeploymentEdge:
    return DeploymentEdge.objects.select_related("edge").get(deployment=deployment, removed=False)


def test_an_algo_paper_fills_on_the_live_book_and_pauses_when_it_goes_stale(transactional_db, owner, fake):
    edge = LiveKrakenEdge(fake).start()
    try:
        registered = Edge.objects.get(edge_id="venue-edge-kraken", is_sandbox=True)
        assert registered.feed == "live"
        assert registered.symbols == ["BTC/USD", "ETH/USD"]  # the catalogue's pairs Kraken lists
        wait_for(lambda: fake.subscribed("BTC/USD") == 1, timeout=30, what=f"the subscribe ({edge.output()})")

        scope = Scope(client=owner, is_sandbox=True)
        deployment = services.algo_deploy(
            scope=scope, symbol="BTC/USD", wasm=scripted_algo(), start_immediately=True
        ).deployment

        def playing(cond, what):  # keep the book changing while waiting (else it goes stale)
            def step():
                if not fake.play_capture(1):  # the capture is used up: change the best ask's size
                    _, asks = fake.pairs["BTC/USD"].top(1)
                    px, qty = asks[0]
                    fake.update("BTC/USD", asks=[(str(px), str(qty + 1))])
                return cond()

            wait_for(step, timeout=60, what=f"{what} ({edge.output()})")

        # buys 0.01 BTC at twice the ask on its first book: a taker fill at the live ask
        playing(lambda: (r := row(deployment)).fill_count == 1 and r.status == "running", "the paper fill")
        r = row(deployment)
        assert r.position_1e8 == 1_000_000 and r.update_count >= 1

        # no book change for longer than the limit: paused with stale_book, then resumed by updates
        wait_for(lambda: row(deployment).pause_reason == "stale_book", timeout=60, what="the stale pause")
        assert row(deployment).status == "paused"
        status = Edge.objects.get(pk=registered.pk).feed_status
        assert (
            status["feed"] == "live"
            and status["state"] == "connected"
            and "BTC/USD" in status["stale_symbols"]
        )
        playing(lambda: (r := row(deployment)).status == "running" and r.pause_reason is None, "the resume")
        assert row(deployment).fill_count == 1  # one fill only: the algo buys on its first book

        # a broken checksum: resnapshot, counted in the edge's report
        fake.corrupt_next_checksum("BTC/USD")
        playing(
            lambda: (
                (Edge.objects.get(pk=registered.pk).feed_status.get("resyncs") or {}).get("checksum") == 1
            ),
            "the resync in the report",
        )
    finally:
        assert edge.stop() == 0
