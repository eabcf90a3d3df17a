#!/usr/bin/env python3
"""Write a local `.env` with fresh random secrets if there is none (standard library only).

`make run` and `make test` call it, so a fresh clone needs no hand-made configuration.
Production sets the same variables in its real environment instead (see .env.example).
"""

from __future__ import annotations

import base64
import secrets
import sys
from pathlib import Path


def main() -> int:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else ".env")
    if path.exists():
        # An older .env without the embedded Redis's password gets one added (nothing else changes).
        text = path.read_text()
        if not any(line.startswith("EMBEDDED_REDIS_PASSWORD=") for line in text.splitlines()):
            newline = "" if text.endswith("\n") or not text else "\n"
            path.write_text(f"{text}{newline}EMBEDDED_REDIS_PASSWORD={secrets.token_urlsafe(32)}\n")
            print(f"added EMBEDDED_REDIS_PASSWORD to {path}")
        return 0
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    path.write_text(
        "# Made by scripts/make_env.py for this machine only; never commit it. See .env.example.\n"
        "DEBUG=true\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"CREDENTIAL_ENCRYPTION_KEY={key}\n"
        "# The password of the Redis `make run` starts when none answers on 127.0.0.1:6379.\n"
        f"EMBEDDED_REDIS_PASSWORD={secrets.token_urlsafe(32)}\n"
    )
    path.chmod(0o600)
    print(f"wrote {path} with fresh secrets")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
