"""API shapes of hosted strategies, shared by the REST responses and the websocket events."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from ninja import Schema
from pydantic import ConfigDict

from strategies.models import Strategy, StrategyRun, StrategyTransition


class StrategyCreateIn(Schema):
    """``POST /v1/strategies``: create, or redeploy the strategy of that name."""

    model_config = ConfigDict(extra="forbid")

    name: str
    artifact_base64: str | None = None  # required unless the artifact comes as a multipart file part
    runtime: str = "python"
    entrypoint: str = "main.py"
    env: dict[str, Any] = {}
    secrets: dict[str, Any] | None = None
    manifest: dict[str, Any] = {}
    memory_mb: int | None = None
    latency_target: str | list[str] | None = None
    sequence_api_key: str | None = None
    start: bool = False


class RunOut(Schema):
    run_id: UUID
    status: str
    attempt: int
    queue: str
    artifact_sha256: str
    claimed_by: str
    pid: int | None
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    ended_at: datetime | None
    exit_code: int | None
    signal: str
    reason: str

    @staticmethod
    def of(run: StrategyRun) -> dict[str, Any]:
        return {
            "run_id": run.pk,
            "status": run.status,
            "attempt": run.attempt,
            "queue": run.queue,
            "artifact_sha256": run.artifact_sha256,
            "claimed_by": run.claimed_by,
            "pid": run.pid,
            "created_at": run.created_at,
            "started_at": run.started_at,
            "heartbeat_at": run.heartbeat_at,
            "ended_at": run.ended_at,
            "exit_code": run.exit_code,
            "signal": run.signal,
            "reason": run.reason,
        }


class LastExitOut(Schema):
    code: int | None
    signal: str
    reason: str
    at: datetime | None


class StrategyOut(Schema):
    strategy_id: UUID
    name: str
    runtime: str
    entrypoint: str
    status: str
    mode: str
    is_sandbox: bool
    env: dict[str, Any]
    secret_names: list[str]
    manifest: dict[str, Any]
    memory_mb: int
    latency_target: list[str]
    artifact_sha256: str
    artifact_size_bytes: int
    has_sequence_api_key: bool
    restart_count: int
    next_attempt_at: datetime | None
    last_exit: LastExitOut | None
    current_run: RunOut | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def of(strategy: Strategy) -> dict[str, Any]:
        # Built field by field on purpose: secrets, their ciphertext and the API key have no way in.
        last_exit = None
        if strategy.last_exit_at is not None:
            last_exit = {
                "code": strategy.last_exit_code,
                "signal": strategy.last_exit_signal,
                "reason": strategy.last_exit_reason,
                "at": strategy.last_exit_at,
            }
        return {
            "strategy_id": strategy.pk,
            "name": strategy.name,
            "runtime": strategy.runtime,
            "entrypoint": strategy.entrypoint,
            "status": strategy.status,
            "mode": "test" if strategy.is_sandbox else "live",
            "is_sandbox": strategy.is_sandbox,
            "env": strategy.env,
            "secret_names": list(strategy.secret_names),
            "manifest": strategy.manifest,
            "memory_mb": strategy.memory_mb,
            "latency_target": list(strategy.latency_target),
            "artifact_sha256": strategy.artifact_sha256,
            "artifact_size_bytes": strategy.artifact_size_bytes,
            "has_sequence_api_key": strategy.has_sequence_api_key,
            "restart_count": strategy.restart_count,
            "next_attempt_at": strategy.next_attempt_at,
            "last_exit": last_exit,
            "current_run": RunOut.of(strategy.current_run) if strategy.current_run is not None else None,
            "created_at": strategy.created_at,
            "updated_at": strategy.updated_at,
        }


class TransitionOut(Schema):
    action: str
    from_status: str
    to_status: str
    reason: str
    actor: str
    run_id: UUID | None
    at: datetime

    @staticmethod
    def of(row: StrategyTransition) -> dict[str, Any]:
        return {
            "action": row.action,
            "from_status": row.from_status,
            "to_status": row.to_status,
            "reason": row.reason,
            "actor": row.actor,
            "run_id": row.run_id,
            "at": row.created_at,
        }


class StrategyDetailOut(StrategyOut):
    runs: list[RunOut]
    transitions: list[TransitionOut]


class StrategyListOut(Schema):
    strategies: list[StrategyOut]


class DeletedOut(Schema):
    strategy_id: UUID
    deleted: bool


class LogLineLike(Protocol):
    """A log line: a stored `StrategyLog` row or a runner's `services.LogRecord`."""

    @property
    def seq(self) -> int: ...
    @property
    def ts(self) -> datetime: ...
    @property
    def stream(self) -> str: ...
    @property
    def line(self) -> str: ...


class LogLineOut(Schema):
    """One log line, in REST pages and in websocket ``lines`` events alike."""

    seq: int
    ts: datetime
    stream: str
    line: str

    @staticmethod
    def of(row: LogLineLike) -> dict[str, Any]:
        return {"seq": row.seq, "ts": row.ts, "stream": row.stream, "line": row.line}

    @staticmethod
    def wire(row: LogLineLike) -> dict[str, Any]:
        """The line as websocket events carry it (JSON-ready: ``ts`` in ISO 8601), from a stored
        row or from a line being written."""
        data = LogLineOut.of(row)
        data["ts"] = row.ts.isoformat()
        return data


class LogPageOut(Schema):
    strategy_id: UUID
    run_id: UUID | None
    run_status: str | None
    lines: list[LogLineOut]
    next_cursor: int
    has_more: bool
