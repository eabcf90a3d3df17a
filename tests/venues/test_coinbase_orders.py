"""CoinbaseOrderClient and its user stream against the strict fake Coinbase (real HTTP, a real
WebSocket): keys checked by balances(), acks, rejects in Coinbase's words, partial fills, cancels,
reconciliation from a fresh client, fills counted by their entry id, an expired JWT refused."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.fakevenues.coinbase import FakeCoinbase, new_cdp_key, verify_cdp_jwt
from venues.coinbase.orders import CoinbaseOrderClient, CoinbaseUserStream, build_jwt
from venues.order_clients import ORDER_CLIENTS, build_order_client
from venues.orders import OrderConfig, OrderError, OrderRequest, OrderUpdate, StreamReconnect

CEILING = 30.0


@pytest.fixture
def venue() -> Iterator[FakeCoinbase]:
    with FakeCoinbase() as srv:
        yield srv  # type: ignore[misc]


@pytest.fixture
def key(venue: FakeCoinbase) -> dict[str, str]:
    name, pem, public = new_cdp_key()
    venue.add_account(name, public, {"USD": "100000", "BTC": "1", "ETH": "0"})
    return {"key_name": name, "private_key": pem}


def client(venue: FakeCoinbase, creds: dict[str, str]) -> CoinbaseOrderClient:
    made = build_order_client("coinbase", creds, OrderConfig(rest_url=venue.url, ws_url=venue.ws_url))
    assert isinstance(made, CoinbaseOrderClient)
    return made


def buy(coid: str, price: str, qty: str, **kw) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid, symbol="BTC/USD", side="buy", price=Decimal(price), qty=Decimal(qty), **kw
    )


def test_registered_and_the_key_checked_by_balances(venue: FakeCoinbase, key: dict[str, str]) -> None:
    assert "coinbase" in ORDER_CLIENTS
    c = client(venue, key)
    got = {b.asset: b for b in c.balances()}
    assert got["USD"].total == Decimal("100000") and got["USD"].available == Decimal("100000")
    assert got["BTC"].total == Decimal("1")
    assert "private_key" not in repr(c) and key["private_key"] not in repr(c)

    # a key Coinbase does not know (same name, another private key): 401
    _, other_pem, _ = new_cdp_key()
    with pytest.raises(OrderError) as err:
        client(venue, {"key_name": key["key_name"], "private_key": other_pem}).balances()
    assert err.value.code == "auth_failed" and err.value.http_status == 401
    assert "Unauthorized" in err.value.venue_message
    assert venue.auth_refusals[-1] == "bad signature"
    # not a PEM at all: refused before anything is sent
    with pytest.raises(OrderError) as err:
        client(venue, {"key_name": key["key_name"], "private_key": "not a key"})
    assert err.value.code == "auth_failed"


def test_the_fake_checks_every_claim(venue: FakeCoinbase, key: dict[str, str]) -> None:
    name = key["key_name"]
    keys = dict(venue.keys)
    now = int(time.time())
    uri = f"GET 127.0.0.1:{venue.port}/api/v3/brokerage/accounts"
    good = build_jwt(name, key["private_key"], uri, now=now)
    assert verify_cdp_jwt(good, keys, uri, now)[0] == name
    assert verify_cdp_jwt(good, keys, uri.replace("GET", "POST"), now)[1] == "uri does not match the request"
    assert verify_cdp_jwt(good, keys, None, now)[1] == "a REST token on the WebSocket"
    assert verify_cdp_jwt(good, keys, uri, now + 120)[1] == "expired or not yet valid"
    head, body, sig = good.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    assert verify_cdp_jwt(f"{head}.{body}.{flipped}", keys, uri, now)[0] is None


def test_an_expired_jwt_is_refused(venue: FakeCoinbase, key: dict[str, str]) -> None:
    c = client(venue, key)
    venue.clock_offset_s = 121  # the venue's clock says our fresh token is 121 s old
    with pytest.raises(OrderError) as err:
        c.balances()
    assert err.value.code == "auth_failed"
    assert venue.auth_refusals[-1] == "expired or not yet valid"
    venue.clock_offset_s = 0
    assert c.balances()


def test_place_ack_and_rejects_in_coinbase_words(venue: FakeCoinbase, key: dict[str, str]) -> None:
    c = client(venue, key)
    ack = c.place(buy("ours-1", "68000.00", "0.01", post_only=True))
    assert ack.state == "open" and ack.client_order_id == "ours-1" and ack.filled_qty == 0
    assert ack.price == Decimal("68000.00") and ack.qty == Decimal("0.01") and ack.side == "buy"
    assert venue.balance(key["key_name"], "USD")[1] > Decimal("680")  # held

    cases = [
        (buy("r1", "68000.005", "0.01"), "bad_tick", "INVALID_PRICE_PRECISION"),
        (buy("r2", "68000.00", "0.000000001"), "bad_lot", "INVALID_SIZE_PRECISION"),
        (buy("r3", "68000.00", "0.00001"), "below_minimum", "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"),
        (buy("r4", "68000.00", "5"), "insufficient_funds", "Insufficient balance in source account"),
        (
            buy("r5", "68901.00", "0.01", post_only=True),
            "post_only_would_cross",
            "INVALID_LIMIT_PRICE_POST_ONLY",
        ),
    ]
    for req, code, words in cases:
        with pytest.raises(OrderError) as err:
            c.place(req)
        assert err.value.code == code, req
        assert words in err.value.venue_message
    # nothing was placed by the refusals
    assert [o.client_order_id for o in c.open_orders()] == ["ours-1"]


def test_ioc_takes_the_book_and_fills_are_counted_by_entry_id(
    venue: FakeCoinbase, key: dict[str, str]
) -> None:
    c = client(venue, key)
    start = time.time_ns() - 1_000_000_000
    # 0.5 rests at 68901.00 and 1.2 at 68901.50; our IOC buy at 68901.00 takes 0.5 and the rest dies
    done = c.place(buy("ioc-1", "68901.00", "0.8", time_in_force="ioc"))
    assert done.state == "cancelled" and done.filled_qty == Decimal("0.5")
    assert "68901.00" not in venue.book_levels("BTC-USD")["offer"]
    fills = c.recent_fills(start)
    assert len(fills) == 1
    f = fills[0]
    assert f.venue_order_id == done.venue_order_id and f.qty == Decimal("0.5")
    assert f.price == Decimal("68901.00") and f.liquidity == "taker" and f.side == "buy"
    assert f.fee == Decimal("0.5") * Decimal("68901.00") * Decimal("0.006")
    assert len(f.venue_fill_id) == 64  # Coinbase's entry_id, not the shared trade_id
    assert c.recent_fills(time.time_ns() + 60_000_000_000) == []


def test_partial_fill_then_cancel_and_reconcile_from_a_new_client(
    venue: FakeCoinbase, key: dict[str, str]
) -> None:
    c = client(venue, key)
    ack = c.place(buy("ours-9", "68000.00", "0.5"))
    venue.trade("BTC-USD", "SELL", "68000.00", "0.2")
    fresh = client(venue, key)  # after a crash: only our client_order_id is known
    found = [o for o in fresh.open_orders(["BTC/USD"]) if o.client_order_id == "ours-9"]
    assert len(found) == 1
    assert found[0].venue_order_id == ack.venue_order_id
    assert found[0].state == "partially_filled" and found[0].filled_qty == Decimal("0.2")
    fills = fresh.recent_fills(0)
    assert [(f.qty, f.liquidity) for f in fills] == [(Decimal("0.2"), "maker")]

    assert fresh.cancel("BTC/USD", ack.venue_order_id) is True
    assert fresh.cancel("BTC/USD", ack.venue_order_id) is False  # already done
    assert fresh.open_orders() == []
    done = fresh.order_status(ack.venue_order_id)
    assert done.state == "cancelled" and done.filled_qty == Decimal("0.2")
    avail, hold = venue.balance(key["key_name"], "USD")
    assert hold == 0
    assert avail == Decimal("100000") - Decimal("0.2") * Decimal("68000") * Decimal("1.004")


def test_cancel_all_and_another_account_sees_nothing(venue: FakeCoinbase, key: dict[str, str]) -> None:
    c = client(venue, key)
    a = c.place(buy("k1", "60000.00", "0.01"))
    b = c.place(buy("k2", "60001.00", "0.01"))
    name, pem, public = new_cdp_key()
    venue.add_account(name, public, {"USD": "5"})
    other = client(venue, {"key_name": name, "private_key": pem})
    assert other.open_orders() == []
    assert other.cancel("BTC/USD", a.venue_order_id) is False
    assert sorted(c.cancel_all()) == sorted([a.venue_order_id, b.venue_order_id])
    assert c.open_orders() == []


def test_a_client_order_id_sent_twice_is_one_order(venue: FakeCoinbase, key: dict[str, str]) -> None:
    c = client(venue, key)
    first = c.place(buy("dup-1", "60000.00", "0.01"))
    again = c.place(buy("dup-1", "60000.00", "0.01"))
    assert again.venue_order_id == first.venue_order_id
    assert len(c.open_orders()) == 1


class UserSocket:
    """The user stream protocol over a real WebSocket to the fake."""

    def __init__(self, stream: CoinbaseUserStream, ws: ClientConnection) -> None:
        self.stream = stream
        self.ws = ws
        for frame in stream.on_open():
            self.ws.send(frame)
        self.events: list[object] = []

    def until(self, pred: Callable[[list[object]], bool], what: str) -> None:
        deadline = time.monotonic() + CEILING
        while not pred(self.events):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}")
            try:
                frame = self.ws.recv(timeout=left)
            except TimeoutError:
                continue
            self.events.extend(self.stream.on_frame(frame, time.time_ns()))


def updates(events: list[object], coid: str) -> list[OrderUpdate]:
    return [e for e in events if isinstance(e, OrderUpdate) and e.order.client_order_id == coid]


def test_user_channel_order_updates_and_a_repeated_fill(venue: FakeCoinbase, key: dict[str, str]) -> None:
    c = client(venue, key)
    resting = c.place(buy("u-0", "67000.00", "0.1"))
    stream = c.user_stream()
    with connect(stream.url()) as ws:
        sock = UserSocket(stream, ws)
        sock.until(lambda ev: len(updates(ev, "u-0")) == 1, "the snapshot")
        assert updates(sock.events, "u-0")[0].order.state == "open"
        subs = [m for m in venue.received if isinstance(m, dict) and m.get("channel") == "user"]
        assert subs and "uri" not in subs[0]  # a WebSocket JWT carries no uri (checked by the fake)

        c.place(buy("u-1", "68000.00", "0.3"))
        venue.trade("BTC-USD", "SELL", "68000.00", "0.1")
        sock.until(
            lambda ev: any(u.order.filled_qty == Decimal("0.1") for u in updates(ev, "u-1")), "the fill"
        )
        venue.resend_last_user_update(key["key_name"])  # the same fill's update again
        sock.until(
            lambda ev: sum(u.order.filled_qty == Decimal("0.1") for u in updates(ev, "u-1")) == 2, "resend"
        )
        partial = [u.order for u in updates(sock.events, "u-1") if u.order.filled_qty]
        assert {o.state for o in partial} == {"partially_filled"}
        # Fills are counted by entry id from recent_fills(): the repeated update adds no fill.
        fills = c.recent_fills(0)
        assert len(fills) == 1 and fills[0].qty == Decimal("0.1")
        assert len({f.venue_fill_id for f in fills}) == 1

        c.cancel("BTC/USD", resting.venue_order_id)
        sock.until(lambda ev: any(u.order.state == "cancelled" for u in updates(ev, "u-0")), "the cancel")


def test_user_channel_refuses_a_bad_jwt(venue: FakeCoinbase, key: dict[str, str]) -> None:
    _, other_pem, _ = new_cdp_key()
    stream = CoinbaseUserStream(key["key_name"], other_pem, venue.ws_url)
    with connect(stream.url()) as ws:
        sock = UserSocket(stream, ws)
        sock.until(lambda ev: any(isinstance(e, StreamReconnect) for e in ev), "the refusal")
        assert "authentication failure" in sock.events[-1].reason  # type: ignore[attr-defined]
        assert "authentication failure" in venue.errors_sent


def test_rate_limited_and_unknown_symbol(venue: FakeCoinbase, key: dict[str, str]) -> None:
    c = client(venue, key)
    venue.fail_http(1, 429)
    with pytest.raises(OrderError) as err:
        c.balances()
    assert err.value.code == "rate_limited" and err.value.http_status == 429
    req = OrderRequest(
        client_order_id="x-1", symbol="NOPE/USD", side="buy", price=Decimal("1"), qty=Decimal("1")
    )
    with pytest.raises(OrderError) as err:
        c.place(req)
    assert err.value.code == "unknown_symbol" and "INVALID_PRODUCT_ID" in err.value.venue_message
    assert c.open_orders() == []
