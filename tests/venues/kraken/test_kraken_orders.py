"""Kraken's order half (venues/kraken/orders.py) against the strict fake's private REST and WS."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.fakevenues.kraken import KrakenFake, asset_pairs_fixture
from tests.fakevenues.kraken_private import AUTH_WS_PATH
from venues.kraken.catalogue import parse_asset_pairs
from venues.kraken.orders import KrakenOrderClient, api_sign, error_code
from venues.order_clients import build_order_client
from venues.orders import OrderConfig, OrderError, OrderRequest, OrderUpdate, VenueFill

VECTORS = json.loads(Path("/work/shared/venues/kraken/test_vectors.json").read_text())
INSTRUMENTS = {
    p.symbol: p.instrument() for p in parse_asset_pairs({"error": [], "result": asset_pairs_fixture()})
}


@pytest.fixture
def fake() -> Iterator[KrakenFake]:
    with KrakenFake() as srv:
        yield srv  # type: ignore[misc]


def client(fake: KrakenFake, key: str, secret: str) -> KrakenOrderClient:
    config = OrderConfig(rest_url=fake.url, ws_url=f"ws://127.0.0.1:{fake.port}{AUTH_WS_PATH}")
    c = build_order_client(
        "kraken", {"api_key": key, "api_secret": secret}, config, instrument=INSTRUMENTS.__getitem__
    )
    assert isinstance(c, KrakenOrderClient)
    return c


def req(cid: str, side: str, price: str, qty: str, **kw: object) -> OrderRequest:
    return OrderRequest(cid, "ETH/USD", side, Decimal(price), Decimal(qty), **kw)  # type: ignore[arg-type]


def test_documented_signature_vector() -> None:
    v = VECTORS["rest_api_sign"]
    assert api_sign(v["private_key"], v["uri_path"], v["nonce"], v["encoded_payload"]) == v["api_sign"]
    # one byte different → a different signature
    assert api_sign(v["private_key"], v["uri_path"], v["nonce"], v["encoded_payload"] + "0") != v["api_sign"]


def test_error_mapping_keeps_kraken_words() -> None:
    assert error_code("EOrder:Insufficient funds") == "insufficient_funds"
    assert error_code("EOrder:Order minimum not met") == "below_minimum"
    assert error_code("EGeneral:Invalid arguments:volume minimum not met") == "below_minimum"
    assert (
        error_code("EOrder:Invalid price:ETHUSD price can only be specified up to 2 decimals.") == "bad_tick"
    )
    for text in ("EAPI:Invalid key", "EAPI:Invalid signature", "EAPI:Invalid nonce"):
        assert error_code(text) == "auth_failed"
    assert (
        error_code("EAPI:Rate limit exceeded") == error_code("EOrder:Rate limit exceeded") == "rate_limited"
    )
    assert error_code("EGeneral:Something new") == "rejected"


def test_balances_good_and_bad_credentials(fake: KrakenFake) -> None:
    key, secret = fake.add_account({"USD": "1000", "ETH": "2"})
    got = {b.asset: b for b in client(fake, key, secret).balances()}
    assert got["USD"].total == Decimal("1000") and got["ETH"].available == Decimal("2")

    with pytest.raises(OrderError) as bad_key:
        client(fake, "not-a-key", secret).balances()
    assert (bad_key.value.code, bad_key.value.venue_message) == ("auth_failed", "EAPI:Invalid key")

    other = base64.b64encode(b"x" * 64).decode()
    with pytest.raises(OrderError) as bad_sig:
        client(fake, key, other).balances()
    assert (bad_sig.value.code, bad_sig.value.venue_message) == ("auth_failed", "EAPI:Invalid signature")
    assert secret not in repr(client(fake, key, secret))


def test_fake_refuses_a_replayed_nonce(fake: KrakenFake) -> None:
    import urllib.request

    key, secret = fake.add_account({"USD": "10"})
    nonce = str(time.time_ns())
    body = f"nonce={nonce}"
    headers = {"API-Key": key, "API-Sign": api_sign(secret, "/0/private/Balance", nonce, body)}
    answers = []
    for _ in range(2):
        url = f"{fake.url}/0/private/Balance"
        r = urllib.request.Request(url, data=body.encode(), headers=headers)  # noqa: S310 (http, the fake)
        with urllib.request.urlopen(r, timeout=10) as resp:  # noqa: S310
            answers.append(json.loads(resp.read()))
    assert answers[0]["error"] == [] and answers[0]["result"]["ZUSD"] == "10.0000"
    assert answers[1] == {"error": ["EAPI:Invalid nonce"]}


def test_a_nonce_behind_the_key_s_last_is_retried_once_then_reported(fake: KrakenFake) -> None:
    key, secret = fake.add_account({"USD": "10"})
    c = client(fake, key, secret)
    fake.accounts[key].last_nonce = 10**18  # another tool used this key with a larger nonce
    with pytest.raises(OrderError) as err:
        c.balances()
    assert (err.value.code, err.value.venue_message) == ("auth_failed", "EAPI:Invalid nonce")
    assert fake.private_calls[-2:] == [("BalanceEx", ["EAPI:Invalid nonce"])] * 2  # one retry, no more
    fake.accounts[key].last_nonce = 0
    assert {b.asset for b in c.balances()} == {"USD"}


def test_rate_limits_and_http_faults_map_to_rate_limited(fake: KrakenFake) -> None:
    key, secret = fake.add_account({"USD": "1000"})
    c = client(fake, key, secret)
    for text in ("EAPI:Rate limit exceeded", "EOrder:Rate limit exceeded"):
        fake.refuse_next(text)
        with pytest.raises(OrderError) as err:
            c.place(req("rl-1", "buy", "3300.00", "0.01"))
        assert (err.value.code, err.value.venue_message) == ("rate_limited", text)
    fake.fail_http(1, status=429)
    with pytest.raises(OrderError) as http:
        c.open_orders()
    assert http.value.code == "rate_limited" and http.value.http_status == 429
    fake.refuse_next("EService:Market in cancel_only mode")
    with pytest.raises(OrderError) as closed:
        c.place(req("rl-2", "buy", "3300.00", "0.01"))
    assert closed.value.code == "market_closed"
    assert c.open_orders() == []  # nothing was placed by the refused calls


def test_place_ack_and_rejects(fake: KrakenFake) -> None:
    key, secret = fake.add_account({"USD": "100"})
    c = client(fake, key, secret)
    ack = c.place(req("cid-1", "buy", "3300.00", "0.01"))
    assert ack.state == "open" and ack.client_order_id == "cid-1" and ack.venue_order_id.startswith("O")
    assert ack.qty == Decimal("0.01") and ack.price == Decimal("3300.00") and ack.symbol == "ETH/USD"

    cases = [
        (req("cid-2", "buy", "3300.00", "1"), "insufficient_funds", "EOrder:Insufficient funds"),
        (req("cid-3", "buy", "3300.00", "0.001"), "below_minimum", "EOrder:Order minimum not met"),
        (req("cid-4", "sell", "3500.00", "0.01"), "insufficient_funds", "EOrder:Insufficient funds"),
    ]
    for request, code, text in cases:
        with pytest.raises(OrderError) as err:
            c.place(request)
        assert (err.value.code, err.value.venue_message) == (code, text)
    # our side refuses a price off the pair's 2 decimals before sending; the fake refuses it too
    with pytest.raises(OrderError) as tick:
        c.place(req("cid-5", "buy", "3300.001", "0.01"))
    assert tick.value.code == "bad_tick"
    raw = KrakenOrderClient({"api_key": key, "api_secret": secret}, OrderConfig(rest_url=fake.url))
    with pytest.raises(OrderError) as venue_tick:
        raw.place(req("cid-6", "buy", "3300.001", "0.01"))
    assert venue_tick.value.code == "bad_tick"
    assert (
        venue_tick.value.venue_message
        == "EOrder:Invalid price:ETHUSD price can only be specified up to 2 decimals."
    )
    assert [o.client_order_id for o in c.open_orders()] == ["cid-1"]


def test_partial_fill_then_cancel(fake: KrakenFake) -> None:
    key, secret = fake.add_account({"USD": "1000"})
    c = client(fake, key, secret)
    since = time.time_ns()
    o = c.place(req("pf-1", "buy", "3300.00", "0.10"))
    assert fake.trade("ETH/USD", "3300.00", "0.04") == 1
    (open_,) = c.open_orders()
    assert open_.state == "partially_filled" and open_.filled_qty == Decimal("0.04")
    assert c.cancel("ETH/USD", o.venue_order_id) is True
    assert c.open_orders() == []
    assert c.cancel("ETH/USD", o.venue_order_id) is False  # EOrder:Unknown order
    (fill,) = c.recent_fills(since)
    assert fill.venue_order_id == o.venue_order_id and fill.qty == Decimal("0.04")
    assert fill.price == Decimal("3300.00") and fill.side == "buy" and fill.liquidity == "maker"
    assert fill.fee == Decimal("0.2112")  # 0.16% maker of 132.00
    assert fake.balance(key, "ETH") == Decimal("0.04")


def test_crossing_order_takes_the_book_and_ioc_rest_is_cancelled(fake: KrakenFake) -> None:
    key, secret = fake.add_account({"USD": "100000"})
    c = client(fake, key, secret)
    best_ask = min(fake.pairs["ETH/USD"].asks)
    first = fake.pairs["ETH/USD"].asks[best_ask]
    o = c.place(req("ioc-1", "buy", str(best_ask), str(first + 1), time_in_force="ioc"))
    assert o.state == "cancelled" and o.filled_qty == first
    assert best_ask not in fake.pairs["ETH/USD"].asks  # the taker took that level off the book
    po = c.place(req("po-1", "buy", str(best_ask + 1), "0.01", post_only=True))
    assert po.state == "cancelled" and po.venue_message == "Post only order"
    fills = c.recent_fills(0)
    assert len(fills) == 1 and fills[0].liquidity == "taker" and fills[0].qty == first


def test_open_orders_found_by_client_order_id_after_a_crash(fake: KrakenFake) -> None:
    key, secret = fake.add_account({"USD": "1000"})
    c = client(fake, key, secret)
    c.place(req("crash-1", "buy", "3200.00", "0.01"))
    c.close()
    again = client(fake, key, secret)  # a new process: a fresh client over the same key
    (found,) = again.open_orders(["ETH/USD"])
    assert found.client_order_id == "crash-1" and found.state == "open"
    assert again.open_orders(["BTC/USD"]) == []
    assert again.cancel_all() == [found.venue_order_id] and again.open_orders() == []


def _read_until(stream, ws, done) -> list:  # type: ignore[no-untyped-def]
    """Frames through the protocol until `done(events)`; each recv has a 20 s ceiling."""
    events: list = []
    while not done(events):
        events.extend(stream.on_frame(ws.recv(timeout=20), time.time_ns()))
    return events


def test_executions_stream_fills_and_duplicates(fake: KrakenFake) -> None:
    key, secret = fake.add_account({"USD": "1000"})
    c = client(fake, key, secret)
    stream = c.user_stream()
    with connect(stream.url()) as ws:
        for frame in stream.on_open():
            ws.send(frame)
        ack = json.loads(ws.recv(timeout=20))
        assert ack["success"] is True and ack["result"]["channel"] == "executions"
        assert json.loads(ws.recv(timeout=20))["type"] == "snapshot"
        assert stream.on_frame(ws.recv(timeout=20), time.time_ns()) == []  # a heartbeat: no event
        o = c.place(req("ws-1", "buy", "3300.00", "0.10"))
        fake.trade("ETH/USD", "3300.00", "0.04")
        fake.repeat_last_fill()
        c.cancel("ETH/USD", o.venue_order_id)
        events = _read_until(
            stream,
            ws,
            lambda ev: any(isinstance(e, OrderUpdate) and e.order.state == "cancelled" for e in ev),
        )
    fills = [e for e in events if isinstance(e, VenueFill)]
    updates = [e.order for e in events if isinstance(e, OrderUpdate)]
    assert len(fills) == 2 and fills[0] == fills[1]  # the same fill twice: one id to count it once by
    assert fills[0].venue_order_id == o.venue_order_id and fills[0].client_order_id == "ws-1"
    assert fills[0].qty == Decimal("0.04") and fills[0].price == Decimal("3300.00")
    assert fills[0].symbol == "ETH/USD" and fills[0].side == "buy" and fills[0].liquidity == "maker"
    assert fills[0].venue_fill_id == c.recent_fills(0)[0].venue_fill_id
    assert [u.state for u in updates] == ["pending", "open", "cancelled"]
    # the cancel report names only the order: the rest comes from the earlier reports
    cancelled = updates[-1]
    assert (cancelled.symbol, cancelled.side, cancelled.qty) == ("ETH/USD", "buy", Decimal("0.1"))
    assert cancelled.filled_qty == Decimal("0.04") and cancelled.venue_message == "User requested"


def test_executions_full_fill_is_reported_by_the_filled_update(fake: KrakenFake) -> None:
    key, secret = fake.add_account({"USD": "1000"})
    c = client(fake, key, secret)
    stream = c.user_stream()
    with connect(stream.url()) as ws:
        for frame in stream.on_open():
            ws.send(frame)
        o = c.place(req("ws-2", "buy", "3300.00", "0.01"))
        fake.trade("ETH/USD", "3299.00", "1")
        events = _read_until(
            stream, ws, lambda ev: any(isinstance(e, OrderUpdate) and e.order.state == "filled" for e in ev)
        )
    (fill,) = [e for e in events if isinstance(e, VenueFill)]
    assert fill.qty == Decimal("0.01") and fill.price == Decimal("3300.00")
    filled = [e.order for e in events if isinstance(e, OrderUpdate)][-1]
    assert filled.venue_order_id == o.venue_order_id and filled.filled_qty == Decimal("0.01")


def test_executions_refuses_a_bad_token(fake: KrakenFake) -> None:
    with connect(f"ws://127.0.0.1:{fake.port}{AUTH_WS_PATH}") as ws:
        ws.send(
            json.dumps(
                {"method": "subscribe", "params": {"channel": "executions", "token": "nope"}, "req_id": 1}
            )
        )
        answer = json.loads(ws.recv(timeout=20))
    assert answer["success"] is False and answer["error"] == "EAccount:Invalid token"
    assert fake.private_subscribed() == 0


def test_client_order_id_format_is_kraken_s(fake: KrakenFake, monkeypatch: pytest.MonkeyPatch) -> None:
    key, secret = fake.add_account({"USD": "1000"})
    c = client(fake, key, secret)
    uuid = "d15708c1-dbb6-465d-b77d-47258319cc90"
    assert c.place(req(uuid, "buy", "3300.00", "0.01")).client_order_id == uuid
    with pytest.raises(OrderError) as too_long:
        c.place(req("x" * 19, "buy", "3300.00", "0.01"))
    assert too_long.value.code == "rejected" and "18 characters" in too_long.value.venue_message
    raw = KrakenOrderClient({"api_key": key, "api_secret": secret}, OrderConfig(rest_url=fake.url))
    # the fake refuses it too, with the client's own check switched off
    monkeypatch.setattr("venues.kraken.orders.CL_ORD_ID", re.compile(r".*"))
    with pytest.raises(OrderError) as venue:
        raw.place(req("x" * 19, "buy", "3300.00", "0.01"))
    assert venue.value.venue_message == "EGeneral:Invalid arguments:cl_ord_id"
    assert [o.client_order_id for o in c.open_orders()] == [uuid]
