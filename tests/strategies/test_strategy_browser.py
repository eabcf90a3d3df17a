"""Real Chromium on the strategy page: the live log tail shows JSON lines readably as they are
printed, and the Stop button stops the process (daphne + a real Celery worker + Debian's chromium)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from strategy_testing import REPO, create_body, subprocess_env, wait_for

from sequence_site import services as site_services
from strategies.models import Strategy
from tests.waiting import unwatch_log, watch_log

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
MAIN = """
import json, time
i = 0
while True:
    print(json.dumps({"event": "tick", "i": i, "note": "<b>not html</b>"}), flush=True)
    i += 1
    time.sleep(0.3)
"""


@pytest.fixture
def daphne(transactional_db, tmp_path) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "daphne.log"
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port), "sequence_site.asgi:application"],
        cwd=REPO, env=subprocess_env(), stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip

    def listening() -> bool:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                return True
        except OSError:
            return False

    watch_log("daphne", log)
    wait_for(listening, timeout=60, what="daphne")
    yield f"http://127.0.0.1:{port}"
    unwatch_log("daphne")
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def page(transactional_db, monkeypatch) -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run `make browser`. Browser tests never skip.")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # ORM calls beside Playwright's loop
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])  # fmt: skip
        context = browser.new_context()
        context.set_default_timeout(30_000)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()
            connections.close_all()


@pytest.fixture
def ticker(runner, api, owner) -> str:
    """Deployed and running before Playwright starts: Playwright's sync API keeps an asyncio loop
    in this thread, where the channel-layer announcements of a deploy could not be sent."""
    user = get_user_model().objects.create_user(username="trader", password="correct horse battery")
    site_services.client_add_member(client=owner, user=user)
    status, body = api.post("/v1/strategies", json=create_body("ticker", MAIN, start=True))
    assert status == 201
    wait_for(lambda: Strategy.objects.get(pk=body["strategy_id"]).status == "running", what="running")
    return body["strategy_id"]


def test_live_tail_and_stop_button(daphne, ticker, page):
    from playwright.sync_api import expect

    strategy_id = ticker
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    page.goto(f"{daphne}/strategies/{strategy_id}/")
    page.fill("input[name=username]", "trader")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{daphne}/strategies/{strategy_id}/")
    expect(page.locator("[data-testid=status]")).to_contain_text("running")
    expect(page.locator("#log-state")).to_contain_text("live")
    # Only the actions that apply, and the running run's own state rather than an old exit.
    expect(page.locator("[data-testid=start]")).to_have_count(0)
    expect(page.locator("[data-testid=current-run]")).to_contain_text("running since")

    # JSON lines are shown as "event key=value", escaped (no HTML injection through a log line).
    logs = page.locator("[data-testid=logs]")
    expect(logs.locator(".ev").first).to_have_text("tick")
    # Each line shows its time (local HH:MM:SS.mmm), the stored UTC timestamp on hover.
    first_time = logs.locator(".l.stdout .ts").first
    expect(first_time).to_have_text(re.compile(r"^\d\d:\d\d:\d\d\.\d{3}$"))
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", first_time.get_attribute("title") or "")
    expect(logs).to_contain_text("note=<b>not html</b>")
    assert logs.locator("b").count() == 0
    seen = logs.locator(".l.stdout").count()
    expect(logs.locator(".l.stdout")).not_to_have_count(seen)  # new lines arrive without a reload

    # The overview lists it running.
    page.goto(f"{daphne}/")
    row = page.locator("[data-testid=overview-strategies] tr[data-strategy=ticker]")
    expect(row.locator("[data-testid=overview-strategy-status]")).to_have_text("running")
    page.goto(f"{daphne}/strategies/{strategy_id}/")

    page.click("[data-testid=stop]")
    expect(page.locator(".flash")).to_contain_text("Stopping ticker")
    expect(page.locator("[data-testid=status]")).to_contain_text("stopped", timeout=60_000)
    assert Strategy.objects.get(pk=strategy_id).status == "stopped"
    expect(page.locator("[data-testid=start]")).to_be_visible()
    expect(page.locator("[data-testid=stop]")).to_have_count(0)
    assert problems == []
