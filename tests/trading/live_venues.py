"""The four strict fake venues as `sequence connect` meets them: a running fake, the settings that
point the platform's order clients at it, a funded account's good credentials, bad ones (a real
account's, with one field from another key) and the venue's own words for refusing them.

Shared by the API, CLI and browser tests of connecting (tests/trading/test_venue_connect_api.py,
tests/sequence_markets/test_cli_live.py, tests/browser/test_venues.py).
"""

from __future__ import annotations

import base64
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakevenues.base import FakeVenueServer

VENUE_NAMES = ("kraken", "coinbase", "kalshi", "polymarket")
# Hardhat's well-known development keys (public knowledge, no funds anywhere).
POLY_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
POLY_OTHER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


@dataclass
class FakeVenue:
    name: str
    server: FakeVenueServer
    settings: dict[str, str]  # VENUE_ORDERS_<VENUE>_REST_URL/_WS_URL → the fake
    good: dict[str, str]
    bad: dict[str, str]
    refusal: str  # a part of the venue's own words for `bad`

    def secrets(self) -> list[str]:
        """Every credential value that must never come back out (long enough to search for)."""
        return [v for creds in (self.good, self.bad) for v in creds.values() if len(v) >= 12]


def _rsa_pem() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def _urls(name: str, rest: str, ws: str = "") -> dict[str, str]:
    v = name.upper()
    return {f"VENUE_ORDERS_{v}_REST_URL": rest, f"VENUE_ORDERS_{v}_WS_URL": ws}


@contextlib.contextmanager
def fake_venue(name: str) -> Iterator[FakeVenue]:
    """A running strict fake of `name` with one funded account; stopped on exit."""
    if name == "kraken":
        from tests.fakevenues.kraken import KrakenFake

        server = KrakenFake()
        with server:
            key, secret = server.add_account({"USD": "1000", "ETH": "2"})
            other_secret = base64.b64encode(b"another secret, another key!" * 2).decode()
            yield FakeVenue(
                name,
                server,
                _urls(name, server.url),
                {"api_key": key, "api_secret": secret},
                {"api_key": key, "api_secret": other_secret},
                "EAPI:Invalid signature",
            )
    elif name == "coinbase":
        from tests.fakevenues.coinbase import FakeCoinbase, new_cdp_key

        server = FakeCoinbase()
        with server:
            key_name, pem, public = new_cdp_key()
            server.add_account(key_name, public, {"USD": "5000", "BTC": "1"})
            _, other_pem, _ = new_cdp_key()
            yield FakeVenue(
                name,
                server,
                _urls(name, server.url, server.ws_url),
                {"key_name": key_name, "private_key": pem},
                {"key_name": key_name, "private_key": other_pem},
                "Unauthorized",
            )
    elif name == "kalshi":
        from tests.fakevenues.kalshi import FakeKalshi

        server = FakeKalshi()
        with server:
            private, public = _rsa_pem()
            server.add_account("live-ui-key", public, 125_000)
            other, _ = _rsa_pem()
            yield FakeVenue(
                name,
                server,
                _urls(name, server.url + "/trade-api/v2", server.ws_url),
                {"key_id": "live-ui-key", "private_key": private},
                {"key_id": "live-ui-key", "private_key": other},
                "bad signature",
            )
    elif name == "polymarket":
        from tests.fakevenues.polymarket import FakePolymarket

        server = FakePolymarket.from_fixtures()
        with server:
            good = server.trading.add_account(POLY_KEY, usdc="250")
            other = server.trading.add_account(POLY_OTHER_KEY, usdc="1")
            yield FakeVenue(
                name,
                server,
                _urls(name, server.url, server.url.replace("http", "ws") + "/ws/user"),
                good,
                {**good, "api_secret": other["api_secret"]},
                "Unauthorized/Invalid api key",
            )
    else:
        raise ValueError(name)


def closed_port_url() -> str:
    """An http URL where nothing listens: the venue is unreachable."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
