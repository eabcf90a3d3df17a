"""Kalshi request signing against the rules in ../shared/venues/kalshi/NOTES.md (items 1-5 and
"Auth checks"): the signed string, the PSS parameters, and each mistake that Kalshi refuses.

RSA-PSS is randomized, so a signature is checked by verifying it: with our verifier, and with the
`openssl` command line as an implementation independent of ours and of `cryptography`'s Python API.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from venues.kalshi.auth import (
    ACCESS_KEY,
    ACCESS_SIGNATURE,
    ACCESS_TIMESTAMP,
    KalshiAuthError,
    KalshiSigner,
    load_public_key,
    signing_message,
    verify_signature,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fakevenues" / "fixtures" / "kalshi"
PRIVATE_PEM = (FIXTURES / "test_private_key.pem").read_bytes()
PUBLIC_PEM = (FIXTURES / "test_public_key.pem").read_bytes()
OTHER_PEM = (FIXTURES / "other_private_key.pem").read_bytes()
TS = 1703123456789  # the docs' example timestamp (ms)


@pytest.fixture
def signer() -> KalshiSigner:
    return KalshiSigner.from_pem("test-key-id", PRIVATE_PEM)


def test_signed_string_is_timestamp_method_path_without_query():
    # NOTES item 2, the docs' own example, and the query rule.
    assert signing_message(TS, "GET", "/trade-api/v2/portfolio/balance") == (
        b"1703123456789GET/trade-api/v2/portfolio/balance"
    )
    assert signing_message(TS, "get", "/trade-api/v2/portfolio/orders?limit=5") == (
        b"1703123456789GET/trade-api/v2/portfolio/orders"
    )
    assert signing_message(TS, "GET", "wss://api.elections.kalshi.com/trade-api/ws/v2") == (
        b"1703123456789GET/trade-api/ws/v2"
    )
    with pytest.raises(ValueError):
        signing_message(0, "GET", "/x")


def test_headers_carry_key_id_ms_timestamp_and_a_verifiable_signature(signer):
    headers = signer.ws_headers("ws://127.0.0.1:1/trade-api/ws/v2", timestamp_ms=TS)
    assert headers[ACCESS_KEY] == "test-key-id"
    assert headers[ACCESS_TIMESTAMP] == "1703123456789"
    pub = load_public_key(PUBLIC_PEM)
    assert verify_signature(pub, headers[ACCESS_SIGNATURE], TS, "GET", "/trade-api/ws/v2")
    # A fresh timestamp in milliseconds when none is given (13 digits in this century).
    fresh = signer.ws_headers()
    assert len(fresh[ACCESS_TIMESTAMP]) == 13 and fresh[ACCESS_TIMESTAMP].isdigit()


def test_signature_is_randomized_and_each_verifies(signer):
    pub = load_public_key(PUBLIC_PEM)
    a = signer.sign(TS, "GET", "/trade-api/v2/portfolio/balance")
    b = signer.sign(TS, "GET", "/trade-api/v2/portfolio/balance")
    assert a != b  # PSS salt: never compare signature bytes
    assert verify_signature(pub, a, TS, "GET", "/trade-api/v2/portfolio/balance")
    assert verify_signature(pub, b, TS, "GET", "/trade-api/v2/portfolio/balance")
    assert len(base64.b64decode(a)) == 256  # a 2048-bit key


def test_openssl_verifies_our_signature_with_kalshi_pss_parameters(signer, tmp_path):
    """An independent implementation: openssl, PSS with SHA-256 and a 32-byte salt."""
    message = signing_message(TS, "POST", "/trade-api/v2/portfolio/orders")
    (tmp_path / "msg").write_bytes(message)
    (tmp_path / "sig").write_bytes(
        base64.b64decode(signer.sign(TS, "POST", "/trade-api/v2/portfolio/orders"))
    )
    (tmp_path / "pub.pem").write_bytes(PUBLIC_PEM)
    cmd = [
        "openssl",
        "dgst",
        "-sha256",
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:32",
        "-sigopt",
        "rsa_mgf1_md:sha256",
        "-verify",
        str(tmp_path / "pub.pem"),
        "-signature",
        str(tmp_path / "sig"),
        str(tmp_path / "msg"),
    ]
    ok = subprocess.run(cmd, capture_output=True, text=True)
    assert ok.returncode == 0 and "Verified OK" in ok.stdout
    # The same check fails on another message: the tool really verifies.
    (tmp_path / "msg").write_bytes(message + b"x")
    assert subprocess.run(cmd, capture_output=True, text=True).returncode != 0


@pytest.mark.parametrize(
    "mistake",
    ["other_key", "ws_path_swapped", "post_handshake", "seconds", "query_signed", "max_salt", "garbage"],
)
def test_each_documented_mistake_fails_verification(signer, mistake):
    """NOTES "Auth checks": each of these was refused by Kalshi's own check."""
    pub = load_public_key(PUBLIC_PEM)
    path, method, ts = "/trade-api/ws/v2", "GET", TS
    if mistake == "other_key":
        sig = KalshiSigner.from_pem("test-key-id", OTHER_PEM).sign(ts, method, path)
    elif mistake == "ws_path_swapped":
        sig = signer.sign(ts, method, "/trade-api/v2/ws")
    elif mistake == "post_handshake":
        sig = signer.sign(ts, "POST", path)
    elif mistake == "seconds":
        sig = signer.sign(ts // 1000, method, path)
    elif mistake == "query_signed":
        # Sign the raw text with the query kept (what a wrong client does) and verify the REST rule.
        key = serialization.load_pem_private_key(PRIVATE_PEM, password=None)
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
        raw = key.sign(b"%dGET/trade-api/v2/portfolio/orders?limit=5" % ts, pss, hashes.SHA256())
        sig, path = base64.b64encode(raw).decode(), "/trade-api/v2/portfolio/orders?limit=5"
    elif mistake == "max_salt":
        key = serialization.load_pem_private_key(PRIVATE_PEM, password=None)
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
        sig = base64.b64encode(key.sign(signing_message(ts, method, path), pss, hashes.SHA256())).decode()
    else:
        sig = "not base64 at all!"
    assert not verify_signature(pub, sig, ts, method, path)


def test_key_never_shows_in_repr_or_errors(signer):
    pem_body = PRIVATE_PEM.decode().splitlines()[1]
    assert "test-key-id" in repr(signer) and pem_body not in repr(signer) and "PRIVATE" not in str(signer)
    with pytest.raises(KalshiAuthError) as err:
        KalshiSigner.from_pem(
            "k", "-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LXN0dWZm\n-----END RSA PRIVATE KEY-----"
        )
    assert "c2VjcmV0" not in str(err.value)
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(signer)


def test_from_settings(tmp_path):
    assert KalshiSigner.from_settings(None) is None  # nothing configured: public use only
    key_file = tmp_path / "kalshi.pem"
    key_file.write_bytes(PRIVATE_PEM)
    by_path = KalshiSigner.from_settings("kid", private_key_path=str(key_file))
    assert by_path is not None and by_path.key_id == "kid"
    # A PEM value pasted into an env file with "\n" escapes.
    escaped = PRIVATE_PEM.decode().strip().replace("\n", "\\n")
    by_value = KalshiSigner.from_settings("kid", private_key_pem=escaped)
    pub = load_public_key(PUBLIC_PEM)
    assert verify_signature(pub, by_value.sign(TS, "GET", "/a"), TS, "GET", "/a")
    with pytest.raises(KalshiAuthError):
        KalshiSigner.from_settings(None, private_key_path=str(key_file))  # key without id
    with pytest.raises(KalshiAuthError):
        KalshiSigner.from_settings("kid")  # id without key
    with pytest.raises(KalshiAuthError, match="cannot read"):
        KalshiSigner.from_settings("kid", private_key_path=str(tmp_path / "missing.pem"))
