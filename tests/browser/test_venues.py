"""The Venues page and the kill switch in real Chromium, against a real daphne and the strict fake
venues: a sandbox session is told why it cannot connect; in live mode bad credentials are refused
in the venue's words and stored nowhere, good ones (a PEM typed into a password input, which drops
its line breaks) are verified and listed, never shown again; limits are edited; the red kill button,
after its confirm step, cancels the order resting at the venue and shows it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from decimal import Decimal

import pytest

from sequence_site.scope import Scope
from tests.trading.live_venues import FakeVenue, fake_venue
from trading import credentials
from trading.models import RiskLimit, VenueCredential
from venues.orders import OrderRequest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def venues(monkeypatch: pytest.MonkeyPatch, settings) -> Iterator[dict[str, FakeVenue]]:
    """Fake Kraken and Kalshi, and the settings (this process's and daphne's env) pointing at them."""
    with contextlib.ExitStack() as stack:
        fakes = {name: stack.enter_context(fake_venue(name)) for name in ("kraken", "kalshi")}
        for fake in fakes.values():
            for name, value in fake.settings.items():
                monkeypatch.setenv(name, value)
                setattr(settings, name, value)
        yield fakes


@pytest.fixture
def base(venues, request) -> str:
    """daphne, started after the fakes so its environment points at them."""
    return str(request.getfixturevalue("live_server_process").url)


def login(page, base: str, member, *, live: bool) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", member.username)
    page.fill("input[name=password]", member.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    if live:
        page.click("[data-testid=mode-switch] button[value=live]")
        page.wait_for_selector("[data-testid=mode-badge]:has-text('Live')")


def fill_connect(page, venue: str, creds: dict[str, str], label: str = "") -> None:
    form = page.locator(f"[data-testid=connect-{venue}]")
    for name, value in creds.items():
        field = form.locator(f"input[name={name}]")
        assert field.get_attribute("type") == "password"
        field.fill(value)
    form.locator("input[name=label]").fill(label)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("load")


def test_a_sandbox_session_sees_why_it_cannot_connect(base, member, page) -> None:
    login(page, base, member, live=False)
    page.click("nav >> text=Venues")
    refused = page.locator("[data-testid=venues-refused]")
    assert "needs a live (seq_live_) key" in refused.inner_text()
    assert page.locator("[data-testid^=connect-]").count() == 0
    refused.locator("[data-testid=switch-live]").click()
    page.wait_for_selector("[data-testid=connect-kraken]")


def test_connect_bad_then_good_list_and_disconnect(base, member, page, venues) -> None:
    kraken, kalshi = venues["kraken"], venues["kalshi"]
    login(page, base, member, live=True)
    page.goto(f"{base}/venues/")
    assert page.locator("[data-testid=connections]").inner_text().count("No venue connected yet.") == 1

    fill_connect(page, "kraken", kraken.bad)
    flash = page.locator(".flash.error").inner_text()
    assert flash.startswith("Not connected: kraken refused these credentials")
    assert "EAPI:Invalid signature" in flash and "Nothing was stored." in flash
    assert not VenueCredential.objects.exists()

    fill_connect(page, "kraken", kraken.good, label="spot desk")
    assert page.locator(".flash.success").inner_text().startswith("Connected kraken")
    # a PEM typed into a password input loses its line breaks; the service re-wraps it
    fill_connect(page, "kalshi", kalshi.good)
    assert page.locator(".flash.success").inner_text().startswith("Connected kalshi")

    rows = page.locator("[data-testid=connections] tbody tr")
    assert rows.count() == 2
    kraken_row = page.locator("[data-testid=connections] tr[data-venue=kraken]").inner_text()
    assert "spot desk" in kraken_row and "UTC" in kraken_row
    assert set(VenueCredential.objects.values_list("venue", flat=True)) == {"kraken", "kalshi"}
    # never re-displayed: every credential input is empty, no secret anywhere in the page
    for field in page.locator("[data-testid^=connect-] input[type=password]").all():
        assert field.input_value() == ""
    html = page.content()
    for fake in (kraken, kalshi):
        for secret in fake.secrets():
            assert secret not in html

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-testid=disconnect-kraken]")
    page.wait_for_selector(".flash.success:has-text('Disconnected kraken')")
    assert list(VenueCredential.objects.values_list("venue", flat=True)) == ["kalshi"]


def test_edit_limits(base, member, page) -> None:
    login(page, base, member, live=True)
    page.goto(f"{base}/venues/")
    form = page.locator("[data-testid=limits-kraken]")
    assert (
        form.locator("[data-testid=limit-kraken-max_open_orders]").get_attribute("placeholder")
        == "default 20"
    )
    form.locator("[data-testid=limit-kraken-max_open_orders]").fill("3")
    form.locator("[data-testid=limit-kraken-daily_loss_limit]").fill("75")
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".flash.success:has-text('Risk limits at kraken saved.')")
    assert page.locator("[data-testid=in-force-kraken-max_open_orders]").inner_text() == "max_open_orders 3"
    assert page.locator("[data-testid=limit-kraken-max_open_orders]").input_value() == "3"
    row = RiskLimit.objects.get(client=member.client, venue="kraken")
    assert row.max_open_orders == 3 and row.daily_loss_limit == Decimal("75.00")
    assert row.max_order_notional is None

    page.locator("[data-testid=limit-kraken-max_open_orders]").fill("-1")
    page.locator("[data-testid=limits-kraken] button[type=submit]").click()
    flash = page.locator(".flash.error").inner_text()
    assert "max_open_orders must be a whole number between 0 and 1000000" in flash
    assert RiskLimit.objects.get(pk=row.pk).max_open_orders == 3

    page.locator("[data-testid=limit-kraken-max_open_orders]").fill("")
    page.locator("[data-testid=limits-kraken] button[type=submit]").click()
    page.wait_for_selector(".flash.success")
    in_force = page.locator("[data-testid=in-force-kraken-max_open_orders]").inner_text()
    assert in_force == "max_open_orders 20 (default)"
    assert RiskLimit.objects.get(pk=row.pk).max_open_orders is None


def test_kill_button_confirms_then_cancels_at_the_venue_and_shows_it(base, member, page, venues) -> None:
    kraken = venues["kraken"]
    scope = Scope(client=member.client, is_sandbox=False)
    credentials.venue_connect(scope=scope, venue="kraken", credentials=kraken.good)
    # an order of the client's account resting at the venue (placed there directly, as another
    # program with the same key would)
    venue_client = credentials.order_client("kraken", kraken.good)
    resting = venue_client.place(
        OrderRequest("kill-me", "ETH/USD", "buy", Decimal("3300.00"), Decimal("0.01"))
    )
    assert [o.venue_order_id for o in venue_client.open_orders()] == [resting.venue_order_id]

    login(page, base, member, live=True)
    kill = page.locator("[data-testid=kill-switch]")
    assert kill.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(239, 83, 80)"
    kill.click()
    confirm = page.locator("[data-testid=kill-confirm]")
    assert "every open order of your accounts at every connected venue" in confirm.inner_text()
    assert venue_client.open_orders() != []  # the first click only asks

    page.click("[data-testid=kill-confirm-button]")
    summary = page.locator("[data-testid=kill-summary]").inner_text()
    assert summary == "0 graph(s) cancelled, 0 algo(s) stopped, 1 venue(s) asked to cancel."
    row = page.locator("[data-testid=kill-venues] tr[data-venue=kraken]").inner_text()
    assert resting.venue_order_id in row and row.split()[1] == "1"
    assert venue_client.open_orders() == []
