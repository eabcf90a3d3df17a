"""The HTTP client of the SDK: standard library only (urllib + json), so strategies need no pip install."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8000"
_IDEMPOTENT = {"GET", "HEAD"}


class SequenceError(Exception):
    """An API call failed. ``status`` is the HTTP status (0 when the server could not be reached),
    ``code`` the API's machine-readable error code, ``message`` what to tell a person."""

    def __init__(self, status: int, message: str, code: str = "error", details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}" if status else message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class Sequence:
    """A client for the Sequence API.

    ``Sequence(api_key, base_url)``. Reads (GET) are retried on connection errors and 502/503/504
    with a short backoff; writes are never retried, so an order is never sent twice by the SDK.
    """

    def __init__(
        self, api_key: str, base_url: str = DEFAULT_URL, *, timeout: float = 10.0, retries: int = 2
    ) -> None:
        if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
            raise SequenceError(
                0, f"base_url must be an http:// or https:// URL, not {base_url!r}.", "bad_url"
            )
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries

    # -- transport ---------------------------------------------------------------------------
    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json_body: Any = None
    ) -> Any:
        """Send one request to ``/v1{path}``; return the decoded JSON body or raise ``SequenceError``."""
        method = method.upper()
        url = f"{self.base_url}/v1{path}"
        if params:
            query = {k: _query_value(v) for k, v in params.items() if v is not None}
            if query:
                url += "?" + urllib.parse.urlencode(query)
        data = None
        headers = {"Accept": "application/json", "User-Agent": "sequence-markets/0.4.0"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        attempts = 1 + (self.retries if method in _IDEMPOTENT else 0)
        for attempt in range(attempts):
            req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
            try:
                # The scheme was checked in __init__: only http(s) URLs reach urlopen.
                with urllib.request.urlopen(req, timeout=self.timeout) as response:  # noqa: S310
                    raw = response.read()
                    return json.loads(raw) if raw else None
            except urllib.error.HTTPError as exc:
                error = _error_from_response(exc)
                if exc.code in (502, 503, 504) and attempt + 1 < attempts:
                    time.sleep(0.2 * (2**attempt))
                    continue
                raise error from None
            except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
                if attempt + 1 < attempts:
                    time.sleep(0.2 * (2**attempt))
                    continue
                reason = getattr(exc, "reason", exc)
                raise SequenceError(0, f"Cannot reach {self.base_url}: {reason}", "unreachable") from None
        raise AssertionError("unreachable")

    # -- endpoints ---------------------------------------------------------------------------
    def health(self) -> bool:
        """True when the API answers and its database and Redis are up."""
        try:
            return bool(self.request("GET", "/health").get("ok"))
        except SequenceError as exc:
            if exc.status == 503:
                return False
            raise

    def whoami(self) -> dict[str, Any]:
        """The client and mode (``test`` = sandbox, ``live``) this key acts as."""
        return self.request("GET", "/keys/me")


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _error_from_response(exc: urllib.error.HTTPError) -> SequenceError:
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        body = {}
    if isinstance(body, dict) and "message" in body:
        return SequenceError(
            exc.code, str(body["message"]), str(body.get("error", "error")), body.get("details")
        )
    return SequenceError(exc.code, exc.reason or "HTTP error", "error")
