"""The typed environment helpers fail loudly on unusable values."""

from __future__ import annotations

import base64

import pytest
from django.core.exceptions import ImproperlyConfigured

from sequence_site import env


def test_env_bool(monkeypatch):
    monkeypatch.setenv("X_FLAG", "yes")
    assert env.env_bool("X_FLAG", False) is True
    monkeypatch.setenv("X_FLAG", "0")
    assert env.env_bool("X_FLAG", True) is False
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env.env_bool("X_FLAG", False)


def test_env_str_required(monkeypatch):
    monkeypatch.delenv("X_REQUIRED", raising=False)
    with pytest.raises(ImproperlyConfigured, match="X_REQUIRED"):
        env.env_str("X_REQUIRED")
    assert env.env_str("X_REQUIRED", "fallback") == "fallback"


def test_env_int(monkeypatch):
    monkeypatch.setenv("X_INT", "12")
    assert env.env_int("X_INT", 1) == 12
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured):
        env.env_int("X_INT", 1)
    monkeypatch.setenv("X_INT", "-3")
    with pytest.raises(ImproperlyConfigured, match="minimum"):
        env.env_int("X_INT", 1, minimum=0)


def test_env_list(monkeypatch):
    monkeypatch.setenv("X_LIST", "a, b,,c ")
    assert env.env_list("X_LIST", []) == ["a", "b", "c"]


def test_env_key32(monkeypatch):
    good = base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("=")
    monkeypatch.setenv("X_KEY", good)
    assert env.env_key32("X_KEY") == bytes(range(32))
    monkeypatch.setenv("X_KEY", base64.urlsafe_b64encode(b"short").decode())
    with pytest.raises(ImproperlyConfigured, match="32 bytes"):
        env.env_key32("X_KEY")
    monkeypatch.setenv("X_KEY", "not base64 at all!!")
    with pytest.raises(ImproperlyConfigured):
        env.env_key32("X_KEY")


def test_dotenv_is_a_fallback_never_exported_and_never_overrides_the_environment(monkeypatch, tmp_path):
    import os

    path = tmp_path / ".env"
    path.write_text("# comment\nX_A=from-file\nexport X_B='quoted value'\nX_C=file\n")
    monkeypatch.delenv("X_A", raising=False)
    monkeypatch.delenv("X_B", raising=False)
    monkeypatch.setenv("X_C", "real")
    monkeypatch.setattr(env, "_dotenv", {})
    env.load_dotenv(path)
    assert env.env_str("X_A") == "from-file"
    assert env.env_str("X_B") == "quoted value"
    assert env.env_str("X_C") == "real"
    # Read, not exported: a process this one starts inherits nothing of the file.
    assert "X_A" not in os.environ and "X_B" not in os.environ
