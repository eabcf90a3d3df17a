"""The `sequence` console script against a real server: login stores the key, whoami reads it back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SEQUENCE = str(Path(sys.executable).parent / "sequence")


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SEQUENCE, *args], env=env, capture_output=True, text=True, timeout=30)


@pytest.fixture
def cli_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQUENCE_")}
    env["SEQUENCE_CONFIG_DIR"] = str(tmp_path / "config")
    return env


@pytest.mark.django_db(transaction=True)
def test_login_then_whoami(live_server, cli_env, sandbox_key, owner):
    result = run("login", "--url", live_server.url, "--api-key", sandbox_key.plaintext, env=cli_env)
    assert result.returncode == 0, result.stderr
    assert owner.name in result.stdout
    config_file = Path(cli_env["SEQUENCE_CONFIG_DIR"]) / "config.json"
    assert config_file.stat().st_mode & 0o077 == 0

    result = run("whoami", "--json", env=cli_env)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["client"]["client_id"] == owner.short_code and body["is_sandbox"] is True

    result = run("whoami", "--sandbox", env=cli_env)
    assert result.returncode == 0 and "sandbox" in result.stdout


@pytest.mark.django_db(transaction=True)
def test_login_with_a_bad_key_saves_nothing(live_server, cli_env):
    result = run("login", "--url", live_server.url, "--api-key", "seq_test_" + "x" * 44, env=cli_env)
    assert result.returncode == 1
    assert "Unknown API key" in result.stderr
    assert not (Path(cli_env["SEQUENCE_CONFIG_DIR"]) / "config.json").exists()


def test_no_key_configured_is_a_clear_error(cli_env):
    result = run("whoami", env=cli_env)
    assert result.returncode != 0
    assert "sequence login" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_env_key_overrides_and_sandbox_flag_checks_mode(live_server, cli_env, live_key):
    env = {**cli_env, "SEQUENCE_API_URL": live_server.url, "SEQUENCE_API_KEY": live_key.plaintext}
    result = run("whoami", "--json", env=env)
    assert result.returncode == 0 and json.loads(result.stdout)["mode"] == "live"
    result = run("whoami", "--sandbox", env=env)
    assert result.returncode != 0 and "seq_test_" in result.stderr


def test_version(cli_env):
    result = run("--version", env=cli_env)
    assert result.returncode == 0 and result.stdout.strip() == "sequence 0.4.0"
