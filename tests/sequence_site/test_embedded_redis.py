"""`make run`'s embedded Redis refuses clients without the password that scripts/make_env.py wrote."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis

from sequence_site.devrun import _start_embedded_redis

REPO = Path(__file__).resolve().parents[2]


def test_embedded_redis_requires_the_password(tmp_path: Path) -> None:
    process, address = _start_embedded_redis(tmp_path, "s3cret-pass_word")
    try:
        # Only the address is passed on to make run's processes; each reads the password from .env.
        assert address.startswith("127.0.0.1:") and "s3cret" not in address
        port = int(address.rsplit(":", 1)[1])
        url = f"redis://:s3cret-pass_word@{address}/0"
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=port).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=port, password="wrong").ping()
        assert redis.Redis.from_url(url).ping()
        # The password is not on the command line, where any local user could read it.
        assert b"s3cret" not in Path(f"/proc/{process.pid}/cmdline").read_bytes()
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_make_env_writes_a_password_and_adds_one_to_an_old_env(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.env"
    subprocess.run([sys.executable, str(REPO / "scripts/make_env.py"), str(fresh)], check=True)
    values = dict(
        line.split("=", 1) for line in fresh.read_text().splitlines() if "=" in line and line[0] != "#"
    )
    assert len(values["EMBEDDED_REDIS_PASSWORD"]) >= 32
    old = tmp_path / "old.env"
    old.write_text("SECRET_KEY=x\n")
    subprocess.run([sys.executable, str(REPO / "scripts/make_env.py"), str(old)], check=True)
    lines = old.read_text().splitlines()
    assert lines[0] == "SECRET_KEY=x" and lines[1].startswith("EMBEDDED_REDIS_PASSWORD=")
    subprocess.run([sys.executable, str(REPO / "scripts/make_env.py"), str(old)], check=True)
    assert old.read_text().splitlines() == lines  # idempotent


def test_processes_build_the_embedded_redis_url_from_env_file_not_from_their_environment() -> None:
    """make run passes only SEQUENCE_EMBEDDED_REDIS=host:port; settings add the password from .env."""
    from sequence_site.env import read_dotenv

    password = read_dotenv(REPO / ".env")["EMBEDDED_REDIS_PASSWORD"]
    env = {"PATH": "/usr/bin:/bin", "SEQUENCE_EMBEDDED_REDIS": "127.0.0.1:6390"}
    env["DJANGO_SETTINGS_MODULE"] = "sequence_site.settings"
    out = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.REDIS_URL)"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == f"redis://:{password}@127.0.0.1:6390/0"
