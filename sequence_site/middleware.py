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


class ApiErrorShapeMiddleware:
    """Every error under /v1 answers the API's JSON body, whoever produced it.

    Most errors come from the API's own exception handlers. The rest are made outside them and were
    HTML or empty: ninja's 405 for a method a path doesn't have, Django's 404 for a path no pattern
    matches, its 400 for a body it could not parse before the view ran, a 500 from a middleware.
    First in MIDDLEWARE, so it sees the final response of every other layer.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path.startswith("/v1/")
            and not response.get("Content-Type", "").startswith("application/json")
            and not getattr(response, "streaming", False)
        ):
            return _api_error_for(request, response)
        return response


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "rate_limited",
}


def _api_error_for(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    from sequence_site.api import error_response  # the API imports every app: not at module load

    status = response.status_code
    where = (
        f"{request.method} {request.path!r}"
        if not request.path.isprintable()
        else f"{request.method} {request.path}"
    )
    details = None
    if status == 405:
        allowed = [m.strip() for m in response.get("Allow", "").split(",") if m.strip()]
        message = f"{where} is not allowed; this path accepts {', '.join(allowed) or 'no method'}."
        details = {"allowed": allowed}
    elif status == 404:
        message = f"No endpoint {where}."
    elif status >= 500:
        message = "Internal server error."
    elif status == 400:
        message = f"{where}: the request could not be read (malformed body, headers or form data)."
    else:
        message = response.reason_phrase
    shaped = error_response(
        request,
        status=status,
        code=_CODES.get(status, "internal_error" if status >= 500 else "error"),
        message=message,
        details=details,
    )
    if response.has_header("Allow"):
        shaped["Allow"] = response["Allow"]
    return shaped
