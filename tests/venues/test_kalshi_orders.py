"""Kalshi's order half against the strict fake Kalshi (tests/fakevenues/kalshi.py): signed portfolio
requests, resting orders, YES/NO crossing, rejects mapped to ERROR_CODES with Kalshi's text, fills
over REST and over the `fill` channel."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.sync.client import connect

from tests.fakevenues.kalshi import KEY_ID, FakeKalshi, private_key_pem
from venues.kalshi.auth import KalshiSigner
from venues.kalshi.orders import KalshiOrderClient
from venues.order_clients import build_order_client
from venues.orders import OrderConfig, OrderError, OrderRequest, OrderUpdate, VenueFill

FED = "FED-23DEC-T3.00"  # fake book: YES bids 0.08x300, 0.22x333; NO bids 0.54x20, 0.56x146
WS_CEILING_S = 30.0


def _new_key() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return priv, pub


@pytest.fixture
def fake() -> Iterator[FakeKalshi]:
    with FakeKalshi() as srv:
        yield srv  # type: ignore[misc]


def client_for(fake: FakeKalshi, key_id: str = KEY_ID, pem: str | None = None) -> KalshiOrderClient:
    creds = {"key_id": key_id, "private_key": pem or private_key_pem().decode()}
    client = build_order_client(
        "kalshi", creds, OrderConfig(rest_url=fake.url + "/trade-api/v2", ws_url=fake.ws_url)
    )
    assert isinstance(client, KalshiOrderClient)
    return client


def order(coid: str, symbol: str, side: str, price: str, qty: int, **kw) -> OrderRequest:
    return OrderRequest(coid, symbol, side, Decimal(price), Decimal(qty), **kw)  # type: ignore[arg-type]


# -- keys ---------------------------------------------------------------------------------------------
def test_good_key_reads_the_balance_in_dollars(fake):
    (bal,) = client_for(fake).balances()
    assert (bal.asset, bal.total, bal.available) == ("USD", Decimal("1000.00"), Decimal("1000.00"))
    assert fake.rest_refusals == []
    assert "KALSHI" not in repr(client_for(fake)) and "PRIVATE" not in repr(client_for(fake))


def test_each_account_has_its_own_balance(fake):
    priv, pub = _new_key()
    fake.add_account("second-key", pub, 2_550)
    (bal,) = client_for(fake, "second-key", priv).balances()
    assert bal.total == Decimal("25.50")


@pytest.mark.parametrize("case", ["unknown_key_id", "other_private_key", "stale_timestamp", "seconds"])
def test_bad_credentials_are_refused_as_auth_failed(fake, case):
    if case == "unknown_key_id":
        client = client_for(fake, key_id="nobody")
    elif case == "other_private_key":
        client = client_for(fake, pem=_new_key()[0])
    else:
        client = client_for(fake)
        now = time.time_ns() // 1_000_000
        then = now - 10 * 60_000 if case == "stale_timestamp" else now // 1000
        client._signer = KalshiSigner.from_pem(KEY_ID, private_key_pem(), now_ms=lambda: then)
    with pytest.raises(OrderError) as exc:
        client.balances()
    assert exc.value.code == "auth_failed" and exc.value.http_status == 401
    assert "authentication" in exc.value.venue_message
    expected = {
        "unknown_key_id": "unknown key id",
        "other_private_key": "bad signature",
        "stale_timestamp": "stale timestamp",
        "seconds": "stale timestamp",
    }[case]
    assert fake.rest_refusals == [expected]


@pytest.mark.parametrize(("method", "path"), [("GET", "/trade-api/v2/portfolio/fills"), ("POST", None)])
def test_a_request_signed_over_another_path_or_method_is_refused_with_kalshis_body(fake, method, path):
    signer = KalshiSigner.from_pem(KEY_ID, private_key_pem())
    target = "/trade-api/v2/portfolio/balance"
    req = urllib.request.Request(  # noqa: S310 (the fake's http URL)
        fake.url + target + "?x=1", headers=signer.headers(method, path or target)
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=WS_CEILING_S)  # noqa: S310
    assert exc.value.code == 401
    assert json.loads(exc.value.read())["error"]["code"] == "authentication_error"
    assert fake.rest_refusals == ["bad signature"]
    # the same request signed over its path without the query is accepted
    ok = urllib.request.Request(fake.url + target + "?x=1", headers=signer.headers("GET", target))  # noqa: S310
    with urllib.request.urlopen(ok, timeout=WS_CEILING_S) as resp:  # noqa: S310
        assert json.loads(resp.read())["balance"] == 100_000


def test_a_missing_field_or_unreadable_key_is_refused_before_any_request(fake):
    with pytest.raises(OrderError) as exc:
        build_order_client("kalshi", {"key_id": KEY_ID}, OrderConfig(rest_url=fake.url))
    assert exc.value.code == "auth_failed" and "private_key" in str(exc.value)
    with pytest.raises(OrderError) as exc:
        client_for(fake, pem="not a pem")
    assert exc.value.code == "auth_failed" and "not a pem" not in str(exc.value)
    assert fake.http_requests == []


# -- orders -------------------------------------------------------------------------------------------
def test_one_resting_limit_order_placed_found_and_cancelled(fake):
    client = client_for(fake)
    ack = client.place(order("ours-1", f"{FED}-YES", "buy", "0.30", 5))
    assert (ack.state, ack.client_order_id, ack.symbol) == ("open", "ours-1", f"{FED}-YES")
    assert (ack.price, ack.qty, ack.filled_qty) == (Decimal("0.30"), Decimal(5), Decimal(0))
    sent = [r for r in fake.orders if r.order_id == ack.venue_order_id][0]
    assert (sent.side, sent.action, sent.price, sent.count) == ("yes", "buy", 30, 5)
    # the resting buy holds 5 x 30c of the balance
    assert client.balances()[0].available == Decimal("998.50")

    # a new client instance (a restart) finds it by our client order id
    again = client_for(fake).open_orders()
    assert [(o.venue_order_id, o.client_order_id, o.state) for o in again] == [
        (ack.venue_order_id, "ours-1", "open")
    ]
    assert client_for(fake).open_orders([f"{FED}-NO"]) == []

    assert client.cancel(f"{FED}-YES", ack.venue_order_id) is True
    assert client.open_orders() == []
    assert client.cancel(f"{FED}-YES", ack.venue_order_id) is False  # already done
    assert client.balances()[0].available == Decimal("1000.00")


def test_a_no_order_rests_as_a_no_price(fake):
    client = client_for(fake)
    ack = client.place(order("no-1", f"{FED}-NO", "buy", "0.40", 2))  # NO 0.40 = YES ask 0.60: no cross
    assert (ack.state, ack.symbol, ack.price) == ("open", f"{FED}-NO", Decimal("0.40"))
    assert client.cancel_all() == [ack.venue_order_id]


@pytest.mark.parametrize(
    ("req", "code", "words"),
    [
        (order("big", f"{FED}-YES", "buy", "0.99", 5000), "insufficient_funds", "insufficient_balance"),
        (order("closed", "KXSB-26-KC-YES", "buy", "0.50", 1), "market_closed", "market_closed"),
        (order("nope", "NOPE-26-X-YES", "buy", "0.50", 1), "unknown_symbol", "market_not_found"),
        (order("po", f"{FED}-YES", "buy", "0.45", 1, post_only=True), "post_only_would_cross", "post only"),
    ],
)
def test_venue_rejects_map_to_error_codes_with_kalshis_text(fake, req, code, words):
    with pytest.raises(OrderError) as exc:
        client_for(fake).place(req)
    assert exc.value.code == code and words in exc.value.venue_message
    assert exc.value.http_status in (400, 404)
    assert fake.orders == []


def test_duplicate_client_order_id_and_rate_limit_and_off_grid_price(fake):
    client = client_for(fake)
    client.place(order("dup", f"{FED}-YES", "buy", "0.10", 1))
    with pytest.raises(OrderError) as exc:
        client.place(order("dup", f"{FED}-YES", "buy", "0.11", 1))
    assert exc.value.http_status == 409 and "order_already_exists" in exc.value.venue_message
    fake.fail_http(1, 429)
    with pytest.raises(OrderError) as exc:
        client.balances()
    assert exc.value.code == "rate_limited"
    with pytest.raises(OrderError) as exc:
        client.place(order("tick", f"{FED}-YES", "buy", "0.305", 1))
    assert exc.value.code == "bad_tick"
    assert len(fake.orders) == 1


def test_partial_fill_against_the_no_bids_then_rests(fake):
    client = client_for(fake)
    # YES buy at 0.44 crosses the NO bid at 0.56 (>= 1 - 0.44): 146 fill, 54 rest
    ack = client.place(order("part", f"{FED}-YES", "buy", "0.44", 200))
    assert (ack.state, ack.filled_qty, ack.qty) == ("partially_filled", Decimal(146), Decimal(200))
    assert Decimal("0.56") not in dict(fake.book_levels(FED)["no"])
    (fill,) = client.recent_fills(time.time_ns() - 60 * 10**9)
    assert (fill.venue_order_id, fill.client_order_id, fill.symbol) == (
        ack.venue_order_id,
        "part",
        f"{FED}-YES",
    )
    assert (fill.side, fill.price, fill.qty, fill.liquidity) == (
        "buy",
        Decimal("0.44"),
        Decimal(146),
        "taker",
    )
    assert fill.venue_fill_id
    # 146 x 44c paid, 54 x 44c held for the resting rest
    assert client.balances()[0].available == Decimal("1000.00") - Decimal("64.24") - Decimal("23.76")
    (rest,) = client.open_orders()
    assert (rest.state, rest.filled_qty) == ("partially_filled", Decimal(146))
    assert client.recent_fills(time.time_ns() + 10**9) == []


def test_yes_bid_crosses_another_accounts_no_bid(fake):
    priv, pub = _new_key()
    fake.add_account("maker", pub, 10_000)
    maker = client_for(fake, "maker", priv)
    resting = maker.place(order("m-1", f"{FED}-YES", "buy", "0.30", 3))
    assert resting.state == "open"
    ours = client_for(fake).place(order("t-1", f"{FED}-NO", "buy", "0.70", 3, time_in_force="ioc"))
    assert (ours.state, ours.filled_qty) == ("filled", Decimal(3))
    (ours_fill,) = client_for(fake).recent_fills(0)
    (maker_fill,) = maker.recent_fills(0)
    assert (ours_fill.symbol, ours_fill.price, ours_fill.liquidity) == (f"{FED}-NO", Decimal("0.70"), "taker")
    assert (maker_fill.symbol, maker_fill.price, maker_fill.liquidity) == (
        f"{FED}-YES",
        Decimal("0.30"),
        "maker",
    )
    assert maker.open_orders() == []
    # a NO buy below 1 - 0.30 would not have crossed: IOC leaves nothing resting
    maker.place(order("m-2", f"{FED}-YES", "buy", "0.30", 3))
    miss = client_for(fake).place(order("t-2", f"{FED}-NO", "buy", "0.69", 3, time_in_force="ioc"))
    assert (miss.state, miss.filled_qty) == ("cancelled", Decimal(0))


# -- the fill channel ---------------------------------------------------------------------------------
def test_fills_and_order_updates_arrive_on_the_stream_and_a_duplicate_keeps_its_id(fake):
    client = client_for(fake)
    stream = client.user_stream()
    events: list = []
    with connect(
        stream.url(), additional_headers=stream.handshake_headers(), open_timeout=WS_CEILING_S
    ) as ws:
        for frame in stream.on_open():
            ws.send(frame)
        subscribed = [json.loads(ws.recv(timeout=WS_CEILING_S)) for _ in range(2)]
        assert sorted(m["msg"]["channel"] for m in subscribed) == ["fill", "user_orders"]
        # YES 0.46 crosses both NO bids: 146 @ 0.44 (NO 0.56) first, then 4 @ 0.46 (NO 0.54)
        ack = client.place(order("ws-1", f"{FED}-YES", "buy", "0.46", 150))

        def drain_until(pred):
            while not pred():
                events.extend(stream.on_frame(ws.recv(timeout=WS_CEILING_S), time.time_ns()))

        drain_until(lambda: len([e for e in events if isinstance(e, VenueFill)]) == 2)
        fake.resend_last_fill()
        drain_until(lambda: len([e for e in events if isinstance(e, VenueFill)]) == 3)
        drain_until(lambda: any(isinstance(e, OrderUpdate) for e in events))
    fills = [e for e in events if isinstance(e, VenueFill)]
    assert [(f.price, f.qty) for f in fills[:2]] == [
        (Decimal("0.44"), Decimal(146)),
        (Decimal("0.46"), Decimal(4)),
    ]
    assert all(f.client_order_id == "ws-1" and f.venue_order_id == ack.venue_order_id for f in fills)
    assert fills[2].venue_fill_id == fills[1].venue_fill_id  # the duplicate: same id, counted once by it
    assert len({f.venue_fill_id for f in fills}) == 2
    assert {f.venue_fill_id for f in fills} == {f.venue_fill_id for f in client.recent_fills(0)}
    update = [e for e in events if isinstance(e, OrderUpdate)][-1]
    assert update.order.venue_order_id == ack.venue_order_id and update.order.state == "filled"
    assert stream.on_frame("not json", 0) == [] and stream.on_frame(b'{"type":"fill"}', 0) == []
