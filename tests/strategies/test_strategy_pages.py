"""Dashboard pages of hosted strategies: list, detail, and the buttons (same services as the API)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from strategy_testing import make_tar

from sequence_site import services as site_services
from sequence_site.scope import Scope
from strategies import services
from strategies.models import Strategy, StrategyTransition

SECRET = "hunter2-very-secret"


@pytest.fixture
def member(owner):
    user = get_user_model().objects.create_user(username="alice", password="correct horse battery")
    site_services.client_add_member(client=owner, user=user)
    return user


@pytest.fixture
def browser(client, member):
    client.force_login(member)
    return client


@pytest.fixture
def strategy(owner, fast) -> Strategy:
    scope = Scope(client=owner, is_sandbox=True)
    return services.strategy_deploy(
        scope=scope, name="dash-one", artifact=make_tar({"main.py": "print(1)"}),
        env={"LOG_LEVEL": "info"}, secrets={"WEBHOOK": SECRET}, manifest={"pairs": [["A", "B"]]},
    ).strategy  # fmt: skip


def test_the_list_is_in_the_navigation_and_shows_status_exit_and_restarts(browser, strategy):
    Strategy.objects.filter(pk=strategy.pk).update(restart_count=3, last_exit_reason="exited with code 1")
    Strategy.objects.filter(pk=strategy.pk).update(last_exit_at=strategy.created_at)
    html = browser.get("/strategies/").content.decode()
    nav = re.search(r'<nav class="nav">(.*?)</nav>', html, re.S).group(1)
    assert 'href="/strategies/"' in nav
    row = re.search(r'<tr data-strategy="dash-one">(.*?)</tr>', html, re.S).group(1)
    assert "stopped" in row and "exited with code 1" in row and "<td>3</td>" in row
    # htmx refreshes only the rows.
    partial = browser.get("/strategies/", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial and "dash-one" in partial


def test_detail_shows_env_manifest_and_secret_names_only(browser, strategy):
    html = browser.get(f"/strategies/{strategy.pk}/").content.decode()
    assert "LOG_LEVEL" in html and "info" in html
    assert "WEBHOOK" in html and SECRET not in html
    assert "&quot;pairs&quot;" in html or '"pairs"' in html
    assert f"/ws/strategies/{strategy.pk}/logs/" in html
    assert "strategies/logtail.js" in html
    status = browser.get(f"/strategies/{strategy.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert 'id="strategy-status"' in status and "<html" not in status


def test_buttons_start_stop_delete(browser, strategy):
    response = browser.post(f"/strategies/{strategy.pk}/start/")
    assert response.status_code == 302 and response["Location"] == f"/strategies/{strategy.pk}/"
    strategy.refresh_from_db()
    assert strategy.status == "queued"
    assert (
        StrategyTransition.objects.filter(strategy=strategy, action="start").get().actor == "dashboard:alice"
    )

    response = browser.post(f"/strategies/{strategy.pk}/start/", follow=True)  # illegal: already queued
    assert "only a stopped or failed strategy can be started" in response.content.decode()

    browser.post(f"/strategies/{strategy.pk}/stop/")
    strategy.refresh_from_db()
    assert strategy.status == "stopped"

    response = browser.post(f"/strategies/{strategy.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/strategies/"
    assert not Strategy.objects.filter(pk=strategy.pk).exists()


def test_actions_need_post(browser, strategy):
    assert browser.get(f"/strategies/{strategy.pk}/delete/").status_code == 405
    assert Strategy.objects.filter(pk=strategy.pk).exists()


def test_other_clients_and_modes_get_404(browser, strategy, stranger):
    other = services.strategy_deploy(
        scope=Scope(client=stranger, is_sandbox=True), name="theirs", artifact=make_tar({"main.py": "1"})
    ).strategy
    assert browser.get(f"/strategies/{other.pk}/").status_code == 404
    assert browser.post(f"/strategies/{other.pk}/delete/").status_code == 404
    assert Strategy.objects.filter(pk=other.pk).exists()
    assert "theirs" not in browser.get("/strategies/").content.decode()
    browser.post("/mode/", {"mode": "live"})
    assert browser.get(f"/strategies/{strategy.pk}/").status_code == 404
    assert "dash-one" not in browser.get("/strategies/").content.decode()
    assert browser.get("/strategies/not-a-uuid/").status_code == 404


def test_pages_need_login(client, strategy):
    for path in ("/strategies/", f"/strategies/{strategy.pk}/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.post(f"/strategies/{strategy.pk}/delete/").status_code == 302
    assert Strategy.objects.filter(pk=strategy.pk).exists()


def test_a_banner_warns_when_strategies_are_not_sandboxed_or_cannot_be(browser, strategy, settings):
    from strategies.runner import sandbox as sandbox_module

    pages = ("/strategies/", f"/strategies/{strategy.pk}/")
    for page in pages:  # sandbox available (make test sets it up): no banner
        assert b"sandbox-banner" not in browser.get(page).content
    settings.SEQUENCE_STRATEGY_SANDBOX = "none"
    for page in pages:
        html = browser.get(page).content.decode()
        assert 'data-testid="sandbox-banner"' in html and "SEQUENCE_STRATEGY_SANDBOX=none" in html
    settings.SEQUENCE_STRATEGY_SANDBOX = "bwrap"
    settings.STRATEGY_BWRAP = "/nonexistent/bwrap"
    sandbox_module._probe_cache.clear()
    for page in pages:
        html = browser.get(page).content.decode()
        assert "the sandbox is not available" in html and "bubblewrap (bwrap) is not installed" in html
