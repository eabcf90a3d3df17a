"""Exceptions of the algo runtime. Every message is written to be shown to the algo's author as is."""

from __future__ import annotations

from typing import Literal

TrapKind = Literal["out_of_fuel", "trap", "host_error"]


class AlgoError(Exception):
    """Base class of everything the runtime raises on purpose."""


class AlgoLoadError(AlgoError):
    """The module cannot be instantiated (memory above the cap, a trap in its start function, ...)."""


class AlgoValidationError(AlgoLoadError):
    """The module breaks the ABI: refused at upload, before anything runs.

    `problems` lists every problem found; the message joins them with "; ".
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = problems if problems is not None else [message]


class AlgoTrap(AlgoError):
    """A callback did not complete: the edge pauses this algo with `reason` as its pause_reason.

    kind:
      "out_of_fuel" - the callback used its whole fuel budget (an endless or too long loop);
      "trap"        - the wasm trapped (unreachable, bad memory access, divide by zero, stack overflow,
                      a bad pointer passed to log(), too many host calls);
      "host_error"  - the host (our code) raised while serving an import: our bug, not the algo's.
    `callback` names the export that was running; `detail` keeps wasmtime's full message with the
    wasm backtrace, for logs.
    """

    def __init__(self, kind: TrapKind, reason: str, callback: str = "", detail: str | None = None) -> None:
        super().__init__(reason)
        self.kind: TrapKind = kind
        self.reason = reason
        self.callback = callback
        self.detail = detail


class AlgoReentryError(AlgoError, RuntimeError):
    """A callback was invoked while another callback of the same instance was running.

    Happens when a host function (say place_order) synchronously delivers an event (say on_fill) to
    the same instance. Queue such events and deliver them after the running callback returns.
    """
