"""Real Chromium against a real daphne and a real edge process, all on the test database.

Chromium is Debian's /usr/bin/chromium (`make test` installs it through the `browser` target),
driven by Playwright's sync API; Playwright's own browser download is never used. A missing
Chromium fails these tests: they never skip.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connections

from sequence_site import services as site_services
from tests.edges.conftest import REPO, EdgeProcess, edge_process, market_maker_wasm, wait_for  # noqa: F401
from tests.waiting import unwatch_log, watch_log

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text()[-4000:] if self.log.exists() else ""


@pytest.fixture
def live_server_process(transactional_db) -> Iterator[Server]:
    """daphne serving the ASGI app (HTTP, websockets, static files) on a free port."""
    port = _free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"browser-daphne-{os.getpid()}.log"
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port),
         "sequence_site.asgi:application"],
        env=EdgeProcess([]).env(), cwd=REPO, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = Server(url=f"http://127.0.0.1:{port}", process=process, log=log)
    watch_log("daphne", log)

    def listening() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"daphne exited: {server.output()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                return True
        except OSError:
            return False

    wait_for(listening, timeout=60, what="daphne to listen")
    yield server
    unwatch_log("daphne")
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def page(transactional_db, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A fresh Chromium page. Function-scoped on purpose: Playwright's sync API keeps an asyncio
    loop running in this thread while it is open, which must not outlive the test."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium). Browser tests never skip."
        )
    from playwright.sync_api import sync_playwright

    # The test's own ORM calls run in this thread beside Playwright's loop; they are plain sync calls
    # (pytest-playwright documents the same setting for pytest-django).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        context.set_default_timeout(30_000)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()
            # ORM calls made while Playwright's loop ran got their own connection (Django keys
            # connections by async context): close it, or it keeps the test database open.
            connections.close_all()


@dataclass
class Member:
    username: str
    password: str
    client: object


@pytest.fixture
def member(transactional_db) -> Member:
    """A user who belongs to a client: what logs in to the dashboard."""
    client = site_services.client_get_or_create(name="Browser Capital")
    user = get_user_model().objects.create_user(username="trader", password="correct horse battery")
    site_services.client_add_member(client=client, user=user)
    return Member(username="trader", password="correct horse battery", client=client)


@pytest.fixture(scope="session", autouse=True)
def _subprocess_connections_gone(django_db_setup, django_db_blocker) -> Iterator[None]:
    """Before the test database is dropped, wait for the backends of the killed daphne and edge
    processes to go: PostgreSQL ends them a moment after their sockets close."""
    yield
    from django.db import connection

    def alone() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0] == 0

    # Still there after 10 s: pytest-django reports it as a warning when it drops the database.
    with django_db_blocker.unblock(), contextlib.suppress(AssertionError):
        wait_for(alone, timeout=30, what="subprocess database connections to close")
