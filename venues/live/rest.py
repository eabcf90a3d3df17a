"""A small JSON-over-HTTPS client for the venues' public REST endpoints (catalogues, book snapshots).

Catalogue calls are rare (at start, then on a schedule), so this is the standard library's urllib,
not another dependency. A 429 or a 5xx is retried after the venue's `Retry-After` (or a short
jittered backoff), up to `max_retries` times; anything else that is not 2xx raises `RestError` with
the status and the body the venue sent, so a caller can show the venue's own error message.
"""

from __future__ import annotations

import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import orjson

__all__ = ["RestClient", "RestError"]


class RestError(Exception):
    def __init__(self, url: str, status: int, body: str) -> None:
        super().__init__(f"{url}: HTTP {status}: {body[:300]}")
        self.url = url
        self.status = status
        self.body = body


class RestClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 15.0,
        max_retries: int = 3,
        max_retry_after_s: float = 30.0,
        user_agent: str = "sequence-venues/1",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"a venue REST URL must be http(s)://, not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.max_retry_after_s = max_retry_after_s
        self.user_agent = user_agent
        self.sleep = sleep
        self.retries = 0  # retried answers (429/5xx) so far

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        url = self.base_url + (path if path.startswith("/") else "/" + path)
        if params:
            url += "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return url

    def get_json(
        self, path: str, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
    ) -> Any:
        """GET and decode JSON; retries 429/5xx; raises RestError otherwise (or OSError when the
        venue can't be reached at all)."""
        url = self.url(path, params)
        attempt = 0
        while True:
            hdrs = {"User-Agent": self.user_agent, **(headers or {})}
            req = urllib.request.Request(url, headers=hdrs)  # noqa: S310 (the scheme is checked above)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 (the scheme is checked above)
                    return orjson.loads(resp.read())
            except urllib.error.HTTPError as err:
                body = err.read().decode("utf-8", "replace")
                retryable = err.code == 429 or err.code >= 500
                if not retryable or attempt >= self.max_retries:
                    raise RestError(url, err.code, body) from None
                delay = _retry_after(err.headers.get("Retry-After"))
                if delay is None:
                    delay = random.uniform(0.25, 0.5) * 2**attempt
                attempt += 1
                self.retries += 1
                self.sleep(min(delay, self.max_retry_after_s))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: use our own backoff
