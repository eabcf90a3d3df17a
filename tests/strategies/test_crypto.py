"""sequence_site.crypto: AES-GCM sealing bound to a row and a purpose."""

from __future__ import annotations

import os

import pytest

from sequence_site.crypto import SealError, open_sealed, seal


def test_round_trip_and_fresh_nonces():
    one = seal(b"token", purpose="strategy.secrets", row_id="row-1")
    two = seal(b"token", purpose="strategy.secrets", row_id="row-1")
    assert one.nonce != two.nonce and one.ciphertext != two.ciphertext
    assert b"token" not in one.ciphertext
    assert open_sealed(one.ciphertext, one.nonce, purpose="strategy.secrets", row_id="row-1") == b"token"


@pytest.mark.parametrize(
    ("purpose", "row_id"), [("strategy.secrets", "row-2"), ("strategy.sequence_api_key", "row-1")]
)
def test_a_ciphertext_moved_to_another_row_or_purpose_does_not_open(purpose, row_id):
    sealed = seal(b"token", purpose="strategy.secrets", row_id="row-1")
    with pytest.raises(SealError) as info:
        open_sealed(sealed.ciphertext, sealed.nonce, purpose=purpose, row_id=row_id)
    assert "token" not in str(info.value)


def test_tampering_and_a_wrong_key_are_detected():
    sealed = seal(b"token", purpose="p", row_id="r")
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    with pytest.raises(SealError):
        open_sealed(flipped, sealed.nonce, purpose="p", row_id="r")
    with pytest.raises(SealError):
        open_sealed(sealed.ciphertext, sealed.nonce, purpose="p", row_id="r", key=os.urandom(32))
    with pytest.raises(SealError, match="malformed nonce"):
        open_sealed(sealed.ciphertext, b"short", purpose="p", row_id="r")


def test_sealing_needs_a_binding():
    with pytest.raises(ValueError):
        seal(b"x", purpose="", row_id="r")
    with pytest.raises(ValueError):
        seal(b"x", purpose="p", row_id="")
