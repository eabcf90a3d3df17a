"""POST /v1/venues/{venue}/connect, GET /v1/venues, DELETE /v1/venues/{venue} against the four
strict fake venues: good credentials are checked with the venue and stored sealed, bad ones answer
422 with the venue's own words and store nothing, an unreachable venue answers 503; the secret is
in no response and no log line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from sequence_site import crypto
from tests.conftest import ApiCaller
from tests.trading.live_venues import VENUE_NAMES, FakeVenue, closed_port_url, fake_venue
from trading.credentials import PURPOSE, venue_credentials_open
from trading.models import VenueCredential


@pytest.fixture(params=VENUE_NAMES)
def venue(request, settings) -> Iterator[FakeVenue]:
    with fake_venue(request.param) as fake:
        for name, value in fake.settings.items():
            setattr(settings, name, value)
        yield fake


@pytest.fixture
def live(client, live_key) -> ApiCaller:
    return ApiCaller(client, live_key.plaintext)


@pytest.fixture
def logs(caplog) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_nowhere(fake: FakeVenue, *texts: str) -> None:
    for secret in fake.secrets():
        for text in texts:
            assert secret not in text


def test_good_credentials_are_verified_stored_sealed_and_listed(live, venue, owner, logs):
    status, out = live.post(
        f"/v1/venues/{venue.name}/connect", json={"credentials": venue.good, "label": "main"}
    )
    assert status == 201, out
    assert out["venue"] == venue.name and out["label"] == "main"
    assert out["fields"] == list(venue.good) and out["last_verified_at"]
    assert out["balances"] and all(set(b) == {"asset", "total", "available"} for b in out["balances"])

    cred = VenueCredential.objects.get(client=owner, venue=venue.name)
    assert cred.label == "main" and cred.last_verified_at is not None
    # sealed: the row holds no secret in clear, and it opens (bound to this row) to what was sent
    stored = bytes(cred.ciphertext) + bytes(cred.nonce)
    for secret in venue.secrets():
        assert secret.encode() not in stored
    plain = json.loads(crypto.open_sealed(cred.ciphertext, cred.nonce, purpose=PURPOSE, row_id=str(cred.pk)))
    assert plain.keys() == venue.good.keys()
    opened = venue_credentials_open(client_id=owner.pk, venue=venue.name)
    assert opened is not None and opened[0] == plain

    status, listed = live.get("/v1/venues")
    assert status == 200
    (row,) = listed["connections"]
    assert row["venue"] == venue.name and row["label"] == "main" and row["created_at"]
    assert listed["venues"][venue.name]["fields"] == list(venue.good)
    assert_nowhere(venue, json.dumps(out), json.dumps(listed), logs.text)


def test_bad_credentials_answer_422_in_the_venues_words_and_store_nothing(live, venue, logs):
    status, out = live.post(f"/v1/venues/{venue.name}/connect", json={"credentials": venue.bad})
    assert status == 422, out
    assert out["error"] == "venue_auth_failed"
    assert out["details"]["venue"] == venue.name and out["details"]["venue_code"] == "auth_failed"
    assert venue.refusal in out["details"]["venue_message"]
    assert out["message"].startswith(f"{venue.name} refused these credentials")
    assert venue.refusal in out["message"]
    assert not VenueCredential.objects.exists()
    assert_nowhere(venue, json.dumps(out), logs.text)


def test_an_unreachable_venue_answers_503_and_stores_nothing(live, venue, settings, logs):
    setattr(settings, f"VENUE_ORDERS_{venue.name.upper()}_REST_URL", closed_port_url())
    status, out = live.post(f"/v1/venues/{venue.name}/connect", json={"credentials": venue.good})
    assert status == 503, out
    assert out["error"] == "venue_unreachable" and "nothing was stored" in out["message"]
    assert not VenueCredential.objects.exists()
    assert_nowhere(venue, json.dumps(out), logs.text)


def test_connect_again_replaces_then_disconnect_deletes(live, venue, owner):
    assert live.post(f"/v1/venues/{venue.name}/connect", json={"credentials": venue.good})[0] == 201
    first = VenueCredential.objects.get(client=owner, venue=venue.name)
    status, _ = live.post(
        f"/v1/venues/{venue.name}/connect", json={"credentials": venue.good, "label": "again"}
    )
    assert status == 201
    again = VenueCredential.objects.get(client=owner, venue=venue.name)
    assert again.pk == first.pk and again.label == "again" and bytes(again.nonce) != bytes(first.nonce)

    # bad credentials later leave the stored good ones alone
    assert live.post(f"/v1/venues/{venue.name}/connect", json={"credentials": venue.bad})[0] == 422
    assert VenueCredential.objects.get(client=owner, venue=venue.name).nonce == again.nonce

    status, out = live.delete(f"/v1/venues/{venue.name}")
    assert status == 200 and out == {"venue": venue.name, "disconnected": True}
    assert not VenueCredential.objects.exists()
    status, out = live.delete(f"/v1/venues/{venue.name}")
    assert status == 404 and out["error"] == "not_found"


@pytest.mark.parametrize("venue", ["kalshi", "coinbase"], indirect=True)
def test_a_pem_pasted_without_line_breaks_or_with_literal_backslash_n_connects(live, venue):
    pem = venue.good["private_key"]
    for pasted in (pem.replace("\n", ""), pem.replace("\n", "\\n")):
        creds = {**venue.good, "private_key": pasted}
        status, out = live.post(f"/v1/venues/{venue.name}/connect", json={"credentials": creds})
        assert status == 201, out


def test_wrong_fields_unknown_venue_and_another_clients_connection(client, live, live_key, settings):
    with fake_venue("kraken") as kraken:
        for name, value in kraken.settings.items():
            setattr(settings, name, value)
        status, out = live.post("/v1/venues/kraken/connect", json={"credentials": {"api_key": "k"}})
        assert status == 400 and "missing credential fields for kraken: api_secret" in out["message"]
        status, out = live.post(
            "/v1/venues/kraken/connect", json={"credentials": {**kraken.good, "passphrase": "x"}}
        )
        assert status == 400 and "unknown credential fields for kraken: passphrase" in out["message"]
        status, out = live.post("/v1/venues/binance/connect", json={"credentials": kraken.good})
        assert status == 400 and "unknown venue 'binance'" in out["message"]
        assert kraken.server.http_requests == []  # none of these reached the venue

        assert live.post("/v1/venues/kraken/connect", json={"credentials": kraken.good})[0] == 201

    from sequence_site import services
    from sequence_site.models import Mode

    stranger = services.client_get_or_create(name="Someone Else")
    other = ApiCaller(client, services.api_key_create(client=stranger, mode=Mode.LIVE, name="x").plaintext)
    status, out = other.get("/v1/venues")
    assert status == 200 and out["connections"] == []
    status, out = other.delete("/v1/venues/kraken")
    assert status == 404
    assert VenueCredential.objects.filter(venue="kraken").count() == 1


def test_malformed_credentials_are_refused_without_echoing_them(live, settings, logs):
    with fake_venue("kraken") as kraken:
        for name, value in kraken.settings.items():
            setattr(settings, name, value)
        secret = kraken.good["api_secret"]
        for body in (
            {"credentials": secret},
            {"credentials": [secret]},
            {"credentials": {"api_key": kraken.good["api_key"], "api_secret": [secret]}},
            {"credentials": kraken.good, "label": secret * 3},
        ):
            status, out = live.post("/v1/venues/kraken/connect", json=body)
            assert status == 400, out
            assert secret not in json.dumps(out) and secret not in logs.text
        assert not VenueCredential.objects.exists()


def test_disconnect_is_refused_while_a_live_order_is_open_there(live, settings, owner):
    from edges import services as edge_services
    from trading.models import Order

    with fake_venue("kraken") as kraken:
        for name, value in kraken.settings.items():
            setattr(settings, name, value)
        settings.LIVE_TRADING_VENUES = ("kraken",)
        edge_services.edge_register(
            edge_id="venue-edge-kraken-live", venue="kraken", is_sandbox=False, symbols=[], algo_capable=False
        )
        assert live.post("/v1/venues/kraken/connect", json={"credentials": kraken.good})[0] == 201
        node = {"node_id": "a", "venue": "kraken", "symbol": "BTC-USD", "side": "buy", "qty": "0.001",
                "limit_price": "1000"}  # fmt: skip
        status, out = live.post("/v1/graphs", json={"nodes": [node], "edges": [], "sandbox": False})
        assert status == 201, out
        assert Order.objects.filter(client=owner, venue="kraken", paper=False, status="new").count() == 1

        status, out = live.delete("/v1/venues/kraken")
        assert status == 409 and out["error"] == "conflict"
        assert out["message"].startswith("1 live order(s) are open at kraken: cancel them")
        assert VenueCredential.objects.filter(client=owner, venue="kraken").exists()
