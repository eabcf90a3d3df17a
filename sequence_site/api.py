"""The one NinjaAPI, mounted at /v1: authentication, the error shape, and the apps' routers.

Every error the API returns, whatever raised it, has one JSON shape::

    {"error": "<machine code>", "message": "<what a person should read>", "status": 404}

plus ``"details"`` when there is more to say (for example which request fields are wrong).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Status
from ninja.errors import HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer

from sequence_site import health
from sequence_site.body_limits import request_body_limit, too_large_body
from sequence_site.errors import AuthenticationFailed, DomainError
from sequence_site.schemas import ErrorOut, HealthOut, WhoAmIOut
from sequence_site.scope import Scope
from sequence_site.services import api_key_authenticate, bearer_token

logger = logging.getLogger(__name__)


class ApiKeyAuth(HttpBearer):
    """``Authorization: Bearer seq_live_...|seq_test_...``; ``request.auth`` becomes a ``Scope``.

    Every failure raises (instead of returning None) so the 401 says which mistake was made.
    """

    def __call__(self, request: HttpRequest) -> Scope:
        header = request.headers.get("Authorization")
        if not header:
            raise AuthenticationFailed(
                "Missing Authorization header: send `Authorization: Bearer <your API key>`."
            )
        token = bearer_token(header)
        if token is None:
            raise AuthenticationFailed("The Authorization header must be `Bearer <your API key>`.")
        return self.authenticate(request, token)

    def authenticate(self, request: HttpRequest, token: str) -> Scope:
        return api_key_authenticate(token=token)


_ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
_ERROR_DESCRIPTIONS = {
    400: "Bad request: a parameter or the body is invalid (`details` lists the fields).",
    401: "Missing, malformed, unknown or revoked API key.",
    404: "No such object for this key's client and mode.",
    413: "The request body is over this endpoint's limit (`details`: size_bytes, limit_bytes); "
    "refused before it is read.",
}


class SequenceAPI(NinjaAPI):
    """The NinjaAPI whose OpenAPI schema also lists the errors every operation can answer."""

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: Any = None) -> Any:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        schema.setdefault("components", {}).setdefault("schemas", {}).setdefault(
            "ErrorOut", ErrorOut.model_json_schema()
        )
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                if isinstance(operation, dict) and "responses" in operation:
                    _document_errors(operation)
        return schema


def _document_errors(operation: dict[str, Any]) -> None:
    """400 for anything with parameters or a body, 401 when a key is needed, 404 with path
    parameters, 413 with a body: what the API answers, so clients and schema checkers expect it."""
    parameters = operation.get("parameters") or []
    codes = []
    if parameters or "requestBody" in operation:
        codes.append(400)
    if operation.get("security"):
        codes.append(401)
    if any(p.get("in") == "path" for p in parameters):
        codes.append(404)
    if "requestBody" in operation:
        codes.append(413)
    responses = operation["responses"]
    for code in codes:
        responses.setdefault(
            code,
            {
                "description": _ERROR_DESCRIPTIONS[code],
                "content": {"application/json": {"schema": _ERROR_REF}},
            },
        )


api = SequenceAPI(
    title="Sequence API",
    version="1",
    description="Deploy WASM algos next to venues, run hosted Python strategies, backtest, and watch them.",
    auth=ApiKeyAuth(),
    docs_url="/docs",
    urls_namespace="api",
)


def error_response(
    request: HttpRequest, *, status: int, code: str, message: str, details: Any = None
) -> HttpResponse:
    body: dict[str, Any] = {"error": code, "message": message, "status": status}
    if details is not None:
        body["details"] = details
    response = api.create_response(request, body, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="sequence"'
    return response


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return error_response(request, status=exc.status, code=exc.code, message=exc.message, details=exc.details)


@api.exception_handler(NinjaValidationError)
def _validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    details = [
        {
            "field": ".".join(
                str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")
            ),
            "in": (error.get("loc") or ["request"])[0],
            "message": error.get("msg", "invalid"),
        }
        for error in exc.errors
    ]
    summary = "; ".join(f"{d['field'] or d['in']}: {d['message']}" for d in details) or "Invalid request."
    return error_response(request, status=400, code="invalid_request", message=summary, details=details)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    codes = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 429: "rate_limited"}
    return error_response(
        request, status=exc.status_code, code=codes.get(exc.status_code, "error"), message=str(exc)
    )


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, status=404, code="not_found", message=str(exc) or "Not found.")


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    # Django's own form-data cap (behind a server without our protocol guard, or a form under it).
    try:
        size = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        size = 0
    body = too_large_body(
        method=request.method or "POST",
        path=request.path,
        size_bytes=size,
        limit=request_body_limit(request.method or "POST", request.path),
        streamed=False,
    )
    return error_response(
        request, status=413, code=body["error"], message=body["message"], details=body["details"]
    )


@api.exception_handler(MultiPartParserError)
def _bad_multipart(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
    return error_response(
        request, status=400, code="invalid_request", message=f"The multipart body could not be read: {exc}"
    )


@api.exception_handler(SuspiciousOperation)
def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    # Too many fields or files, a malformed header: the client's mistake, never a 500.
    return error_response(request, status=400, code="bad_request", message=str(exc) or "Bad request.")


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    # Never echo the exception: it may carry user input or internals. The log has the traceback.
    logger.exception("Unhandled error on %s %s", request.method, request.path)
    return error_response(request, status=500, code="internal_error", message="Internal server error.")


@api.get(
    "/health", auth=None, response={200: HealthOut, 503: HealthOut}, tags=["meta"], summary="Service health"
)
def get_health(request: HttpRequest) -> Status:
    """No key needed. 200 when the database and Redis answer, 503 (same shape) when one does not."""
    report = health.check()
    return Status(200 if report["ok"] else 503, report)


@api.get("/keys/me", response={200: WhoAmIOut, 401: ErrorOut}, tags=["keys"], summary="Who am I")
def get_key_me(request: HttpRequest) -> dict[str, Any]:
    """The client and mode (sandbox or live) the calling key belongs to."""
    scope: Scope = request.auth  # type: ignore[attr-defined]
    key = scope.api_key
    assert key is not None
    return {
        "client": {"name": scope.client.name, "client_id": scope.client.short_code},
        "mode": scope.mode.value,
        "is_sandbox": scope.is_sandbox,
        "key": {"prefix": key.display_prefix, "name": key.name, "created_at": key.created_at},
    }


@csrf_exempt  # changes nothing; without it a POST got CSRF's 403 instead of the 404 (schemathesis)
def not_found_view(request: HttpRequest, path: str = "") -> HttpResponse:
    """Unknown paths under /v1 answer in the API's error shape instead of Django's HTML page (a
    path the API's routes cannot match, such as one with a newline in a path parameter, too)."""
    return error_response(
        request, status=404, code="not_found", message=f"No endpoint {request.method} /v1/{path}."
    )


# -- the apps' routers (imported last: they use the schemas and errors above) --------------------
from algo_studio.api import router as algo_router  # noqa: E402

api.add_router("", algo_router)

from strategies.api import router as strategies_router  # noqa: E402

api.add_router("/strategies", strategies_router)

from backtests.api import router as backtests_router  # noqa: E402

api.add_router("/backtest", backtests_router)

from trading.api import router as trading_router  # noqa: E402

api.add_router("", trading_router)

from edges.api import router as edges_router  # noqa: E402

api.add_router("", edges_router)

from trading.api_live import router as live_router  # noqa: E402

api.add_router("", live_router)
