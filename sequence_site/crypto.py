"""AEAD sealing of secrets at rest (AES-256-GCM under ``settings.CREDENTIAL_ENCRYPTION_KEY``).

Every sealed value is bound to *where it lives* through the associated data: a purpose (what kind
of secret) and the id of the row that holds it. A ciphertext copied into another row or column
(by a bug, an SQL injection or a careless admin) fails to open instead of handing its secret to
the wrong strategy. The nonce is random per seal (96 bits; a key seals far fewer than 2**32 values)
and stored beside the ciphertext.

    sealed = seal(b"token", purpose="strategy.secrets", row_id=str(strategy.pk))
    open_sealed(sealed.ciphertext, sealed.nonce, purpose="strategy.secrets", row_id=str(strategy.pk))
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

# Bumped if the associated-data layout or the algorithm ever changes, so old rows stay readable
# by a branch on the version instead of failing mysteriously.
_FORMAT = "v1"
NONCE_BYTES = 12


class SealError(Exception):
    """A sealed value could not be opened: wrong key, wrong row or purpose, or tampered bytes.

    The message never contains the value or the key."""


@dataclass(frozen=True, slots=True)
class Sealed:
    ciphertext: bytes
    nonce: bytes


def _aad(purpose: str, row_id: str) -> bytes:
    if not purpose or not row_id:
        raise ValueError("Sealing needs a purpose and a row id to bind the ciphertext to.")
    return f"sequence:{_FORMAT}:{purpose}:{row_id}".encode()


def _cipher(key: bytes | None) -> AESGCM:
    key = settings.CREDENTIAL_ENCRYPTION_KEY if key is None else key
    if len(key) != 32:
        raise ValueError("CREDENTIAL_ENCRYPTION_KEY must be 32 bytes.")
    return AESGCM(key)


def seal(plaintext: bytes, *, purpose: str, row_id: str, key: bytes | None = None) -> Sealed:
    """Encrypt and authenticate ``plaintext`` for the row ``row_id`` and the given purpose."""
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = _cipher(key).encrypt(nonce, plaintext, _aad(purpose, row_id))
    return Sealed(ciphertext=ciphertext, nonce=nonce)


def open_sealed(
    ciphertext: bytes | memoryview,
    nonce: bytes | memoryview | None,
    *,
    purpose: str,
    row_id: str,
    key: bytes | None = None,
) -> bytes:
    """The plaintext of a sealed value, or ``SealError`` when it was not sealed for this row/purpose.

    Takes the column values as the database driver gives them (a BinaryField may read as memoryview)."""
    if nonce is None or len(nonce) != NONCE_BYTES:
        raise SealError(f"Cannot open the sealed {purpose}: malformed nonce.")
    try:
        return _cipher(key).decrypt(bytes(nonce), bytes(ciphertext), _aad(purpose, row_id))
    except InvalidTag:
        raise SealError(
            f"Cannot open the sealed {purpose}: it was sealed for another row or under another key, "
            "or it was altered."
        ) from None
