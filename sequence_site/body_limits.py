"""How big a request body may be, by method and path, and the 413 answer when it is bigger.

Read by the web server's protocol guard (``sequence_site.webguard``) from the request line and the
``Content-Length`` header, before any of the body is buffered and before authentication, and by the
API for what gets past it (a base64 text that decodes to more than the limit). One table, so the API,
the dashboard and the CLI refuse the same sizes with the same words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings

from edges.runtime.abi import MAX_MODULE_BYTES

MiB = 1024 * 1024
# Room for the JSON around a base64 payload (symbol, names, env, manifest...).
_ENVELOPE = 64 * 1024


@dataclass(frozen=True)
class BodyLimit:
    limit_bytes: int
    what: str  # what the limit is for, in the words of the 413 message


def wasm_request_limit() -> BodyLimit:
    """A 1 MiB WASM module, base64 in JSON (4/3) or raw in a multipart form."""
    return BodyLimit(
        MAX_MODULE_BYTES * 4 // 3 + _ENVELOPE,
        f"a {MAX_MODULE_BYTES // MiB} MiB WASM module ({MAX_MODULE_BYTES:,} bytes), base64-encoded",
    )


def strategy_request_limit() -> BodyLimit:
    upload = settings.STRATEGY_MAX_UPLOAD_MB * MiB
    return BodyLimit(
        upload * 4 // 3 + MiB,
        f"a {settings.STRATEGY_MAX_UPLOAD_MB} MiB strategy artifact ({upload:,} bytes), base64-encoded",
    )


def request_body_limit(method: str, path: str) -> BodyLimit:
    """The most a request to ``path`` may send. Hosted-strategy uploads get their own (larger) limit;
    every other request, WASM uploads included, fits in the WASM one."""
    path = path.split("?", 1)[0].rstrip("/")
    if method == "POST" and path == "/v1/strategies":
        return strategy_request_limit()
    return wasm_request_limit()


def too_large_body(*, method: str, path: str, size_bytes: int, limit: BodyLimit, streamed: bool) -> dict:
    """The API's JSON error body for a request over its limit (``streamed``: chunked, size so far)."""
    size = f"more than {size_bytes:,}" if streamed else f"{size_bytes:,}"
    return {
        "error": "payload_too_large",
        "message": (
            f"The request body is {size} bytes; {method} {path.split('?', 1)[0]} accepts at most "
            f"{limit.limit_bytes:,} bytes ({limit.what})."
        ),
        "status": 413,
        "details": {
            "size_bytes": size_bytes,
            "limit_bytes": limit.limit_bytes,
            "size_is_lower_bound": streamed,
        },
    }


def too_large_response_bytes(body: dict) -> bytes:
    """A complete HTTP/1.1 413 response that closes the connection."""
    payload = json.dumps(body).encode()
    head = (
        "HTTP/1.1 413 Payload Too Large\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head + payload
