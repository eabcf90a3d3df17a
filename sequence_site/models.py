"""Clients own everything; API keys say which client is calling and in which mode."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Mode(models.TextChoices):
    """The two worlds an API key can act in. The key's prefix fixes it."""

    SANDBOX = "test", "Sandbox"
    LIVE = "live", "Live"

    @property
    def is_sandbox(self) -> bool:
        return self is Mode.SANDBOX

    @classmethod
    def from_sandbox(cls, is_sandbox: bool) -> Mode:
        return cls.SANDBOX if is_sandbox else cls.LIVE


class Client(models.Model):
    name = models.CharField(max_length=100, unique=True)
    # Short, stable, non-secret identifier (`SEQUENCE_CLIENT_ID` in hosted strategies).
    short_code = models.CharField(max_length=32, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class ClientMember(models.Model):
    """A dashboard user acts as exactly one client."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="members")

    def __str__(self) -> str:
        return f"{self.user} @ {self.client}"


class ApiKey(models.Model):
    """An API key, stored as a SHA-256 digest; the clear key is shown once, at creation.

    The key is ``seq_<mode>_<lookup_id><secret>``: ``lookup_id`` (not secret) finds the row through
    an index, then the digests are compared in constant time, so response timing says nothing about
    how much of a guessed key was right.
    """

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="api_keys")
    is_sandbox = models.BooleanField()
    name = models.CharField(max_length=100, blank=True)
    lookup_id = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["client", "is_sandbox"])]

    def __str__(self) -> str:
        return self.display_prefix

    @property
    def mode(self) -> Mode:
        return Mode.from_sandbox(self.is_sandbox)

    @property
    def display_prefix(self) -> str:
        """What the dashboard shows so a user can tell keys apart: never enough to use it."""
        return f"seq_{self.mode.value}_{self.lookup_id}…"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
