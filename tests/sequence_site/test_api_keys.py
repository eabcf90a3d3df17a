"""Key creation, storage and scoping (services and selectors)."""

from __future__ import annotations

import hashlib

import pytest

from sequence_site import selectors, services
from sequence_site.errors import AuthenticationFailed, InvalidInput, NotFound
from sequence_site.models import ApiKey, Mode
from sequence_site.scope import Scope


def test_key_format_and_mode_from_prefix(owner):
    sandbox = services.api_key_create(client=owner, mode=Mode.SANDBOX)
    live = services.api_key_create(client=owner, mode=Mode.LIVE)
    assert services.KEY_PATTERN.match(sandbox.plaintext)
    assert sandbox.plaintext.startswith("seq_test_") and sandbox.api_key.is_sandbox is True
    assert live.plaintext.startswith("seq_live_") and live.api_key.is_sandbox is False
    assert services.api_key_authenticate(token=sandbox.plaintext).is_sandbox is True
    assert services.api_key_authenticate(token=live.plaintext).is_sandbox is False


def test_only_a_hash_is_stored(owner, django_db_blocker):
    created = services.api_key_create(client=owner, mode=Mode.SANDBOX)
    row = ApiKey.objects.get(pk=created.api_key.pk)
    assert row.key_hash == hashlib.sha256(created.plaintext.encode()).hexdigest()
    secret_part = created.plaintext[len("seq_test_") + 12 :]
    # No column of any row holds the clear key or its secret part.
    for value in ApiKey.objects.values_list().get(pk=row.pk):
        assert created.plaintext not in str(value)
        assert secret_part not in str(value)


def test_keys_are_unique(owner):
    keys = {services.api_key_create(client=owner, mode=Mode.SANDBOX).plaintext for _ in range(20)}
    assert len(keys) == 20


def test_authenticate_updates_last_used(owner):
    created = services.api_key_create(client=owner, mode=Mode.SANDBOX)
    assert created.api_key.last_used_at is None
    services.api_key_authenticate(token=created.plaintext)
    created.api_key.refresh_from_db()
    assert created.api_key.last_used_at is not None


def test_revoke_is_idempotent_and_keeps_first_time(owner):
    created = services.api_key_create(client=owner, mode=Mode.LIVE)
    first = services.api_key_revoke(api_key=created.api_key).revoked_at
    second = services.api_key_revoke(api_key=created.api_key).revoked_at
    assert first is not None and first == second
    with pytest.raises(AuthenticationFailed, match="revoked"):
        services.api_key_authenticate(token=created.plaintext)


def test_client_never_sees_another_clients_keys(owner, stranger):
    mine = services.api_key_create(client=owner, mode=Mode.SANDBOX)
    theirs = services.api_key_create(client=stranger, mode=Mode.SANDBOX)
    scope = Scope(client=owner, is_sandbox=True)
    assert list(selectors.api_key_list(scope=scope)) == [mine.api_key]
    with pytest.raises(NotFound):
        selectors.api_key_get(scope=scope, key_id=theirs.api_key.pk)


def test_key_list_is_scoped_by_mode(owner):
    sandbox = services.api_key_create(client=owner, mode=Mode.SANDBOX)
    live = services.api_key_create(client=owner, mode=Mode.LIVE)
    assert list(selectors.api_key_list(scope=Scope(client=owner, is_sandbox=True))) == [sandbox.api_key]
    assert list(selectors.api_key_list(scope=Scope(client=owner, is_sandbox=False))) == [live.api_key]


def test_client_get_or_create_is_idempotent_with_unique_short_codes(db):
    a = services.client_get_or_create(name="Acme")
    assert services.client_get_or_create(name="Acme") == a
    b = services.client_get_or_create(name="acme!")  # same slug, different name
    assert a.short_code == "acme" and b.short_code != a.short_code
    with pytest.raises(InvalidInput):
        services.client_get_or_create(name="   ")
