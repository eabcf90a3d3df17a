"""A real `run_edge --venue kalshi --feed live` process on the fake Kalshi follows the most traded
markets of the synced catalogue (VENUE_FEED_MAX_MARKETS), and follows them again after a re-sync:
a market that closed is dropped (its quote with it), the next one is subscribed."""

from __future__ import annotations

import signal

import pytest

from edges.catalogue import sync_catalogue
from edges.models import Edge
from tests.edges.conftest import EdgeProcess, wait_for
from tests.fakevenues.kalshi import KEY_ID, REST, FakeKalshi
from tests.trading.prediction_live import KALSHI_KEY_PATH, quotes_published

pytestmark = pytest.mark.slow

BTC, FED, GDP = "KXBTC-25MAR15-B100000", "FED-23DEC-T3.00", "KXGDPSHAREMANU-29"  # by volume


def both(ticker: str) -> list[str]:
    return [f"{ticker}-YES", f"{ticker}-NO"]


@pytest.fixture
def live_kalshi_edge(transactional_db):
    """An unstarted `run_edge --sandbox --venue kalshi --feed live`; killed at the end if still up."""
    made: list[EdgeProcess] = []

    def make(env: dict[str, str]) -> EdgeProcess:
        edge = EdgeProcess(["kalshi"], env=env)
        edge.feed = "live"
        made.append(edge)
        return edge

    yield make
    for edge in made:
        if edge.process is not None:
            edge.stop(signal.SIGKILL)


def test_a_live_kalshi_edge_follows_the_most_traded_synced_markets_and_resyncs(settings, live_kalshi_edge):
    with FakeKalshi() as kalshi:
        settings.VENUE_FEED_KALSHI = "live"
        settings.VENUE_FEED_KALSHI_REST_URL = kalshi.url + REST
        assert sync_catalogue("kalshi") == 5

        edge = live_kalshi_edge(
            {
                "VENUE_FEED_KALSHI": "live",
                "VENUE_FEED_KALSHI_WS_URL": kalshi.ws_url,
                "VENUE_FEED_KALSHI_REST_URL": kalshi.url + REST,
                "KALSHI_API_KEY_ID": KEY_ID,
                "KALSHI_PRIVATE_KEY_PATH": str(KALSHI_KEY_PATH),
                "VENUE_FEED_MAX_MARKETS": "2",
                "VENUE_FEED_STALE_AFTER_SECONDS": "600",
            }
        )
        edge.start()
        row = Edge.objects.get(edge_id="venue-edge-kalshi", is_sandbox=True)
        assert row.feed == "live" and row.symbols == both(BTC) + both(FED)
        wait_for(quotes_published(True, [("kalshi", f"{BTC}-YES"), ("kalshi", f"{FED}-NO")]), timeout=60,
                 what=f"the two markets' books ({edge.output()})")  # fmt: skip

        # BTC closes; the next sync lists FED and GDP as the two most traded open markets.
        kalshi.set_market_status(BTC, "closed")
        assert sync_catalogue("kalshi") == 4
        wait_for(
            lambda: Edge.objects.get(pk=row.pk).symbols == both(FED) + both(GDP),
            timeout=60,
            what=f"the edge to follow the re-synced catalogue ({edge.output()})",
        )
        wait_for(quotes_published(True, [("kalshi", f"{GDP}-YES")]), timeout=60,
                 what=f"the new market's book ({edge.output()})")  # fmt: skip
        assert not quotes_published(True, [("kalshi", f"{BTC}-YES")])()  # the closed one's quote is gone

        async def subscribed() -> set[str]:  # read in the fake's own loop
            return {
                t for ws, conn in kalshi.conns.items() if not ws.closed
                for sub in conn.subs.values() for t in sub.tickers
            }  # fmt: skip

        wait_for(lambda: kalshi.call(subscribed) == {FED, GDP}, timeout=60,
                 what="the fake to see the new subscriptions only")  # fmt: skip
        assert edge.stop() == 0
