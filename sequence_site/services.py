"""Writes for clients and API keys. The management command, the dashboard and the API all call these."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser, User
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from sequence_site.errors import AuthenticationFailed, InvalidInput
from sequence_site.models import ApiKey, Client, ClientMember, Mode
from sequence_site.scope import Scope

_ALPHABET = string.ascii_letters + string.digits
_LOOKUP_LEN = 12
_SECRET_LEN = 32
KEY_PATTERN = re.compile(rf"^seq_(live|test)_([A-Za-z0-9]{{{_LOOKUP_LEN}}})([A-Za-z0-9]{{{_SECRET_LEN}}})$")
# Writing last_used_at on every request would turn every read into a write; once a minute is plenty.
_LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key: ``plaintext`` exists only here, to be shown once, and is never stored."""

    api_key: ApiKey
    plaintext: str


def _digest(plaintext: str) -> str:
    # Keys carry ~190 bits of randomness, so a fast hash is safe: nothing to brute-force.
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def client_get_or_create(*, name: str) -> Client:
    name = name.strip()
    if not name:
        raise InvalidInput("A client needs a name.")
    client = Client.objects.filter(name=name).first()
    if client is not None:
        return client
    base = (slugify(name) or "client")[:20]
    short_code = base
    while Client.objects.filter(short_code=short_code).exists():
        short_code = f"{base}-{_random(4).lower()}"
    return Client.objects.create(name=name, short_code=short_code)


def client_add_member(*, client: Client, user: AbstractBaseUser) -> ClientMember:
    member, _ = ClientMember.objects.update_or_create(user=user, defaults={"client": client})
    return member


def api_key_create(
    *, client: Client, mode: Mode, name: str = "", created_by: User | None = None
) -> CreatedKey:
    if len(name) > 100:
        raise InvalidInput("A key name is at most 100 characters.")
    lookup_id = _random(_LOOKUP_LEN)
    plaintext = f"seq_{mode.value}_{lookup_id}{_random(_SECRET_LEN)}"
    api_key = ApiKey.objects.create(
        client=client,
        is_sandbox=mode.is_sandbox,
        name=name.strip(),
        lookup_id=lookup_id,
        key_hash=_digest(plaintext),
        created_by=created_by,
    )
    return CreatedKey(api_key=api_key, plaintext=plaintext)


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke at once: authentication reads the row on every request, so no cache can outlive this."""
    with transaction.atomic():
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db()
    return api_key


def bearer_token(header: str) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header value; None when it is not one."""
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def api_key_authenticate(*, token: str) -> Scope:
    """The scope a bearer token acts in, or ``AuthenticationFailed`` saying what is wrong with it."""
    match = KEY_PATTERN.match(token)
    if match is None:
        raise AuthenticationFailed(
            "Malformed API key: expected seq_live_... or seq_test_... followed by 44 letters and digits."
        )
    mode, lookup_id, _ = match.groups()
    api_key = ApiKey.objects.select_related("client").filter(lookup_id=lookup_id).first()
    # Compare even when no row matched, so a miss costs the same as a wrong secret.
    expected = api_key.key_hash if api_key is not None else "0" * 64
    if not hmac.compare_digest(expected, _digest(token)) or api_key is None:
        raise AuthenticationFailed("Unknown API key.")
    if api_key.mode.value != mode:  # unreachable unless the row was edited by hand; never trust it
        raise AuthenticationFailed("Unknown API key.")
    if api_key.revoked_at is not None:
        raise AuthenticationFailed("This API key has been revoked.")
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > _LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return Scope(client=api_key.client, is_sandbox=api_key.is_sandbox, api_key=api_key)
