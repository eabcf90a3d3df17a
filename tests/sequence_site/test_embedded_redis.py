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
    process, url = _start_embedded_redis(tmp_path, "s3cret-pass_word")
    try:
        assert url.startswith("redis://:s3cret-pass_word@127.0.0.1:")
        port = int(url.rsplit(":", 1)[1].split("/")[0])
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
