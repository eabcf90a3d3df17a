"""Kalshi API-key signing: the three headers of a signed REST request or WebSocket handshake.

Kalshi (trade API v2) authenticates with an API key id and an RSA key pair: every signed request
carries

- `KALSHI-ACCESS-KEY`: the key id;
- `KALSHI-ACCESS-TIMESTAMP`: Unix time in **milliseconds**;
- `KALSHI-ACCESS-SIGNATURE`: base64 of an RSA-PSS signature (SHA-256, MGF1-SHA-256, salt length =
  the digest length, 32 bytes) over `timestamp + METHOD + path`, no separators, where `path` is the
  full path from the root (it includes `/trade-api/v2`) **without** the query string. No body is
  signed. The WebSocket handshake signs `timestamp + "GET" + "/trade-api/ws/v2"`.

(docs.kalshi.com getting_started/quick_start_authenticated_requests and quick_start_websockets;
../shared/venues/kalshi/NOTES.md items 1-5.) Kalshi documents no timestamp window, so every request
and handshake is signed afresh with the current time.

RSA-PSS is randomized: the same message signs differently each time, so a signature is checked by
verifying it with the public key (`verify_signature`), never by comparing bytes. The private key is
loaded from a PEM file or a PEM value (settings `KALSHI_PRIVATE_KEY_PATH` / `KALSHI_PRIVATE_KEY`) and
never appears in a repr, a log line or an exception message. No Django here.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = [
    "ACCESS_KEY",
    "ACCESS_SIGNATURE",
    "ACCESS_TIMESTAMP",
    "WS_PATH",
    "KalshiAuthError",
    "KalshiSigner",
    "load_public_key",
    "signed_path",
    "signing_message",
    "verify_signature",
]

ACCESS_KEY = "KALSHI-ACCESS-KEY"
ACCESS_TIMESTAMP = "KALSHI-ACCESS-TIMESTAMP"
ACCESS_SIGNATURE = "KALSHI-ACCESS-SIGNATURE"

#: The path the WebSocket handshake signs (not `/trade-api/v2/ws`: that is refused).
WS_PATH = "/trade-api/ws/v2"

# Salt length = digest length (32 bytes for SHA-256): PSS.MAX_LENGTH is refused by Kalshi.
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


class KalshiAuthError(ValueError):
    """The key material is missing or unusable (the message never contains the key)."""


def signed_path(path_or_url: str) -> str:
    """The part of a request target Kalshi signs: the path, without query string or fragment.

    Accepts a full URL (`wss://host/trade-api/ws/v2?x=1` → `/trade-api/ws/v2`) or a path with a
    query (`/trade-api/v2/portfolio/orders?limit=5` → `/trade-api/v2/portfolio/orders`)."""
    parts = urlsplit(path_or_url)
    path = parts.path or "/"
    if not path.startswith("/"):
        path = "/" + path
    return path


def signing_message(timestamp_ms: int, method: str, path: str) -> bytes:
    """The exact bytes Kalshi signs: `timestamp + METHOD + path` (path without its query)."""
    if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int) or timestamp_ms <= 0:
        raise ValueError("timestamp_ms must be a positive integer (Unix time in milliseconds)")
    return f"{timestamp_ms}{method.upper()}{signed_path(path)}".encode()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class KalshiSigner:
    """Signs Kalshi requests with one API key (id + RSA private key)."""

    __slots__ = ("key_id", "_key", "_now_ms")

    def __init__(
        self, key_id: str, private_key: rsa.RSAPrivateKey, *, now_ms: Callable[[], int] = _now_ms
    ) -> None:
        if not isinstance(key_id, str) or not key_id.strip():
            raise KalshiAuthError("Kalshi API key id is empty")
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise KalshiAuthError("Kalshi private key must be an RSA private key")
        self.key_id = key_id.strip()
        self._key = private_key
        self._now_ms = now_ms

    # -- loading -----------------------------------------------------------------------------------
    @classmethod
    def from_pem(
        cls,
        key_id: str,
        pem: str | bytes,
        *,
        password: bytes | None = None,
        now_ms: Callable[[], int] = _now_ms,
    ) -> KalshiSigner:
        """From a PEM private key (PKCS#1 "RSA PRIVATE KEY", as Kalshi hands it out, or PKCS#8)."""
        data = pem.encode() if isinstance(pem, str) else pem
        # A value pasted into an env file often has its newlines escaped as "\n".
        if b"\\n" in data and b"\n" not in data.strip():
            data = data.replace(b"\\n", b"\n")
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            # The library's message may quote the input: say only what is wrong.
            raise KalshiAuthError("Kalshi private key is not a readable PEM private key") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise KalshiAuthError("Kalshi private key must be an RSA key")
        return cls(key_id, key, now_ms=now_ms)

    @classmethod
    def from_settings(
        cls,
        key_id: str | None,
        *,
        private_key_path: str | None = None,
        private_key_pem: str | None = None,
        now_ms: Callable[[], int] = _now_ms,
    ) -> KalshiSigner | None:
        """From settings values: None when no key is configured at all (public use only); raises
        `KalshiAuthError` when it is configured half-way or the key can't be read."""
        if not key_id and not private_key_path and not private_key_pem:
            return None
        if not key_id:
            raise KalshiAuthError("KALSHI_API_KEY_ID is not set but a Kalshi private key is")
        if private_key_pem:
            return cls.from_pem(key_id, private_key_pem, now_ms=now_ms)
        if not private_key_path:
            raise KalshiAuthError("KALSHI_API_KEY_ID is set but no KALSHI_PRIVATE_KEY(_PATH)")
        try:
            data = Path(private_key_path).expanduser().read_bytes()
        except OSError as exc:
            raise KalshiAuthError(
                f"cannot read the Kalshi private key file {private_key_path}: {exc.strerror}"
            ) from None
        return cls.from_pem(key_id, data, now_ms=now_ms)

    # -- signing -----------------------------------------------------------------------------------
    def sign(self, timestamp_ms: int, method: str, path: str) -> str:
        """The base64 signature of `timestamp + METHOD + path` (path's query dropped)."""
        raw = self._key.sign(signing_message(timestamp_ms, method, path), _PSS, hashes.SHA256())
        return base64.b64encode(raw).decode("ascii")

    def headers(self, method: str, path_or_url: str, *, timestamp_ms: int | None = None) -> dict[str, str]:
        """The three auth headers for one request (a fresh timestamp unless one is given)."""
        ts = self._now_ms() if timestamp_ms is None else timestamp_ms
        return {
            ACCESS_KEY: self.key_id,
            ACCESS_TIMESTAMP: str(ts),
            ACCESS_SIGNATURE: self.sign(ts, method, path_or_url),
        }

    def ws_headers(self, ws_url: str | None = None, *, timestamp_ms: int | None = None) -> dict[str, str]:
        """Headers of the WebSocket upgrade: a GET over the URL's path (`/trade-api/ws/v2`)."""
        return self.headers("GET", ws_url or WS_PATH, timestamp_ms=timestamp_ms)

    def public_key(self) -> rsa.RSAPublicKey:
        return self._key.public_key()

    def __repr__(self) -> str:  # never the key
        return f"KalshiSigner(key_id={self.key_id!r})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:  # not picklable: a key must not travel into a task queue by accident
        raise TypeError("KalshiSigner holds a private key and is not picklable")


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    """An RSA public key from PEM (SubjectPublicKeyInfo or PKCS#1)."""
    data = pem.encode() if isinstance(pem, str) else pem
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, rsa.RSAPublicKey):
        raise KalshiAuthError("not an RSA public key")
    return key


def verify_signature(
    public_key: rsa.RSAPublicKey, signature_b64: str, timestamp_ms: int, method: str, path: str
) -> bool:
    """True when `signature_b64` is a valid Kalshi signature of (timestamp, method, path) under
    `public_key` with exactly Kalshi's PSS parameters (a MAX_LENGTH salt does not verify)."""
    try:
        raw = base64.b64decode(signature_b64, validate=True)
        public_key.verify(raw, signing_message(timestamp_ms, method, path), _PSS, hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        return False
    return True
