"""``Sequence.toml``: how the CLI deploys a hosted strategy folder (standard library only: tomllib).

    [strategy]
    name = "btc-dip-buyer"
    runtime = "python"

    [hosted]
    entrypoint = "main.py"
    memory_mb = 512

    [hosted.env]                 # plain env vars, visible in GET /v1/strategies/:id
    LOG_LEVEL = "info"

    [hosted.secrets]             # env vars sealed at rest, never returned
    SLACK_WEBHOOK = "https://hooks.slack.com/..."

    [hosted.placement]
    latency_target = ["coinbase"]

    [hosted.manifest]            # optional: structured config for .sequence/manifest.json
    pairs = [["KXBTC", "0xabc"]]

The manifest is synthesized from ``[hosted.manifest]`` plus whatever in ``[hosted.env]`` can't be a
flat string: arrays and tables move to the manifest (env vars are strings), and a ``*_JSON`` string
that parses as JSON is also put in the manifest already parsed. ``--manifest FILE`` replaces it.
"""

from __future__ import annotations

import contextlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILENAME = "Sequence.toml"
_KEYS = {
    "strategy": {"name", "runtime"},
    "hosted": {"entrypoint", "memory_mb", "env", "secrets", "placement", "manifest"},
    "hosted.placement": {"latency_target"},
}


class StrategyConfigError(ValueError):
    """Sequence.toml can't be used; the message names the file and the key."""


@dataclass
class StrategyConfig:
    name: str | None = None
    runtime: str = "python"
    entrypoint: str = "main.py"
    memory_mb: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    has_secrets: bool = False  # a [hosted.secrets] table was present (even empty: it clears them)
    manifest: dict[str, Any] = field(default_factory=dict)
    latency_target: list[str] = field(default_factory=list)
    path: Path | None = None  # None when the folder has no Sequence.toml


def _table(data: dict[str, Any], key: str, where: str, path: Path) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise StrategyConfigError(f"{path}: [{where}] must be a table.")
    return value


def _check_keys(table: dict[str, Any], where: str, path: Path) -> None:
    unknown = sorted(set(table) - _KEYS[where])
    if unknown:
        raise StrategyConfigError(
            f"{path}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} in [{where}] "
            f"(expected {', '.join(sorted(_KEYS[where]))})."
        )


def env_string(value: Any) -> str | None:
    """A TOML scalar as an env var string (booleans as true/false), or None for arrays/tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _strings(table: dict[str, Any], where: str, path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in table.items():
        text = env_string(value)
        if text is None:
            raise StrategyConfigError(f"{path}: [{where}] {key} must be a string, number or boolean.")
        out[key] = text
    return out


def load_strategy_config(folder: Path) -> StrategyConfig:
    """Read ``folder/Sequence.toml``; defaults (name None, main.py) when the file is absent."""
    path = folder / FILENAME
    if not path.is_file():
        return StrategyConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StrategyConfigError(f"{path}: not valid TOML ({exc}).") from None

    strategy = _table(data, "strategy", "strategy", path)
    hosted = _table(data, "hosted", "hosted", path)
    _check_keys(strategy, "strategy", path)
    _check_keys(hosted, "hosted", path)
    placement = _table(hosted, "placement", "hosted.placement", path)
    _check_keys(placement, "hosted.placement", path)

    config = StrategyConfig(path=path)
    name = strategy.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise StrategyConfigError(f"{path}: [strategy] name must be a non-empty string.")
    config.name = name.strip() if isinstance(name, str) else None
    runtime = strategy.get("runtime", "python")
    if not isinstance(runtime, str):
        raise StrategyConfigError(f'{path}: [strategy] runtime must be a string ("python").')
    config.runtime = runtime
    entrypoint = hosted.get("entrypoint", "main.py")
    if not isinstance(entrypoint, str) or not entrypoint.strip():
        raise StrategyConfigError(f'{path}: [hosted] entrypoint must be a file name, e.g. "main.py".')
    config.entrypoint = entrypoint.strip()
    memory = hosted.get("memory_mb")
    if memory is not None and (isinstance(memory, bool) or not isinstance(memory, int) or memory <= 0):
        raise StrategyConfigError(f"{path}: [hosted] memory_mb must be a positive whole number of MiB.")
    config.memory_mb = memory

    manifest = dict(_table(hosted, "manifest", "hosted.manifest", path))
    for key, value in _table(hosted, "env", "hosted.env", path).items():
        text = env_string(value)
        if text is None:
            manifest.setdefault(key, value)  # arrays and tables are structured config
            continue
        config.env[key] = text
        if key.endswith("_JSON") and isinstance(value, str):
            with contextlib.suppress(ValueError):  # not JSON after all: it stays a plain env var
                manifest.setdefault(key, json.loads(value))
    config.manifest = manifest
    if "secrets" in hosted:
        config.has_secrets = True
        config.secrets = _strings(_table(hosted, "secrets", "hosted.secrets", path), "hosted.secrets", path)

    target = placement.get("latency_target", [])
    targets = [target] if isinstance(target, str) else target
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise StrategyConfigError(
            f"{path}: [hosted.placement] latency_target must be a string or a list of strings."
        )
    config.latency_target = [t.strip() for t in targets if t.strip()]
    return config
