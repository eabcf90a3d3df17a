"""Waiting on other processes without depending on how fast the machine is.

Tests prove mechanisms, not speeds: a wait for another process (an edge, a Celery worker, a
strategy runner, daphne, Chromium, a fake venue) is a poll of a readiness signal with a ceiling of
tens of seconds. The ceiling only decides how long a *broken* run takes to fail; a healthy run
returns as soon as the predicate holds, so a generous ceiling costs nothing on a quiet machine and
keeps a loaded one (CI, a laptop building something, `make test-busy`) green.

Process fixtures register their log file with `watch_log()`; a timeout here, and any failing test
(the report hook in tests/conftest.py), then shows the tail of each log: what the other process
was doing when we gave up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "DEFAULT_CEILING_SECONDS",
    "MIN_CEILING_SECONDS",
    "log_tail",
    "raise_library_ceilings",
    "unwatch_log",
    "wait_until",
    "watch_log",
    "watched_tails",
]

T = TypeVar("T")

# No wait on another process gives up sooner than this, whatever a caller asks for: a shorter
# ceiling can only turn a slow machine into a red run, never catch a bug a longer one misses.
MIN_CEILING_SECONDS = 30.0
DEFAULT_CEILING_SECONDS = 60.0
TAIL_CHARS = 3000

LogSource = Path | str | Callable[[], str]

# name -> log file (or a callable returning the text) of the processes the running tests started.
_watched: dict[str, LogSource] = {}


def watch_log(name: str, source: LogSource) -> None:
    """Show `source`'s tail when a wait times out or a test fails, until `unwatch_log(name)`."""
    _watched[name] = source


def unwatch_log(name: str) -> None:
    _watched.pop(name, None)


def log_tail(source: LogSource, chars: int = TAIL_CHARS) -> str:
    """The last `chars` characters of a log file (or of what a callable returns); never raises."""
    try:
        text = source() if callable(source) else Path(source).read_text(errors="replace")
    except Exception as exc:  # a tail is diagnostics: it must not hide the real failure
        return f"<log unavailable: {exc!r}>"
    return text[-chars:]


def watched_tails(chars: int = TAIL_CHARS) -> list[tuple[str, str]]:
    """(name, tail) of every watched log, for failure reports."""
    return [(name, log_tail(source, chars)) for name, source in list(_watched.items())]


def _format_tails(sources: Iterable[tuple[str, LogSource]]) -> str:
    parts = [f"\n--- tail of {name} ---\n{log_tail(source)}" for name, source in sources]
    return "".join(parts)


def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float = DEFAULT_CEILING_SECONDS,
    every: float = 0.05,
    what: str = "",
    logs: Iterable[LogSource] | dict[str, LogSource] | None = None,
) -> T:
    """Poll `predicate` until it returns something truthy, and return that.

    `timeout` is a ceiling, raised to MIN_CEILING_SECONDS when lower. On timeout, raises
    AssertionError naming `what`, with the tails of `logs` (a list of files or callables, or a
    {name: source} dict); by default the tails of every watched process log.
    """
    ceiling = max(timeout, MIN_CEILING_SECONDS)
    deadline = time.monotonic() + ceiling
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            if logs is None:
                sources: list[tuple[str, LogSource]] = list(_watched.items())
            elif isinstance(logs, dict):
                sources = list(logs.items())
            else:
                sources = [(str(source) if not callable(source) else "log", source) for source in logs]
            raise AssertionError(
                f"timed out after {ceiling:g} s waiting for {what or predicate}{_format_tails(sources)}"
            )
        time.sleep(every)


def raise_library_ceilings() -> None:
    """The same floor for the test libraries' own waits.

    - The in-process ASGI communicators (channels' WebsocketCommunicator, asgiref's
      ApplicationCommunicator): their 1 s defaults, and the few seconds tests pass, wait on Redis
      (the channel layer) and PostgreSQL through a loaded machine. `receive_nothing` keeps its
      short dwell: it checks that nothing arrives, it does not wait for something.
    - Playwright's `expect(...)` (5 s by default) waits on daphne, an edge or a worker through
      Chromium: 30 s unless a test says more.
    """
    import functools

    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)

    from asgiref.testing import ApplicationCommunicator

    for name in ("receive_output", "wait"):
        original = getattr(ApplicationCommunicator, name)
        if getattr(original, "_ceiling_floor", False):
            continue

        @functools.wraps(original)
        async def floored(self: Any, timeout: float = 1, *, _original: Any = original) -> Any:
            return await _original(self, max(timeout, MIN_CEILING_SECONDS))

        floored._ceiling_floor = True  # type: ignore[attr-defined]
        setattr(ApplicationCommunicator, name, floored)
