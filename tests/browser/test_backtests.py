"""Issue 16's browser test: a backtest run from the dashboard shows its phases while it runs (preparing
data, replaying) and where its data came from, then the results page keeps the provenance."""

from __future__ import annotations

import re

import pytest

from backtests.models import BacktestJob
from tests.backtests.conftest import (  # noqa: F401
    BUSY_WAT,
    _module_worker,
    celery_worker,  # noqa: F811
    make_deployment,
    market_data,
    session_market_data,
)
from tests.edges.conftest import wat

pytestmark = pytest.mark.slow

# Records every text the phase line shows, across htmx swaps, websocket pushes and the page's reload
# when the job ends (kept in sessionStorage; runs on every page load).
WATCH_PHASES = """
document.addEventListener('DOMContentLoaded', () => {
  const note = () => {
    const el = document.querySelector('[data-testid=phase]');
    const seen = JSON.parse(sessionStorage.getItem('phases') || '[]');
    const text = el ? el.textContent.trim() : '';
    if (text && seen.at(-1) !== text) sessionStorage.setItem('phases', JSON.stringify([...seen, text]));
  };
  note();
  new MutationObserver(note).observe(document.body, {subtree: true, childList: true, characterData: true});
});
"""


def test_backtest_shows_phases_and_provenance(
    live_server_process,
    member,
    page,
    celery_worker,  # noqa: F811
    make_deployment,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    dep = make_deployment(member.client, wat(BUSY_WAT))
    base = live_server_process.url
    page.goto(f"{base}/backtests/")
    page.fill("input[name=username]", member.username)
    page.fill("input[name=password]", member.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/backtests/")
    form = page.locator("[data-testid=new-backtest] form")
    form.locator("select[name=deployment_id]").select_option(dep.deployment_id)
    form.locator("input[name=start_date]").fill("2026-02-01")
    form.locator("input[name=end_date]").fill("2026-02-08")
    form.locator("input[name=seed]").fill("7")
    page.add_init_script(WATCH_PHASES)
    form.locator("button").click()
    page.wait_for_url(re.compile(rf"{base}/backtests/bt_\w+/"))

    status = page.locator("#progress [data-role=status]")
    expect(status).to_have_text("completed", timeout=120_000)
    phases: list[str] = page.evaluate("JSON.parse(sessionStorage.getItem('phases') || '[]')")
    # While it ran: at least one of the phases, each with where the data came from once it is known.
    assert any(re.match(r"^(Waiting for a backtest worker|Preparing data|Replaying)", p) for p in phases), (
        phases
    )
    assert any("simulated symbol-days" in p for p in phases), phases

    # The results page: the data's provenance (8 simulated days of one symbol, the seed), logs, traces.
    page.reload()
    provenance = page.locator("[data-testid=provenance]")
    expect(provenance).to_contain_text("0 recorded and 8 simulated symbol-days")
    expect(provenance).to_contain_text("simulator seed 7")
    expect(page.locator("[data-testid=backtest-logs]")).to_be_attached()
    expect(page.locator("[data-testid=backtest-traces]")).to_be_attached()
    job = BacktestJob.objects.get()
    assert job.status == "completed" and job.seed == 7
    # The list says where the data came from too.
    page.goto(f"{base}/backtests/")
    expect(
        page.locator(f"[data-testid=backtests] tr:has-text('{job.id}') [data-testid=bt-data]")
    ).to_have_text("8 simulated")
