"""Shared API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Schema


class ErrorOut(Schema):
    error: str
    message: str
    status: int
    details: Any | None = None


class HealthOut(Schema):
    ok: bool
    status: str
    version: str
    time: datetime
    checks: dict[str, str]


class ClientOut(Schema):
    name: str
    client_id: str


class KeySummaryOut(Schema):
    prefix: str
    name: str
    created_at: datetime


class WhoAmIOut(Schema):
    client: ClientOut
    mode: str
    is_sandbox: bool
    key: KeySummaryOut
