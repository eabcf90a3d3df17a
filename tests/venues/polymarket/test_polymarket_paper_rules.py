"""Polymarket's size rules on a live-fed sandbox venue (the fake's market channel): an order under the
market's minimum size is refused with its named reason; one under the $1 minimum notional is
accepted and rests without ever filling, even when it crosses the live book (what the product
documents say the venue does, hosted-strategies.txt); one of $1 or more fills at the live book.

`LiveVenueAdapter.submit` is the call an execution graph's order goes through on a sandbox edge
(edges/graph_orders.py)."""

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
from venues.live.factory import CATALOGUES, FeedConfig
from venues.matching import BUY, REJECT_BAD_QTY, SELL
from venues.rejects import reject_reason

A = FakePolymarket.BURST_A  # bids 0.300 x 5000 ..., asks 0.397 x 100.09 ... on a 0.001 tick


@pytest.fixture
def fake() -> Iterator[FakePolymarket]:
    with FakePolymarket.from_fixtures(idle_timeout_s=60.0) as srv:
        yield srv  # type: ignore[misc]


def test_the_catalogue_gives_every_token_the_resting_one_dollar_minimum(fake: FakePolymarket) -> None:
    insts = CATALOGUES["polymarket"](FeedConfig(rest_url=fake.url, options={"clob_url": fake.url}))
    assert insts
    for inst in insts:
        assert inst.min_notional_1e9 == to_price_1e9("1") and inst.min_notional_rests, inst


@pytest.fixture
def adapter(fake: FakePolymarket) -> Iterator[LiveVenueAdapter]:
    tick = fake.books[A].tick_size
    inst = live_instrument(
        venue="polymarket", symbol=A, kind="prediction", tick=tick, lot="0.01", min_qty="5",
        max_qty="1000000", min_notional="1", min_notional_rests=True, max_price=str(1 - float(tick)),
        outcome="YES",
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


def test_minimum_size_refuses_and_the_one_dollar_minimum_rests(
    fake: FakePolymarket, adapter: LiveVenueAdapter
):
    def has_book() -> object:
        adapter.poll(time.time_ns())
        return adapter.book(A)

    book = wait_until(has_book, what="the first book")
    assert (book.bid_px, book.ask_px) == (to_price_1e9("0.3"), to_price_1e9("0.397"))
    fills: list = []
    adapter.set_fill_callback(lambda account, symbol, fill: fills.append((account, fill)))
    inst = adapter.instrument(A)

    # Under the market's minimum size (5 shares): refused, named.
    small = adapter.submit(A, BUY, to_price_1e9("0.397"), to_qty_1e8("4"), 1, account="small")
    assert not small.accepted and small.reason == REJECT_BAD_QTY
    assert reject_reason(small.reason, instrument=inst, price_1e9=to_price_1e9("0.397"), qty_1e8=to_qty_1e8("4")) == (
        "BELOW_MIN_QTY: 4 < polymarket min 5"
    )  # fmt: skip

    # 5 shares at 0.199 = $0.995: through the 0.300 bid, yet it rests and never fills.
    dormant = adapter.submit(A, SELL, to_price_1e9("0.199"), to_qty_1e8("5"), 2, account="dormant")
    assert dormant.accepted and dormant.dormant and dormant.fills == ()
    fake.price_change([(A, "BUY", "0.31", "900")])  # the bid rises further through it

    def saw_new_bid() -> bool:
        adapter.poll(time.time_ns())
        return adapter.book(A).bid_px == to_price_1e9("0.31")

    wait_until(saw_new_bid, what="the raised bid")
    assert not [f for a, f in fills if a == "dormant"]
    assert adapter.engine(A, account="dormant").open_order_count == 1

    # 5 shares at 0.200 = exactly $1: fills at once against the live bid.
    one_dollar = adapter.submit(A, SELL, to_price_1e9("0.2"), to_qty_1e8("5"), 3, account="one")
    assert one_dollar.accepted and not one_dollar.dormant
    assert [(f.price_1e9, f.qty_1e8, f.liquidity) for f in one_dollar.fills] == [
        (to_price_1e9("0.31"), to_qty_1e8("5"), "taker")
    ]
