"""Gives every dashboard request the scope it acts in: the user's client and the sandbox/live switch."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse

from sequence_site.scope import Scope
from sequence_site.selectors import client_for_user

SESSION_MODE_KEY = "sequence_mode"


def session_is_sandbox(session: SessionBase | None) -> bool:
    """The mode of a dashboard session (a page's or a websocket's; None when there is none)."""
    # Sandbox unless the user switched to live: the safe default for a trading dashboard.
    mode = session.get(SESSION_MODE_KEY, "test") if session is not None else "test"
    return mode != "live"


class DashboardScopeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.client_scope = None  # type: ignore[attr-defined]
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            client = client_for_user(user=user)
            if client is not None:
                request.client_scope = Scope(client=client, is_sandbox=session_is_sandbox(request.session))  # type: ignore[attr-defined]
        return self.get_response(request)
