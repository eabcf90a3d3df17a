"""Where the CLI keeps its URL and keys: ~/.config/sequence/config.json (mode 0600).

``SEQUENCE_API_URL`` and ``SEQUENCE_API_KEY`` in the environment override the file, so scripts and
hosted strategies never depend on it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from sequence_markets.client import DEFAULT_URL


def config_path() -> Path:
    base = os.environ.get("SEQUENCE_CONFIG_DIR") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config"), "sequence"
    )
    return Path(base) / "config.json"


def key_mode(api_key: str) -> str | None:
    """``test`` or ``live`` from a key's prefix, or None when it is not a Sequence key."""
    for mode in ("test", "live"):
        if api_key.startswith(f"seq_{mode}_"):
            return mode
    return None


@dataclass
class Config:
    url: str = DEFAULT_URL
    keys: dict[str, str] = field(default_factory=dict)  # mode ("test"/"live") -> key
    default_mode: str = "test"

    @classmethod
    def load(cls) -> Config:
        path = config_path()
        if not path.is_file():
            return cls()
        try:
            data = json.loads(path.read_text())
        except ValueError:
            raise SystemExit(
                f"error: {path} is not valid JSON; fix or delete it, then `sequence login`."
            ) from None
        return cls(
            url=data.get("url", DEFAULT_URL),
            keys={k: v for k, v in data.get("keys", {}).items() if k in ("test", "live")},
            default_mode=data.get("default_mode", "test"),
        )

    def save(self) -> Path:
        path = config_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        # Created 0600 before any key is written into it.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(
                {"url": self.url, "keys": self.keys, "default_mode": self.default_mode}, handle, indent=2
            )
        os.replace(tmp, path)
        return path

    def resolve(self, *, sandbox: bool) -> tuple[str, str]:
        """(url, key) for a command: environment first, then the file; ``--sandbox`` asks for a test key."""
        url = os.environ.get("SEQUENCE_API_URL") or self.url
        env_key = os.environ.get("SEQUENCE_API_KEY")
        if env_key:
            if sandbox and key_mode(env_key) != "test":
                raise SystemExit("error: --sandbox needs a seq_test_ key, but SEQUENCE_API_KEY is not one.")
            return url, env_key
        mode = "test" if sandbox else self.default_mode
        key = self.keys.get(mode)
        if not key:
            hint = " --sandbox" if mode == "test" else ""
            raise SystemExit(
                f"error: no {'sandbox' if mode == 'test' else 'live'} API key configured. "
                f"Run `sequence login{hint}` or set SEQUENCE_API_KEY."
            )
        return url, key
