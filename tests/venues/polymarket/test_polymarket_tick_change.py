"""Polymarket moves a market's tick while it trades (`tick_size_change`): a sandbox edge's paper
matching takes the new grid at once, so an order the venue would now refuse is refused here too."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest

from tests.fakevenues.polymarket import FakePolymarket
from tests.waiting import wait_until
from venues.instruments import live_instrument, to_price_1e9, to_qty_1e8
from venues.live.adapter import LiveVenueAdapter
from venues.live.connection import Backoff
from venues.live.factory import FeedConfig
from venues.matching import BUY, REJECT_BAD_PRICE

A = FakePolymarket.BURST_A


@pytest.fixture
def fake() -> Iterator[FakePolymarket]:
    with FakePolymarket.from_fixtures(idle_timeout_s=60.0) as srv:
        yield srv  # type: ignore[misc]


@pytest.fixture
def adapter(fake: FakePolymarket) -> Iterator[LiveVenueAdapter]:
    tick = fake.books[A].tick_size
    inst = live_instrument(
        venue="polymarket", symbol=A, kind="prediction", tick=tick, lot="0.01", min_qty="5",
        max_qty="1000000", min_notional="1", max_price=str(1 - float(tick)), outcome="YES",
    )  # fmt: skip
    ad = LiveVenueAdapter(
        "polymarket",
        FeedConfig(ws_url=fake.ws_url, rest_url=fake.url),
        instruments=[inst],
        symbols=[A],
        backoff=Backoff(0.02, 0.2, rng=random.Random(1)),
    )
    yield ad
    ad.close()


def test_a_tick_size_change_reaches_paper_matching(fake: FakePolymarket, adapter: LiveVenueAdapter) -> None:
    def has_book() -> object:
        adapter.poll(time.time_ns())
        return adapter.book(A)

    wait_until(has_book, what="the first book")
    old_tick = adapter.instrument(A).tick_1e9
    fine = to_price_1e9("0.2001")  # on a 0.0001 grid only
    assert old_tick > to_price_1e9("0.0001")
    assert adapter.submit(A, BUY, fine, to_qty_1e8("10"), 1).reason == REJECT_BAD_PRICE

    fake.tick_size_change(A, "0.0001")

    def moved() -> bool:
        adapter.poll(time.time_ns())
        return adapter.instrument(A).tick_1e9 == to_price_1e9("0.0001")

    wait_until(moved, what="the new tick in the adapter's catalogue")
    assert adapter.tick_changes == [(A, old_tick, to_price_1e9("0.0001"))]
    assert adapter.feed is not None and adapter.feed.status.as_dict()["tick_changes"] == 1
    result = adapter.submit(A, BUY, fine, to_qty_1e8("10"), 2)
    assert result.accepted, result

    # And back to a coarser grid: the fine price is refused again, by the engine that already exists.
    fake.tick_size_change(A, "0.01")

    def coarse() -> bool:
        adapter.poll(time.time_ns())
        return adapter.instrument(A).tick_1e9 == to_price_1e9("0.01")

    wait_until(coarse, what="the coarser tick")
    assert adapter.submit(A, BUY, to_price_1e9("0.2003"), to_qty_1e8("10"), 3).reason == REJECT_BAD_PRICE
    assert adapter.submit(A, BUY, to_price_1e9("0.20"), to_qty_1e8("10"), 4).accepted
