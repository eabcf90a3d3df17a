"""Polymarket's order half (venues/polymarket/orders.py) against the strict fake CLOB
(tests/fakevenues/polymarket_trading.py): L2 HMAC headers and EIP-712 order signatures checked
exactly, a resting book, and the user channel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.fakevenues.polymarket import FakePolymarket
from tests.waiting import wait_until
from venues.order_clients import build_order_client
from venues.orders import OrderConfig, OrderError, OrderRequest, OrderUpdate, VenueFill
from venues.polymarket.orders import (
    PolymarketOrderClient,
    l2_signature,
    order_digest,
    recover_order_signer,
    sign_order,
)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "venues" / "polymarket" / "auth"
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # Hardhat #0, public
OTHER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # Hardhat #1, public
TOKEN = FakePolymarket.BURST_A  # tick 0.001, min size 5, best ask 0.397 x 100.09
NEG_RISK_TOKEN = FakePolymarket.TRUMP_YES  # neg-risk market: signed against the neg-risk exchange


def _vectors(name: str) -> dict:
    path = SHARED / name
    if not path.exists():  # the copies beside the fake venue's fixtures
        path = Path(__file__).resolve().parents[1] / "fakevenues" / "fixtures" / "polymarket" / "auth" / name
    return json.loads(path.read_text())


@pytest.fixture
def fake() -> Iterator[FakePolymarket]:
    venue = FakePolymarket.from_fixtures()
    with venue:
        yield venue


def _client(fake: FakePolymarket, creds: dict[str, str]) -> PolymarketOrderClient:
    client = build_order_client(
        "polymarket",
        creds,
        OrderConfig(rest_url=fake.url, ws_url=fake.url.replace("http", "ws") + "/ws/user"),
    )
    assert isinstance(client, PolymarketOrderClient)
    return client


def _order(side: str = "buy", price: str = "0.300", qty: str = "10", symbol: str = TOKEN) -> OrderRequest:
    return OrderRequest(
        client_order_id="c-1", symbol=symbol, side=side, price=Decimal(price), qty=Decimal(qty)
    )  # type: ignore[arg-type]


# -- signing vectors ------------------------------------------------------------------------------
def test_l2_hmac_vector() -> None:
    (v,) = _vectors("hmac_l2_vectors.json")["vectors"]
    assert (
        l2_signature(v["secret"], v["timestamp"], v["method"], v["request_path"], v["body"])
        == v["expected_signature"]
    )
    assert (
        l2_signature(v["secret"], v["timestamp"], v["method"], v["request_path"], v["body"] + " ")
        != v["expected_signature"]
    )


@pytest.mark.parametrize("index", [0, 1])
def test_eip712_order_vectors(index: int) -> None:
    data = _vectors("eip712_order_vectors.json")
    v = data["vectors"][index]
    assert "0x" + order_digest(v["domain"], v["message"]).hex() == v["expected_digest"]
    assert sign_order(data["private_key"], v["domain"], v["message"]) == v["expected_signature"]
    assert recover_order_signer(v["domain"], v["message"], v["expected_signature"]) == data["signer_address"]


def test_v2_eoa_signature_matches_polymarkets_v2_client() -> None:
    # No V2 EOA vector is published; this one was computed here with Polymarket's own
    # py-clob-client-v2 1.2.1 (ExchangeOrderBuilderV2.build_order_signature / build_order_hash).
    a, z = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0x" + "00" * 32
    domain = {
        "name": "Polymarket CTF Exchange",
        "version": "2",
        "chainId": 137,
        "verifyingContract": "0xE111180000d2663C0091e4f400237545B87B996B",
    }
    message = dict(
        salt=479249096354,
        maker=a,
        signer=a,
        tokenId=1234,
        makerAmount=100000000,
        takerAmount=50000000,
        side=0,
        signatureType=0,
        timestamp=1713398400000,
        metadata=z,
        builder=z,
    )
    assert (
        "0x" + order_digest(domain, message).hex()
        == "0x9a5c03e1e68d332686aba0ff15be80abccd917f28873c37304487b6ca6578471"
    )
    assert sign_order(KEY, domain, message) == (
        "0x1048923a4542e743d5827534db4df2d1f0de831011c287566bd6aa2e9cad01c1"
        "0732fb3b3a602a8d47c181f2e3c7d304cbdff4221ba37dc0f2f4212b7303a0601c"
    )


# -- credentials ----------------------------------------------------------------------------------
def test_good_credentials_read_the_balance(fake: FakePolymarket) -> None:
    creds = fake.trading.add_account(KEY, usdc="250.5")
    (bal,) = _client(fake, creds).balances()
    assert (bal.asset, bal.total, bal.available) == ("USDC", Decimal("250.5"), Decimal("250.5"))


@pytest.mark.parametrize("field", ["api_secret", "api_passphrase", "api_key", "private_key"])
def test_bad_credentials_are_refused(fake: FakePolymarket, field: str) -> None:
    creds = fake.trading.add_account(KEY, usdc="10")
    other = fake.trading.add_account(OTHER_KEY, usdc="10")
    bad = {**creds, field: other[field]}
    with pytest.raises(OrderError) as err:
        _client(fake, bad).balances()
    assert err.value.code == "auth_failed"
    assert err.value.venue_message == "Unauthorized/Invalid api key"
    assert err.value.http_status == 401
    assert creds["api_secret"] not in repr(_client(fake, creds))


# -- orders ---------------------------------------------------------------------------------------
def test_resting_limit_order_then_cancel(fake: FakePolymarket) -> None:
    client = _client(fake, fake.trading.add_account(KEY, usdc="100"))
    order = client.place(_order(price="0.300", qty="10"))
    assert order.state == "open" and order.client_order_id is None and order.venue_order_id.startswith("0x")
    assert [o.venue_order_id for o in client.open_orders()] == [order.venue_order_id]
    assert client.cancel(TOKEN, order.venue_order_id) is True
    assert client.open_orders() == []
    assert client.cancel(TOKEN, order.venue_order_id) is False


def test_neg_risk_market_order_is_accepted(fake: FakePolymarket) -> None:
    client = _client(fake, fake.trading.add_account(KEY, usdc="100"))
    order = client.place(_order(price="0.400", qty="10", symbol=NEG_RISK_TOKEN))
    assert order.state == "open"


@pytest.mark.parametrize(
    ("request_", "code", "text"),
    [
        (_order(price="0.300", qty="1000"), "insufficient_funds", "not enough balance / allowance"),
        (_order(price="0.300", qty="4"), "below_minimum", "order is invalid. Size lower than the minimum"),
        (
            _order(side="sell", price="0.900", qty="10"),
            "insufficient_funds",
            "not enough balance / allowance",
        ),
    ],
)
def test_venue_refusals_map_to_codes(
    fake: FakePolymarket, request_: OrderRequest, code: str, text: str
) -> None:
    client = _client(fake, fake.trading.add_account(KEY, usdc="100"))
    with pytest.raises(OrderError) as err:
        client.place(request_)
    assert (err.value.code, err.value.venue_message) == (code, text)
    assert client.open_orders() == []


def test_fake_refuses_an_off_tick_price_and_a_foreign_signature(fake: FakePolymarket) -> None:
    creds = fake.trading.add_account(KEY, usdc="100")
    client = _client(fake, creds)
    # The client refuses an off-tick price itself; the venue does too when sent one anyway.
    with pytest.raises(OrderError) as err:
        client.place(_order(price="0.3005"))
    assert err.value.code == "bad_tick"
    body = client.signed_order(_order(price="0.3005", qty="10"), tick=Decimal(0), neg_risk=False)
    with pytest.raises(OrderError) as err:
        client._request(
            "POST", "/order", payload={"order": body, "owner": creds["api_key"], "orderType": "GTC"}
        )
    assert (err.value.code, err.value.venue_message) == (
        "bad_tick",
        "order is invalid. Price breaks minimum tick size rules",
    )
    # Signed against the wrong exchange (a neg-risk domain for a plain market): signer does not recover.
    wrong = client.signed_order(_order(), tick=Decimal("0.001"), neg_risk=True)
    with pytest.raises(OrderError) as err:
        client._request(
            "POST", "/order", payload={"order": wrong, "owner": creds["api_key"], "orderType": "GTC"}
        )
    assert (err.value.code, err.value.venue_message) == ("auth_failed", "invalid signature")
    # Signed by another wallet than the API key's.
    other = _client(fake, {**creds, "private_key": OTHER_KEY})
    foreign = other.signed_order(_order(), tick=Decimal("0.001"), neg_risk=False)
    with pytest.raises(OrderError) as err:
        client._request(
            "POST", "/order", payload={"order": foreign, "owner": creds["api_key"], "orderType": "GTC"}
        )
    assert err.value.code == "auth_failed"
    assert client.open_orders() == []


def test_partial_fill_then_open_orders_and_fills_from_a_new_client(fake: FakePolymarket) -> None:
    creds = fake.trading.add_account(KEY, usdc="100")
    client = _client(fake, creds)
    order = client.place(_order(price="0.397", qty="150"))  # the ask at 0.397 holds 100.09
    assert order.state == "partially_filled" and order.filled_qty == Decimal("100.09")
    fresh = _client(fake, creds)
    (resting,) = fresh.open_orders([TOKEN])
    assert resting.venue_order_id == order.venue_order_id
    assert (resting.qty, resting.filled_qty, resting.state) == (
        Decimal(150),
        Decimal("100.09"),
        "partially_filled",
    )
    (fill,) = fresh.recent_fills(0)
    assert (fill.venue_order_id, fill.qty, fill.price, fill.side, fill.liquidity) == (
        order.venue_order_id,
        Decimal("100.09"),
        Decimal("0.397"),
        "buy",
        "taker",
    )
    (bal,) = fresh.balances()
    assert bal.total == Decimal(100) - Decimal("100.09") * Decimal("0.397")


def test_user_channel_sends_trades_and_a_duplicate_keeps_its_id(fake: FakePolymarket) -> None:
    creds = fake.trading.add_account(KEY, usdc="100")
    client = _client(fake, creds)
    order = client.place(_order(price="0.300", qty="20"))
    stream = client.user_stream()
    with connect(stream.url()) as ws:
        for frame in stream.on_open():
            ws.send(frame)
        wait_until(lambda: fake.trading.user_subscribed() == 1, what="user channel subscribed")
        trade = fake.trading.fill_resting(order.venue_order_id, "8")
        fake.trading.resend_trade(trade["id"])
        fills: list[VenueFill] = []
        updates: list[OrderUpdate] = []
        while len(fills) < 2 or not updates:
            for event in stream.on_frame(ws.recv(timeout=30), 0):
                if isinstance(event, VenueFill):
                    fills.append(event)
                elif isinstance(event, OrderUpdate):
                    updates.append(event)
    assert fills[0] == fills[1]  # the same trade twice: one fill id, counted once by the caller
    assert (fills[0].venue_order_id, fills[0].qty, fills[0].side, fills[0].liquidity) == (
        order.venue_order_id,
        Decimal(8),
        "buy",
        "maker",
    )
    assert updates[-1].order.filled_qty == Decimal(8) and updates[-1].order.state == "partially_filled"
    assert [f.venue_fill_id for f in client.recent_fills(0)] == [fills[0].venue_fill_id]


def test_user_channel_refuses_bad_auth(fake: FakePolymarket) -> None:
    creds = fake.trading.add_account(KEY, usdc="100")
    stream = _client(fake, {**creds, "api_passphrase": "wrong"}).user_stream()
    with connect(stream.url()) as ws:
        for frame in stream.on_open():
            ws.send(frame)
        with pytest.raises(Exception):  # noqa: B017 (the venue closes the socket)
            ws.recv(timeout=30)
    assert fake.trading.user_subscribed() == 0


def test_rate_limit_maps_to_rate_limited(fake: FakePolymarket) -> None:
    client = _client(fake, fake.trading.add_account(KEY, usdc="100"))
    fake.fail_http(1, 429)
    with pytest.raises(OrderError) as err:
        client.balances()
    assert (err.value.code, err.value.http_status) == ("rate_limited", 429)
    assert client.balances()[0].total == Decimal(100)
