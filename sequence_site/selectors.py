"""Reads for clients and API keys, always filtered by the caller's client (and mode where it applies)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from sequence_site.errors import NotFound
from sequence_site.models import ApiKey, Client
from sequence_site.scope import Scope


def client_for_user(*, user: AbstractBaseUser) -> Client | None:
    membership = getattr(user, "membership", None)
    return membership.client if membership is not None else None


def api_key_list(*, scope: Scope) -> QuerySet[ApiKey]:
    """The scope's keys of its mode, newest first (revoked ones included, marked as such)."""
    return ApiKey.objects.filter(client=scope.client, is_sandbox=scope.is_sandbox).order_by(
        "-created_at", "-pk"
    )


def api_key_get(*, scope: Scope, key_id: int) -> ApiKey:
    api_key = api_key_list(scope=scope).filter(pk=key_id).first()
    if api_key is None:
        raise NotFound(f"API key {key_id} not found.")
    return api_key
