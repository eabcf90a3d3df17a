"""Issue 16's browser test: an order the venue refuses shows its named reason (venues/rejects.py), not a
bare code, in the deploy warning, the live log tail, the traces and the deployment's summary."""

from __future__ import annotations

import pytest

from algo_studio.models import Deployment
from tests.edges.conftest import scripted_algo

pytestmark = pytest.mark.slow

REASON = "BELOW_MIN_QTY: 0.01 < kraken min 2"


def test_refused_order_shows_its_named_reason(
    live_server_process, edge_process, member, page, tmp_path
) -> None:
    from playwright.sync_api import expect

    edge_process("kraken")  # a real sandbox Kraken edge: XRP/USD with Kraken's minimum of 2
    base = live_server_process.url
    page.goto(f"{base}/algos/")
    page.fill("input[name=username]", member.username)
    page.fill("input[name=password]", member.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/algos/")

    # The scripted algo buys 0.01 XRP on its first update: the deploy's dry run warns before any order.
    wasm = tmp_path / "algo_xrp_usd.wasm"
    wasm.write_bytes(scripted_algo(log=False))
    page.set_input_files("#wasm-file", str(wasm))
    expect(page.locator("#symbol")).to_have_value("XRP/USD")
    page.click("[data-testid=deploy]")
    page.wait_for_url(f"{base}/algos/deployments/dep_*/")
    expect(page.locator(".flash.warning")).to_contain_text("the venue would refuse 1 order")
    expect(page.locator(".flash.warning")).to_contain_text(REASON)
    deployment = Deployment.objects.get(client=member.client)
    expect(page.locator("[data-testid=status]")).to_have_text("stopped", timeout=20_000)

    page.click("[data-testid=start]")
    expect(page.locator("[data-testid=status]")).to_have_text("running", timeout=20_000)

    # The live log tail: the refusal with its reason, never the venue's bare code.
    line = page.locator("#logtail .line .msg", has_text="REJECT")
    expect(line.first).to_contain_text(f"reason={REASON}", timeout=30_000)
    # The deployment's summary names the latest refusal (htmx polling).
    expect(page.locator("[data-testid=last-reject]")).to_contain_text(f"Latest: {REASON}", timeout=30_000)
    # The traces: the refused place_order says why.
    expect(page.locator("[data-testid=traces-table]")).to_contain_text(REASON, timeout=30_000)
    for text in (page.locator("#logtail").inner_text(), page.locator("[data-testid=traces]").inner_text()):
        assert "reason=2" not in text and "rejected(-3)" not in text
    assert deployment.deployment_id in page.url
