"""An order whose placement got the gateway's 5xx answer (the venue may well have placed it) is not
taken for refused: like a send that timed out, it is looked up at the venue by its client order id
on the next pass and adopted there, never marked rejected while it rests at the venue."""

from __future__ import annotations

import signal

import pytest

from tests.live.conftest import Venue, fills_of, node_of, order_of, submit
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


def test_a_5xx_answer_to_a_placement_is_reconciled_not_rejected(live_api, coinbase, connect, live_edge):
    c = Venue("coinbase", coinbase, connect)
    live_edge("coinbase")
    coinbase.gateway_timeout_after_next_create()
    status, out = submit(live_api, c.node())
    assert status == 201, out
    gid = out["graph_id"]
    wait_until(lambda: order_of(gid).status != "new", timeout=30, what="the order's outcome recorded")
    (resting,) = c.open_orders()
    order = order_of(gid)
    assert order.status == "working", (order.status, order.reject_reason)
    assert order.venue_order_id == c.void(resting)
    assert node_of(gid).status == "working"
    assert c.sends() == 1  # adopted, not sent a second time


def test_a_crossing_order_whose_answer_was_lost_is_not_sent_again(live_api, coinbase, connect, live_edge):
    """The order took the book at once (filled, so no longer open at the venue) and its answer was
    lost. Coinbase's fills carry no client order id: the order is found by the venue order id its
    fills name, never sent a second time (Coinbase answers a repeated client order id with the
    earlier order; Kraken would place it again: the kill -9 test below)."""
    c = Venue("coinbase", coinbase, connect)
    live_edge("coinbase")
    coinbase.gateway_timeout_after_next_create()
    status, out = submit(live_api, c.node("buy", qty="0.01", price="68950.00"))  # the ask is 68901
    assert status == 201, out
    gid = out["graph_id"]
    wait_until(lambda: node_of(gid).status == "filled", timeout=30, what="the crossing buy filled")
    assert c.sends() == 1
    assert len(c.all_orders()) == 1
    order = order_of(gid)
    assert order.filled_qty_1e8 == 1_000_000 and order.venue_order_id == c.void(c.all_orders()[0])


def test_kill_9_after_a_crossing_send_then_restart_never_sends_twice(live_api, kraken, connect, live_edge):
    """kill -9 right after Kraken took a crossing sell (filled at once, so not open any more, and
    Kraken's trade history names no cl_ord_id; a closed order's cl_ord_id may be used again): the
    restart adopts it by its fills instead of selling a second time."""
    k = Venue("kraken", kraken, connect)
    edge = live_edge("kraken", env={"SEQUENCE_LIVE_CRASH_POINT": "after_send"})
    status, out = submit(live_api, k.node("sell", price=k.cross_sell_price))
    assert status == 201, out
    gid = out["graph_id"]
    assert edge.wait_exit(what="the edge to kill itself after the send") == -signal.SIGKILL
    assert k.open_orders() == [] and len(k.all_orders()) == 1  # filled at the venue

    live_edge("kraken")  # the restart, without the crash point
    wait_until(lambda: node_of(gid).status == "filled", timeout=30, what="the sell adopted and filled")
    assert k.sends() == 1 and len(k.all_orders()) == 1  # never sold twice
    (fill,) = fills_of(gid)
    assert fill.qty_1e8 == 1_000_000 and order_of(gid).venue_order_id == k.void(k.all_orders()[0])


def test_an_unknown_outcome_send_still_in_flight_is_not_marked_rejected(live_api, kraken, connect, live_edge):
    """The placement's answer is lost (504) and the order is still in flight: the next lookup does
    not show it, then it lands. Sent again with the same cl_ord_id, Kraken refuses the duplicate:
    that means it is there (looked up again, adopted), never that ours was refused; its fill counts."""
    k = Venue("kraken", kraken, connect)
    live_edge("kraken")
    kraken.lose_next_add_order()
    kraken.land_after_next_open_orders()
    status, out = submit(live_api, k.node())
    assert status == 201, out
    gid = out["graph_id"]
    wait_until(lambda: order_of(gid).status != "new", timeout=30, what="the order's outcome recorded")
    (resting,) = k.open_orders()
    order = order_of(gid)
    assert order.status == "working", (order.status, order.reject_reason)
    assert order.venue_order_id == k.void(resting)
    assert k.trade_through(k.rest_price, "0.01") == 1
    wait_until(lambda: node_of(gid).status == "filled", timeout=30, what="the fill counted")
    (fill,) = fills_of(gid)
    assert fill.qty_1e8 == 1_000_000


def test_a_cancelled_unknown_outcome_send_that_lands_late_is_cancelled_there(
    live_api, kraken, connect, live_edge
):
    """Cancelled while its placement's outcome is unknown and the venue does not show it: reported
    cancelled in the end, but when it lands at the venue afterwards it is cancelled there, never
    left resting untracked."""
    k = Venue("kraken", kraken, connect)
    live_edge("kraken")
    kraken.lose_next_add_order()
    status, out = submit(live_api, k.node())
    assert status == 201, out
    gid = out["graph_id"]
    wait_until(lambda: k.sends() == 1, timeout=30, what="the placement sent (answer lost)")
    status, out = live_api.delete(f"/v1/graphs/{gid}")
    assert status == 200, out
    wait_until(lambda: order_of(gid).status == "cancelled", timeout=30, what="the cancel recorded")
    assert k.all_orders() == []  # still in flight
    kraken.land_in_flight()
    assert len(k.open_orders()) == 1
    wait_until(lambda: k.open_orders() == [], timeout=30, what="the late order cancelled at the venue")
    assert order_of(gid).status == "cancelled"
