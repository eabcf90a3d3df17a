"""A sandbox edge's view of Kalshi: `LiveVenueAdapter` on the fake Kalshi, with the catalogue's rules
(0.01 tick, whole contracts) and paper fills against the derived YES and NO books."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest

from tests.fakevenues.kalshi import KEY_ID, REST, FakeKalshi, private_key_pem
from tests.waiting import wait_until
from venues.instruments import to_price_1e9, to_qty_1e8
from venues.live.adapter import LiveVenueAdapter
from venues.live.connection import Backoff
from venues.live.factory import FeedConfig
from venues.matching import BUY, REJECT_BAD_PRICE, REJECT_BAD_QTY, SELL

FED = "FED-23DEC-T3.00"


@pytest.fixture
def fake() -> Iterator[FakeKalshi]:
    with FakeKalshi() as srv:
        yield srv  # type: ignore[misc]


@pytest.fixture
def adapter(fake: FakeKalshi) -> Iterator[LiveVenueAdapter]:
    config = FeedConfig(
        ws_url=fake.ws_url,
        rest_url=fake.url + REST,
        options={"key_id": KEY_ID, "private_key_pem": private_key_pem().decode()},
    )
    ad = LiveVenueAdapter(
        "kalshi",
        config,
        symbols=[f"{FED}-YES", f"{FED}-NO"],
        backoff=Backoff(0.02, 0.2, rng=random.Random(1)),
    )
    yield ad
    ad.close()


def test_paper_fills_on_the_derived_yes_and_no_books(fake: FakeKalshi, adapter: LiveVenueAdapter) -> None:
    yes = adapter.instrument(f"{FED}-YES")
    assert yes.tick_1e9 == to_price_1e9("0.01") and yes.lot_1e8 == to_qty_1e8("1")

    def both_books():
        adapter.poll(time.time_ns())
        return adapter.book(f"{FED}-YES") and adapter.book(f"{FED}-NO")

    wait_until(both_books, what="both books")
    assert adapter.book(f"{FED}-YES").ask_px == to_price_1e9("0.44")  # 1 - best NO bid 0.56
    fills = []
    adapter.set_fill_callback(lambda account, symbol, fill: fills.append((symbol, fill)))
    # Kalshi's rules from its catalogue: the cent grid and whole contracts.
    assert (
        adapter.submit(f"{FED}-YES", BUY, to_price_1e9("0.445"), to_qty_1e8("1"), 1).reason
        == REJECT_BAD_PRICE
    )
    assert (
        adapter.submit(f"{FED}-YES", BUY, to_price_1e9("0.44"), to_qty_1e8("0.5"), 2).reason == REJECT_BAD_QTY
    )
    # A YES buy at the YES ask (the NO bid seen from the other side) fills at 0.44.
    assert adapter.submit(f"{FED}-YES", BUY, to_price_1e9("0.44"), to_qty_1e8("2"), 3).accepted
    assert fills and fills[-1][0] == f"{FED}-YES" and fills[-1][1].price_1e9 == to_price_1e9("0.44")
    # A NO sell at the NO bid (0.56) fills too.
    assert adapter.submit(f"{FED}-NO", SELL, to_price_1e9("0.56"), to_qty_1e8("1"), 4, account="b").accepted
    assert fills[-1][0] == f"{FED}-NO" and fills[-1][1].price_1e9 == to_price_1e9("0.56")
    # A resting NO bid at 0.60 fills when the venue's YES bids rise to 0.40 (NO ask = 1 - 0.40).
    assert adapter.submit(f"{FED}-NO", BUY, to_price_1e9("0.60"), to_qty_1e8("1"), 5, account="c").accepted
    before = len(fills)
    fake.delta(FED, "yes", "0.40", "10")
    wait_until(
        lambda: adapter.poll(time.time_ns()) is not None and len(fills) > before,
        what="the resting NO bid's fill",
    )
    assert fills[-1][0] == f"{FED}-NO" and fills[-1][1].price_1e9 <= to_price_1e9("0.60")
