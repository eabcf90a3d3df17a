"""A real daphne (HTTP + websockets) on the test database, for the CLI and the websocket client."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.algo_studio.conftest import sandbox_edges  # noqa: F401  (fixture re-export)
from tests.edges.conftest import REPO, wait_for
from tests.waiting import unwatch_log, watch_log

DAPHNE = str(Path(sys.executable).parent / "daphne")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env() -> dict[str, str]:
    """The environment of a server subprocess: the *test* database, the tests' Redis and prefix."""
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )
    env["REDIS_URL"] = settings.REDIS_URL
    env["CHANNEL_LAYER_PREFIX"] = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    return env


class Daphne:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"cli-daphne-{os.getpid()}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Daphne:
        self.process = subprocess.Popen(
            [DAPHNE, "-b", "127.0.0.1", "-p", str(self.port), "sequence_site.asgi:application"],
            env=server_env(),
            cwd=REPO,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        watch_log("daphne", self.log)

        def up() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5):
                    return True
            except OSError:
                return self.process is None or self.process.poll() is not None

        wait_for(up, timeout=60, what="daphne to listen")
        assert self.process.poll() is None, self.output()
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        unwatch_log("daphne")
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def output(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else ""


@pytest.fixture(scope="module")
def daphne(django_db_setup, django_db_blocker) -> Iterator[Daphne]:
    """One daphne per test module (tests use `transactional_db`, so it sees their rows)."""
    server = Daphne().start()
    yield server
    server.stop()
