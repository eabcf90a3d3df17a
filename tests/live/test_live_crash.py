"""kill -9 of the live edge between persist and send, then a restart without the crash point: the
order is at the venue exactly once (sent by the restart when the crash came before the send,
adopted by its client order id when it came after), never lost, never duplicated; its fill then
comes back as usual."""

from __future__ import annotations

import signal

import pytest

from tests.live.conftest import node_of, order_of, submit
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("point", ["before_send", "after_send"])
def test_kill_9_between_persist_and_send_then_restart(live_api, venue, live_edge, point):
    edge = live_edge(venue.name, env={"SEQUENCE_LIVE_CRASH_POINT": point})
    status, out = submit(live_api, venue.node())
    assert status == 201, out
    gid = out["graph_id"]
    assert edge.wait_exit(what=f"the edge to kill itself at {point}") == -signal.SIGKILL

    crashed = order_of(gid)
    assert crashed.sent_at is not None and crashed.venue_order_id == ""  # claimed, answer never recorded
    at_venue = venue.all_orders()
    if point == "before_send":
        assert at_venue == [] and venue.sends() == 0
    else:
        assert [venue.coid(o) for o in at_venue] == [crashed.client_order_id] and venue.sends() == 1

    live_edge(venue.name)  # the restart, without the crash point
    wait_until(lambda: order_of(gid).venue_order_id != "", timeout=30, what="the order sent or adopted")
    (placed,) = venue.all_orders()
    assert venue.coid(placed) == crashed.client_order_id
    assert order_of(gid).venue_order_id == venue.void(placed) and order_of(gid).status == "working"

    # passes go on after the adoption: the fill comes back, and nothing was ever sent again
    assert venue.trade_through(venue.rest_price, "0.01") == 1
    wait_until(lambda: node_of(gid).status == "filled", timeout=30, what="the fill after the restart")
    assert venue.sends() == 1 and len(venue.all_orders()) == 1
