"""Helpers for the hosted-strategy tests: artifacts built from dicts, waiting, reading logs."""

from __future__ import annotations

import base64
import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings

from strategies.models import Strategy, StrategyLog, StrategyRun
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
SDK_DIR = REPO / "sequence_markets"

FAST = {
    "STRATEGY_HEARTBEAT_SECONDS": 0.2,
    "STRATEGY_HEARTBEAT_TIMEOUT_SECONDS": 2.0,
    "STRATEGY_STOP_GRACE_SECONDS": 1.5,
    "STRATEGY_BACKOFF_BASE_SECONDS": 0.4,
    "STRATEGY_BACKOFF_MAX_SECONDS": 3.0,
    "STRATEGY_BACKOFF_RESET_SECONDS": 60.0,
    "STRATEGY_DISPATCH_RETRY_SECONDS": 60.0,
}


def make_tar(
    files: dict[str, str | bytes],
    *,
    sdk: bool = False,
    symlinks: dict[str, str] | None = None,
    extra: Callable[[tarfile.TarFile], None] | None = None,
    gzip: bool = True,
) -> bytes:
    """A strategy artifact from {path: content}; ``sdk`` vendors sequence_markets like the CLI does."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gzip else "w") as tar:
        entries = dict(files)
        if sdk:
            for name in ("__init__.py", "client.py"):
                entries[f"sequence_markets/{name}"] = (SDK_DIR / name).read_bytes()
        for path, content in entries.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        for path, target in (symlinks or {}).items():
            info = tarfile.TarInfo(path)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
        if extra is not None:
            extra(tar)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def create_body(name: str, main: str, **fields: Any) -> dict[str, Any]:
    files = fields.pop("files", {})
    body = {
        "name": name,
        "artifact_base64": b64(make_tar({"main.py": main, **files}, sdk=fields.pop("sdk", False))),
    }
    body.update(fields)
    return body


def wait_for(
    predicate: Callable[[], Any], *, timeout: float = 60.0, every: float = 0.05, what: str = ""
) -> Any:
    """Poll with a generous ceiling (tests/waiting.py: never under 30 s, whatever `timeout` says)."""
    return wait_until(predicate, timeout=timeout, every=every, what=what)


def wait_status(strategy_id: Any, *statuses: str, timeout: float = 60.0) -> Strategy:
    def check() -> Strategy | None:
        strategy = Strategy.objects.filter(pk=strategy_id).first()
        return strategy if strategy is not None and strategy.status in statuses else None

    try:
        return wait_for(check, timeout=timeout, what=f"status in {statuses}")
    except AssertionError:
        strategy = Strategy.objects.filter(pk=strategy_id).first()
        logs = list(
            StrategyLog.objects.filter(run__strategy_id=strategy_id)
            .order_by("run__created_at", "seq")
            .values_list("stream", "line")[:60]
        )
        raise AssertionError(
            f"status is {strategy and strategy.status}, wanted {statuses}; logs: {logs}"
        ) from None


def lines_of(run: StrategyRun, stream: str | None = None) -> list[str]:
    rows = StrategyLog.objects.filter(run=run).order_by("seq")
    if stream:
        rows = rows.filter(stream=stream)
    return list(rows.values_list("line", flat=True))


def subprocess_env(**overrides: str) -> dict[str, str]:
    """Environment for a worker/daphne subprocess pointed at the *test* database."""
    db = django_settings.DATABASES["default"]
    url = f"postgres://{db['USER']}{':' + db['PASSWORD'] if db.get('PASSWORD') else ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQUENCE_API")}
    env.update({"DATABASE_URL": url, "REDIS_URL": django_settings.REDIS_URL, "PYTHONUNBUFFERED": "1"})
    env.update({name: str(value) for name, value in FAST.items()})
    env.update(overrides)
    return env
