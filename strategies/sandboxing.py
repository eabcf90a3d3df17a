"""The strategy sandbox as the platform sees it: configured from settings, available or not, and why.

The runner (``strategies.supervisor``) asks ``sandbox_config()`` before every run; the dashboard
asks ``sandbox_status()`` to show a banner when runs can't be sandboxed (or are not, by choice).
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from strategies.runner.image import ImageError, ensure_image, find_python312
from strategies.runner.sandbox import SandboxConfig, bwrap_path, sandbox_problem


@dataclass(frozen=True, slots=True)
class SandboxStatus:
    mode: str  # "bwrap" | "none"
    available: bool
    problem: str  # why runs can't be sandboxed ("" when they can, or when the sandbox is off by choice)

    @property
    def disabled(self) -> bool:
        return self.mode == "none"


def _image_rootfs(*, build: bool) -> Path:
    image = Path(settings.STRATEGY_SANDBOX_IMAGE)
    if not build:
        return image / "rootfs"
    python = Path(settings.STRATEGY_SANDBOX_PYTHON) if settings.STRATEGY_SANDBOX_PYTHON else find_python312()
    image.mkdir(parents=True, exist_ok=True)
    # One builder at a time on a host; the others wait and find it built.
    with open(image / ".lock", "w") as lock:  # noqa: PTH123
        fcntl.flock(lock, fcntl.LOCK_EX)
        return ensure_image(image, python)


def sandbox_config(*, build: bool = True) -> tuple[SandboxConfig | None, str]:
    """(the config, "") when runs can be sandboxed here; (None, reason) when they can't.
    With ``build``, a missing or stale image is built first (`make sandbox` does it ahead of time)."""
    try:
        rootfs = _image_rootfs(build=build)
    except (ImageError, OSError) as exc:
        return None, f"no Python 3.12 sandbox image: {exc}"
    config = SandboxConfig(
        bwrap=bwrap_path(settings.STRATEGY_BWRAP) or "",
        rootfs=rootfs,
        state_dir=Path(settings.STRATEGY_SANDBOX_DIR),
        api_url=settings.SEQUENCE_PUBLIC_API_URL,
        max_tasks=settings.STRATEGY_MAX_PROCESSES,
        tmp_mb=settings.STRATEGY_TMP_MB,
        uid_base=settings.STRATEGY_SANDBOX_UID_BASE,
    )
    problem = sandbox_problem(config)
    return (None, problem) if problem else (config, "")


def sandbox_status() -> SandboxStatus:
    """For pages: cheap (the image is not built here, the bwrap probe runs once per process)."""
    if settings.SEQUENCE_STRATEGY_SANDBOX == "none":
        return SandboxStatus(mode="none", available=False, problem="")
    if os.name != "posix":
        return SandboxStatus(mode="bwrap", available=False, problem="the sandbox needs Linux")
    config, problem = sandbox_config(build=False)
    return SandboxStatus(mode="bwrap", available=config is not None, problem=problem)
