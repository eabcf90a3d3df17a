"""Issue 4's browser test: real Chromium logs in, uploads an example .wasm, clicks Start, and sees the
status turn running and new log lines arrive in the live tail without the page reloading."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from algo_studio.models import Deployment, DeploymentTransition

pytestmark = pytest.mark.slow

SCREENSHOTS = Path(os.environ.get("TMPDIR", "/tmp"))


def test_upload_start_and_watch_logs(
    live_server_process, edge_process, member, page, market_maker_wasm: bytes, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    edge_process("coinbase")  # a real sandbox Coinbase edge: trades ETH/USD
    base = live_server_process.url
    problems: list[str] = []
    # A failed load is reported with its URL by the response hook (the favicon may be missing).
    page.on(
        "console",
        lambda m: (
            problems.append(f"console: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.url}") if r.status >= 400 and "favicon" not in r.url else None
        ),
    )

    # Log in through the login form; it sends us on to Algo Studio.
    page.goto(f"{base}/algos/")
    assert "/login/" in page.url
    page.fill("input[name=username]", member.username)
    page.fill("input[name=password]", member.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/algos/")
    expect(page.locator("h1")).to_have_text("Algo Studio")

    # Upload: the symbol is read from the file name in the browser before anything is sent.
    wasm = tmp_path / "algo_eth_usd.wasm"
    wasm.write_bytes(market_maker_wasm)
    page.set_input_files("#wasm-file", str(wasm))
    expect(page.locator("#symbol")).to_have_value("ETH/USD")
    expect(page.locator("#symbol-hint")).to_contain_text("detected from the file name")
    page.click("[data-testid=deploy]")

    # Deployed stopped, on the deployment's page.
    page.wait_for_url(f"{base}/algos/deployments/dep_*/")
    deployment = Deployment.objects.get(client=member.client)
    assert list(deployment.symbol_rows.values_list("symbol", flat=True)) == ["ETH/USD"]
    expect(page.locator(".flash.success")).to_contain_text("deployed (pushed to 1/1 capable edges) - stopped")
    status = page.locator("[data-testid=status]")
    # The edge loaded it, not running: the API says "accepted", the page says what a user would.
    expect(status).to_have_text("stopped", timeout=20_000)
    expect(status).to_have_attribute("title", "API status: accepted")
    # Only the action that applies: Start on a stopped algo, no Stop.
    expect(page.locator("[data-testid=start]")).to_be_visible()
    expect(page.locator("[data-testid=stop]")).to_have_count(0)
    expect(page.locator("[data-testid=mode-badge]")).to_have_text("Sandbox")
    expect(page.locator("[data-testid=log-state]")).to_have_text("● live")

    # Start: an htmx request; the page itself never reloads (the marker survives).
    page.evaluate("window.__noReload = true")
    first_new_id = page.evaluate(
        "Math.max(0, ...[...document.querySelectorAll('#logtail .line')].map(e => +e.dataset.id))"
    )
    page.click("[data-testid=start]")
    expect(page.locator("#action-flash")).to_contain_text("Started: 1 edge notified.")
    expect(status).to_have_text("running", timeout=20_000)
    expect(status).to_have_class("pill running")
    # Running: Stop shows, Start is gone (the buttons follow the polled state).
    expect(page.locator("[data-testid=stop]")).to_be_visible()
    expect(page.locator("[data-testid=start]")).to_have_count(0)

    new_lines = page.locator("#logtail .line")
    page.wait_for_function(
        f"[...document.querySelectorAll('#logtail .line')].some(e => +e.dataset.id > {first_new_id})"
    )
    # The market maker quotes ("BUY: ...") every 50th update with the test build's flags.
    expect(page.locator("#logtail .line .msg", has_text="BUY")).not_to_have_count(0, timeout=30_000)
    expect(page.locator("[data-testid=history] tbody tr").first).to_contain_text("start")
    assert page.evaluate("window.__noReload") is True, "the page reloaded"
    assert new_lines.count() <= 500
    assert deployment.edge_rows.get().desired_state == "running"
    assert list(
        DeploymentTransition.objects.filter(deployment=deployment).values_list("action", flat=True)
    ) == [
        "deploy",
        "start",
    ]

    # The per-edge table fills in as the edge reports (htmx polling, still no reload).
    edges = page.locator("[data-testid=edges] tbody tr").first
    expect(edges).to_contain_text("venue-edge-coinbase")
    page.wait_for_function(
        "document.getElementById('charts') && typeof Chart !== 'undefined'"
        " && Chart.getChart('chart-latency').data.labels.length > 0",
        timeout=30_000,
    )
    page.screenshot(path=str(SCREENSHOTS / "algo_studio_running.png"), full_page=True)

    # The algo list shows it running too.
    page.goto(f"{base}/algos/")
    expect(
        page.locator("[data-testid=algos] tr[data-symbol='ETH/USD'] [data-testid=algo-status]")
    ).to_have_text("running")
    row = page.locator("[data-testid=algos] tr[data-symbol='ETH/USD']")
    expect(row.locator("[data-testid=row-stop]")).to_be_visible()
    expect(row.locator("[data-testid=row-start]")).to_have_count(0)
    page.screenshot(path=str(SCREENSHOTS / "algo_studio_list.png"), full_page=True)

    # The overview: the running algo with its status, signed PnL (red/green by sign) and sparkline.
    page.goto(f"{base}/")
    algo_row = page.locator(f"[data-testid=overview-algos] tr[data-deployment='{deployment.deployment_id}']")
    expect(algo_row.locator("[data-testid=overview-algo-status]")).to_have_text("running")
    pnl = algo_row.locator("[data-testid=overview-algo-pnl]")
    expect(pnl).to_have_text(re.compile(r"^(0\.00|[+-][\d,]+\.\d{2})$"))
    text = pnl.inner_text()
    expected_class = "pos" if text.startswith("+") else "neg" if text.startswith("-") else ""
    assert (pnl.get_attribute("class") or "").split() == [
        "num",
        *([expected_class] if expected_class else []),
    ]
    expect(algo_row.locator("svg.spark")).to_have_count(1)
    expect(page.locator("[data-testid=overview-edges]")).to_contain_text("coinbase")
    expect(page.locator("[data-testid=getting-started]")).to_have_count(0)

    # Stop, then Delete behind a dialog that says it cannot be undone.
    page.goto(f"{base}/algos/deployments/{deployment.deployment_id}/")
    page.click("[data-testid=stop]")
    expect(status).to_have_text("stopped", timeout=20_000)
    expect(page.locator("[data-testid=start]")).to_be_visible()
    expect(page.locator("[data-testid=stop]")).to_have_count(0)
    page.click("[data-testid=delete]")
    dialog = page.locator("[data-testid=delete-dialog]")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("This cannot be undone.")
    page.screenshot(path=str(SCREENSHOTS / "algo_studio_delete.png"))
    page.click("[data-testid=confirm-delete]")
    page.wait_for_url(f"{base}/algos/")
    expect(page.locator(".flash.success")).to_contain_text("Deleted")
    expect(page.locator("[data-testid=algos]")).to_contain_text("No algos deployed")
    deployment.refresh_from_db()
    assert deployment.deleted_at is not None

    assert not problems, problems
