"""Domain errors. The API maps each to an HTTP status and one JSON body shape in one place
(`sequence_site.api`); the dashboard and the CLI show the same messages."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(DomainError):
    status = 400
    code = "invalid_request"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


class AuthenticationFailed(DomainError):
    status = 401
    code = "unauthorized"


class Unavailable(DomainError):
    status = 503
    code = "unavailable"


class VenueNotConnected(DomainError):
    """Live trading at a venue the client has connected no credentials for (trading's orders, and a
    live deployment's edges)."""

    status = 422
    code = "venue_not_connected"
