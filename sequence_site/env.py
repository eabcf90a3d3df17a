"""Typed readers for settings that come from environment variables.

Each helper raises ``ImproperlyConfigured`` with the variable's name when a value is present but
unusable, so a typo in production fails at start-up instead of at the first request.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


# What `load_dotenv` read: consulted after the real environment, never copied into it, so a child
# process (an edge, a worker, a strategy) sees none of the file's secrets in its environment.
_dotenv: dict[str, str] = {}


def read_dotenv(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of ``path`` as a dict (empty when there is no file)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


def load_dotenv(path: Path) -> None:
    """Make ``path``'s values the fallback of every ``env_*`` reader below, without touching
    ``os.environ``: the real environment always wins (a process manager or CI can override a
    developer's file), and nothing of the file is exported to the processes this one starts."""
    _dotenv.clear()
    _dotenv.update(read_dotenv(path))


def env_value(name: str) -> str | None:
    """The environment's value of ``name``, else the ``.env`` file's, else None."""
    value = os.environ.get(name)
    return _dotenv.get(name) if value is None else value


def env_str(name: str, default: str | None = None) -> str:
    value = env_value(name)
    if value is None or value == "":
        if default is None:
            raise ImproperlyConfigured(f"Set the {name} environment variable (see .env.example).")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = env_value(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true/false, 1/0, yes/no, on/off).")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = env_value(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below its minimum {minimum}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_value(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_key32(name: str) -> bytes:
    """A required 32-byte key given as URL-safe base64 (what ``scripts/make_env.py`` writes)."""
    value = env_str(name)
    try:
        key = base64.urlsafe_b64decode(value.encode() + b"=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(f"{name} is not URL-safe base64.") from None
    if len(key) != 32:
        raise ImproperlyConfigured(f"{name} must decode to 32 bytes (it decodes to {len(key)}).")
    return key
