"""The environment a strategy process starts with: built from nothing, never from the runner's own.

Layering, last wins: a minimal base (PATH, HOME, LANG, TMPDIR), then the strategy's plain env, then
its decrypted secrets (a secret shadows a same-named env var), then the platform's ``SEQUENCE_*``
variables and ``PYTHONUNBUFFERED=1`` (user values can never shadow those: any ``SEQUENCE_*`` name
and the protected names are dropped from user input here, and refused at deploy time).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

RESERVED_PREFIX = "SEQUENCE_"
PROTECTED_NAMES = frozenset({"PYTHONUNBUFFERED"})
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"


def env_name_problem(name: str) -> str | None:
    """Why ``name`` can't be a user env var or secret name, or None when it can."""
    if not isinstance(name, str) or not ENV_NAME.match(name):
        return f"{name!r} is not a valid environment variable name (letters, digits and _, no leading digit)."
    if name.upper().startswith(RESERVED_PREFIX):
        return f"{name} is reserved: SEQUENCE_* variables are set by the platform."
    if name.upper() in PROTECTED_NAMES:
        return f"{name} is set by the platform and can't be overridden."
    return None


def env_value_problem(name: str, value: object) -> str | None:
    if not isinstance(value, str):
        return f"{name}: environment values are strings (put nested data in the manifest)."
    if "\x00" in value:
        return f"{name}: environment values can't contain NUL characters."
    return None


def build_environment(
    *,
    home: Path,
    tmpdir: Path,
    user_env: Mapping[str, str],
    secrets: Mapping[str, str],
    platform: Mapping[str, str],
) -> dict[str, str]:
    """The complete environment of the child process (see the module docstring for the layering)."""
    env = {"PATH": BASE_PATH, "HOME": str(home), "TMPDIR": str(tmpdir), "LANG": "C.UTF-8"}
    for layer in (user_env, secrets):
        for name, value in layer.items():
            if env_name_problem(name) is None and env_value_problem(name, value) is None:
                env[name] = value
    for name, value in platform.items():
        if not name.startswith(RESERVED_PREFIX):
            raise ValueError(f"Platform variable {name} must start with {RESERVED_PREFIX}.")
        env[name] = value
    env["PYTHONUNBUFFERED"] = "1"
    return env
