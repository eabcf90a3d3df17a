"""Algo Studio pages (Django test client): login, scoping, upload, lifecycle buttons, metrics JSON.

The pages call the same services as the API, so these tests check what the browser gets and what
the database holds afterwards (deployment rows, edge rows, transition rows), not the services' rules.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from algo_studio import services
from algo_studio.models import (
    AlgoLog,
    AlgoTrace,
    Deployment,
    DeploymentEdge,
    DeploymentTransition,
    MetricSample,
    WasmArtifact,
)
from sequence_site import services as site_services
from sequence_site.middleware import SESSION_MODE_KEY
from sequence_site.models import Client
from sequence_site.scope import Scope

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client: HttpClient, owner: Client) -> HttpClient:
    """The test client logged in as a member of ``owner`` (sandbox mode, the default)."""
    user = get_user_model().objects.create_user(username="alice", password="pw-alice-123")
    site_services.client_add_member(client=owner, user=user)
    client.force_login(user)
    return client


def _live(http: HttpClient) -> None:
    session = http.session
    session[SESSION_MODE_KEY] = "live"
    session.save()


def _deploy(owner: Client, wasm: bytes, *, symbol: str = "BTC/USD", is_sandbox: bool = True) -> Deployment:
    return services.algo_deploy(
        scope=Scope(client=owner, is_sandbox=is_sandbox), symbol=symbol, wasm=wasm
    ).deployment


def _upload(http: HttpClient, wasm: bytes, *, filename: str, symbol: str = "", venue: str = ""):
    return http.post(
        reverse("algo_studio:upload"),
        {"wasm": SimpleUploadedFile(filename, wasm, "application/wasm"), "symbol": symbol, "venue": venue},
    )


def _url(name: str, deployment: Deployment) -> str:
    return reverse(f"algo_studio:{name}", kwargs={"deployment_id": deployment.deployment_id})


# -- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["algo_studio:algos", "algo_studio:deployments", "algo_studio:algos_live", "edges:list"]
)
def test_pages_require_login(client: HttpClient, name: str) -> None:
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_user_without_client_gets_403(client: HttpClient) -> None:
    user = get_user_model().objects.create_user(username="nobody", password="pw")
    client.force_login(user)
    assert client.get(reverse("algo_studio:algos")).status_code == 403


def test_navigation_shows_algo_studio_deployments_and_edges(browser: HttpClient) -> None:
    page = browser.get(reverse("dashboard:home")).content.decode()
    for label, name in (
        ("Algo Studio", "algo_studio:algos"),
        ("Deployments", "algo_studio:deployments"),
        ("Edges", "edges:list"),
    ):
        assert f'href="{reverse(name)}"' in page and label in page


def test_other_clients_deployment_is_404_everywhere(
    browser: HttpClient, stranger: Client, sandbox_edges, wasm: bytes
) -> None:
    theirs = _deploy(stranger, wasm)
    for name in ("deployment", "deployment_live", "traces", "metrics", "history"):
        assert browser.get(_url(name, theirs)).status_code == 404, name
    for name in ("start", "stop", "delete", "rename"):
        assert browser.post(_url(name, theirs)).status_code == 404, name
    theirs.refresh_from_db()
    assert theirs.deleted_at is None
    assert list(DeploymentTransition.objects.filter(deployment=theirs).values_list("action", flat=True)) == [
        "deploy"
    ]


def test_other_modes_deployment_is_404(
    browser: HttpClient, owner: Client, sandbox_edges, live_edges, wasm: bytes
) -> None:
    live = _deploy(owner, wasm, is_sandbox=False)
    sandbox = _deploy(owner, wasm, symbol="ETH/USD")
    assert browser.get(_url("deployment", live)).status_code == 404
    assert browser.post(_url("start", live)).status_code == 404
    assert browser.get(_url("deployment", sandbox)).status_code == 200
    _live(browser)
    assert browser.get(_url("deployment", live)).status_code == 200
    assert browser.get(_url("deployment", sandbox)).status_code == 404
    page = browser.get(reverse("algo_studio:algos")).content.decode()
    assert "BTC/USD" in page and "ETH/USD" not in page


def test_unknown_deployment_id_is_404(browser: HttpClient) -> None:
    url = reverse("algo_studio:deployment", kwargs={"deployment_id": "dep_not-a-uuid"})
    assert browser.get(url).status_code == 404


# -- upload -------------------------------------------------------------------------------------


def test_upload_detects_symbol_from_filename_and_deploys_stopped(
    browser: HttpClient, owner: Client, sandbox_edges, wasm: bytes
) -> None:
    response = _upload(browser, wasm, filename="algo_btc_usd.wasm")
    deployment = Deployment.objects.get(client=owner)
    assert response.status_code == 302
    assert response["Location"] == _url("deployment", deployment)
    assert deployment.is_sandbox
    assert list(deployment.symbol_rows.values_list("symbol", flat=True)) == ["BTC/USD"]
    rows = DeploymentEdge.objects.filter(deployment=deployment)
    # BTC/USD trades on kraken and coinbase (kalshi is not algo-capable).
    assert sorted(rows.values_list("edge__venue", flat=True)) == ["coinbase", "kraken"]
    assert set(rows.values_list("desired_state", flat=True)) == {"stopped"}
    transition = DeploymentTransition.objects.get(deployment=deployment)
    assert (transition.action, transition.to_state, transition.actor) == (
        "deploy",
        "stopped",
        "dashboard:alice",
    )
    page = browser.get(response["Location"]).content.decode()
    assert "BTC/USD: deployed (pushed to 2/2 capable edges) - stopped (click Start to begin)." in page


def test_upload_with_typed_symbol_and_one_venue(
    browser: HttpClient, owner: Client, sandbox_edges, wasm: bytes
) -> None:
    response = _upload(browser, wasm, filename="whatever.wasm", symbol="eth-usd", venue="coinbase")
    assert response.status_code == 302
    deployment = Deployment.objects.get(client=owner)
    assert deployment.venue == "coinbase"
    assert list(deployment.symbol_rows.values_list("symbol", flat=True)) == ["ETH/USD"]
    assert list(deployment.edge_rows.values_list("edge__venue", flat=True)) == ["coinbase"]


def test_typed_symbol_wins_over_filename(browser: HttpClient, owner: Client, sandbox_edges, wasm) -> None:
    assert _upload(browser, wasm, filename="algo_btc_usd.wasm", symbol="XRP/USD").status_code == 302
    assert Deployment.objects.get(client=owner).symbol_rows.get().symbol == "XRP/USD"


def _assert_nothing_stored(owner: Client) -> None:
    assert not WasmArtifact.objects.filter(client=owner).exists()
    assert not Deployment.objects.filter(client=owner).exists()
    assert not DeploymentTransition.objects.exists()


@pytest.mark.parametrize(
    ("filename", "content", "symbol", "message"),
    [
        ("algo_btc_usd.wasm", b"not a wasm module", "", "Invalid algo"),
        ("algo.wasm", None, "", "Could not read a symbol from the file name"),
        ("algo.wasm", None, "BTCUSD", "Bad symbol"),
        ("algo_btc_usd.wasm", None, "", None),  # with venue=binance below
    ],
    ids=["bad-file", "no-symbol", "bad-symbol", "bad-venue"],
)
def test_upload_errors_are_shown_and_nothing_is_stored(
    browser: HttpClient, owner: Client, sandbox_edges, wasm: bytes, filename, content, symbol, message
) -> None:
    venue = "binance" if message is None else ""
    response = _upload(browser, content or wasm, filename=filename, symbol=symbol, venue=venue)
    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-testid="upload-errors"' in page
    assert (message or "Unknown venue &#x27;binance&#x27;") in page
    _assert_nothing_stored(owner)


def test_upload_over_one_mib_is_refused(browser: HttpClient, owner: Client, sandbox_edges) -> None:
    response = _upload(browser, b"\0asm" + b"\0" * (1024 * 1024), filename="algo_btc_usd.wasm")
    assert response.status_code == 400
    assert "over the 1 MiB limit" in response.content.decode()
    _assert_nothing_stored(owner)


def test_upload_without_connected_edge_is_refused(browser: HttpClient, owner: Client, wasm: bytes) -> None:
    response = _upload(browser, wasm, filename="algo_btc_usd.wasm")
    assert response.status_code == 400
    assert "No algo-capable sandbox edges are connected" in response.content.decode()
    _assert_nothing_stored(owner)


def test_upload_empty_file(browser: HttpClient, owner: Client, sandbox_edges) -> None:
    response = _upload(browser, b"", filename="algo_btc_usd.wasm")
    assert response.status_code == 400
    assert "empty" in response.content.decode()
    _assert_nothing_stored(owner)


# -- lifecycle ----------------------------------------------------------------------------------


def test_start_stop_delete_through_the_services(
    browser: HttpClient, owner: Client, sandbox_edges, wasm: bytes
) -> None:
    deployment = _deploy(owner, wasm)
    AlgoLog.objects.create(
        deployment=deployment,
        edge_id="venue-edge-kraken",
        symbol="BTC/USD",
        ts_ns=1,
        level="INFO",
        message="hi",
    )
    rows = DeploymentEdge.objects.filter(deployment=deployment)

    response = browser.post(_url("start", deployment))
    assert response.status_code == 302 and response["Location"] == _url("deployment", deployment)
    assert set(rows.values_list("desired_state", flat=True)) == {"running"}
    assert "Started: 2 edges notified." in browser.get(response["Location"]).content.decode()

    browser.post(_url("stop", deployment), {"venue": "kraken"})
    assert dict(rows.values_list("edge__venue", "desired_state")) == {
        "kraken": "stopped",
        "coinbase": "running",
    }

    table = browser.get(_url("history", deployment)).content.decode()
    assert table.index("<td>stop</td>") < table.index("<td>start</td>") < table.index("<td>deploy</td>")
    assert "dashboard:alice" in table

    response = browser.post(_url("delete", deployment))
    assert response.status_code == 302 and response["Location"] == reverse("algo_studio:algos")
    deployment.refresh_from_db()
    assert deployment.deleted_at is not None
    assert not AlgoLog.objects.filter(deployment=deployment).exists()
    assert set(rows.values_list("removed", flat=True)) == {True}
    history = DeploymentTransition.objects.filter(deployment=deployment).order_by("id")
    assert [(t.action, t.to_state, t.venue, t.edges_notified) for t in history] == [
        ("deploy", "stopped", None, 2),
        ("start", "running", None, 2),
        ("stop", "stopped", "kraken", 1),
        ("delete", "", None, 0),
    ]
    assert {t.actor for t in history[1:]} == {"dashboard:alice"}
    assert browser.get(_url("deployment", deployment)).status_code == 404


def test_polls_of_a_deleted_deployment_end_with_286(
    browser: HttpClient, owner: Client, stranger: Client, sandbox_edges, wasm: bytes
) -> None:
    """The page's panels poll while the Delete form's navigation is on its way (or another tab
    deleted the algo): htmx stops polling on 286 and shows the notice, instead of logging a 404."""
    deployment = _deploy(owner, wasm)
    browser.post(_url("delete", deployment))
    for name in ("deployment_live", "history", "traces"):
        response = browser.get(_url(name, deployment), headers={"HX-Request": "true"})
        assert response.status_code == 286, name
        assert "This algo has been deleted." in response.content.decode()
    # The charts' JSON (fetched by static/js/charts.js) says so, and the page stops asking.
    response = browser.get(_url("metrics", deployment))
    assert response.status_code == 200 and response.json()["deleted"] is True
    assert browser.get(_url("deployment", deployment)).status_code == 404
    # Another client's deleted deployment stays a plain 404.
    theirs = _deploy(stranger, wasm, symbol="ETH/USD")
    services.deployment_delete(deployment=theirs, venue=None, actor="test")
    assert browser.get(_url("deployment_live", theirs)).status_code == 404
    assert browser.get(_url("metrics", theirs)).status_code == 404


def test_start_with_htmx_answers_the_live_panel(
    browser: HttpClient, owner: Client, sandbox_edges, wasm: bytes
) -> None:
    deployment = _deploy(owner, wasm)
    response = browser.post(_url("start", deployment), headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="status"' in body
    assert 'id="action-flash" hx-swap-oob="true"' in body and "Started: 2 edges notified." in body


def test_the_lifecycle_form_sends_start_and_stop_not_its_buttons(
    browser: HttpClient, owner: Client, sandbox_edges, wasm: bytes
) -> None:
    """The live panel's poll replaces #lifecycle-buttons; a request sent by a replaced button would
    find no #action-flash for its out-of-band flash (htmx looks in the sender's document)."""
    deployment = _deploy(owner, wasm)
    page = browser.get(_url("deployment", deployment)).content.decode()
    assert (
        f'id="lifecycle" action="{_url("start", deployment)}" hx-post="{_url("start", deployment)}"' in page
    )
    live = browser.get(_url("deployment_live", deployment)).content.decode()
    buttons = live[live.index('id="lifecycle-buttons"') : live.index("</span>")]
    assert f'formaction="{_url("start", deployment)}"' in buttons and "hx-post" not in buttons


def test_illegal_action_shows_the_service_message(
    browser: HttpClient, owner: Client, sandbox_edges, wasm: bytes
) -> None:
    deployment = _deploy(owner, wasm)
    response = browser.post(_url("start", deployment), {"venue": "binance"}, follow=True)
    assert "Unknown venue &#x27;binance&#x27;" in response.content.decode()
    assert set(deployment.edge_rows.values_list("desired_state", flat=True)) == {"stopped"}
    assert list(DeploymentTransition.objects.values_list("action", flat=True)) == ["deploy"]


def test_start_and_stop_one_symbol_from_the_algo_list(
    browser: HttpClient, owner: Client, sandbox_edges, wasm: bytes
) -> None:
    deployment = _deploy(owner, wasm)
    response = browser.post(
        _url("start", deployment), {"symbol": "BTC/USD", "next": reverse("algo_studio:algos")}
    )
    assert response["Location"] == reverse("algo_studio:algos")
    assert set(deployment.edge_rows.values_list("desired_state", flat=True)) == {"running"}
    # An outside `next` is ignored.
    response = browser.post(_url("stop", deployment), {"next": "https://evil.example/"})
    assert response["Location"] == _url("deployment", deployment)


def test_delete_one_venue_keeps_the_deployment(
    browser: HttpClient, owner: Client, sandbox_edges, wasm: bytes
) -> None:
    deployment = _deploy(owner, wasm)
    response = browser.post(_url("delete", deployment), {"venue": "kraken"})
    assert response["Location"] == _url("deployment", deployment)
    deployment.refresh_from_db()
    assert deployment.deleted_at is None
    assert dict(deployment.edge_rows.values_list("edge__venue", "removed")) == {
        "kraken": True,
        "coinbase": False,
    }


def test_rename(browser: HttpClient, owner: Client, sandbox_edges, wasm: bytes) -> None:
    deployment = _deploy(owner, wasm)
    browser.post(_url("rename", deployment), {"name": "  BTC maker  "})
    deployment.refresh_from_db()
    assert deployment.name == "BTC maker"
    assert DeploymentTransition.objects.filter(deployment=deployment, action="rename").exists()
    assert "BTC maker" in browser.get(reverse("algo_studio:deployments")).content.decode()


# -- pages and partials -------------------------------------------------------------------------


def test_algo_list_and_detail_pages(browser: HttpClient, owner: Client, sandbox_edges, wasm: bytes) -> None:
    deployment = _deploy(owner, wasm)
    DeploymentEdge.objects.filter(deployment=deployment, edge__venue="kraken").update(
        status="paused", pause_reason="trap: unreachable", applied_generation=1, update_count=42
    )
    page = browser.get(reverse("algo_studio:algos")).content.decode()
    assert 'hx-get="/algos/live/"' in page and 'hx-trigger="every 2s"' in page
    assert "BTC/USD" in page and "trap: unreachable" in page
    assert 'class="pill paused"' in page
    live = browser.get(reverse("algo_studio:algos_live")).content.decode()
    assert "venue-edge-kraken" in live and "<html" not in live

    detail = browser.get(_url("deployment", deployment)).content.decode()
    assert f'data-ws-path="/v1/deployments/{deployment.deployment_id}/logs/stream"' in detail
    assert "This cannot be undone." in detail
    assert "/static/vendor/chart.js/dist/chart.umd.min.js" in detail
    assert '<option value="venue-edge-coinbase">' in detail
    partial = browser.get(_url("deployment_live", deployment)).content.decode()
    assert 'data-testid="status">paused<' in partial


def test_traces_partial(browser: HttpClient, owner: Client, sandbox_edges, wasm: bytes) -> None:
    deployment = _deploy(owner, wasm)
    for kind in ("on_book", "on_fill"):
        AlgoTrace.objects.create(
            deployment=deployment,
            edge_id="venue-edge-kraken",
            symbol="BTC/USD",
            callback_type=kind,
            ts_ns=1_710_700_000_000_000_000,
            latency_ns=38_000,
            input={"best_bid": "3450.50"},
            output={"actions": ["place_bid@3450.40"]},
            logs=["quoting"],
        )
    body = browser.get(_url("traces", deployment)).content.decode()
    assert body.count("<code>on_") == 2
    assert "place_bid@3450.40" in body and "38.0 µs" in body and "quoting" in body
    only_fills = browser.get(_url("traces", deployment), {"type": "on_fill"}).content.decode()
    assert only_fills.count("<code>on_") == 1
    assert "<details><summary>best_bid</summary>" in body  # the input collapsed to its keys
    assert 'data-testid="trace-older"' not in body


def test_traces_are_paged(browser: HttpClient, owner: Client, sandbox_edges, wasm: bytes) -> None:
    deployment = _deploy(owner, wasm)
    AlgoTrace.objects.bulk_create(
        AlgoTrace(
            deployment=deployment, edge_id="venue-edge-kraken", symbol="BTC/USD", callback_type="on_book",
            ts_ns=1_710_700_000_000_000_000 + i, latency_ns=1, input={"i": i}, output={"actions": []}, logs=[],
        )
        for i in range(25)
    )  # fmt: skip
    first = browser.get(_url("traces", deployment)).content.decode()
    assert first.count("<code>on_book</code>") == 20 and 'data-testid="trace-older"' in first
    older = browser.get(_url("traces", deployment), {"page": "1"}).content.decode()
    assert older.count("<code>on_book</code>") == 5 and 'data-testid="trace-newer"' in older
    assert 'data-testid="trace-older"' not in older
    assert browser.get(_url("traces", deployment), {"page": "x"}).status_code == 200


def test_metrics_json(browser: HttpClient, owner: Client, sandbox_edges, wasm: bytes) -> None:
    deployment = _deploy(owner, wasm)
    now = timezone.now()
    for i, edge_id in enumerate(("venue-edge-kraken", "venue-edge-coinbase")):
        MetricSample.objects.create(
            deployment=deployment,
            edge_id=edge_id,
            symbol="BTC/USD",
            ts=now - timezone.timedelta(seconds=30),
            position_1e8=100_000_000,
            realized_pnl_1e9=1_000_000_000 * (i + 1),
            unrealized_pnl_1e9=0,
            callback_latency_ns=40_000 + 2_000 * i,
            fill_count=3,
        )
    body = browser.get(_url("metrics", deployment)).json()
    assert body["deployment_id"] == deployment.deployment_id and body["interval"] == "5s"
    [point] = body["series"]
    assert point["position_1e8"] == 200_000_000
    assert point["realized_pnl_1e9"] == 3_000_000_000
    assert point["callback_latency_ns"] == 41_000
    assert point["fill_count"] == 6
    one_edge = browser.get(_url("metrics", deployment), {"edge_id": "venue-edge-kraken", "interval": "1m"})
    assert one_edge.json()["series"][0]["realized_pnl_1e9"] == 1_000_000_000
    bad = browser.get(_url("metrics", deployment), {"interval": "fortnight"})
    assert bad.status_code == 400
    assert bad.json()["error"]["message"].startswith("Bad interval")


def test_metrics_json_requires_login(client: HttpClient, owner: Client, sandbox_edges, wasm: bytes) -> None:
    deployment = _deploy(owner, wasm)
    assert client.get(_url("metrics", deployment)).status_code == 302


def test_edges_page(browser: HttpClient, sandbox_edges, live_edges) -> None:
    from edges.models import Edge

    Edge.objects.filter(edge_id="venue-edge-kalshi").update(last_heartbeat=None)
    page = browser.get(reverse("edges:list")).content.decode()
    assert page.index('data-testid="edges-sandbox"') < page.index('data-testid="edges-live"')
    assert page.count("pill connected") == 4
    assert page.count("pill disconnected") == 1
    assert "never" in page


def test_deployment_page_links_to_a_backtest_of_it(client, django_user_model, owner, sandbox_edges, wasm):
    from algo_studio import services
    from sequence_site import services as site_services
    from sequence_site.scope import Scope

    user = django_user_model.objects.create_user(username="bt-link", password="x" * 12)
    site_services.client_add_member(client=owner, user=user)
    client.force_login(user)
    deployment = services.algo_deploy(
        scope=Scope(client=owner, is_sandbox=True), symbol="XRP/USD", wasm=wasm
    ).deployment
    page = client.get(f"/algos/deployments/{deployment.deployment_id}/").content.decode()
    link = f"/backtests/?deployment={deployment.deployment_id}"
    assert link in page
    form = client.get(link).content.decode()
    assert (
        f'value="{deployment.deployment_id}" selected' in form
        or f'"{deployment.deployment_id}" selected' in form
    )


def test_only_the_front_end_packages_built_files_are_served(client: HttpClient) -> None:
    served = client.get("/static/vendor/chart.js/dist/chart.umd.min.js")
    assert served.status_code == 200
    assert b"Chart" in b"".join(served.streaming_content if served.streaming else [served.content])
    # node_modules' sources, metadata and transitive packages are not static files
    for path in ("chart.js/package.json", "chart.js/auto/auto.js", "@kurkle/color/package.json"):
        assert client.get(f"/static/vendor/{path}").status_code == 404, path


# -- the overview (home page) -------------------------------------------------------------------


def test_overview_pnl_today_and_overall(
    browser: HttpClient, owner: Client, sandbox_edges, wasm: bytes
) -> None:
    """Overall PnL is the edges' current PnL; today's is what changed since the last sample before
    00:00 UTC. A paused edge shows among the problems with its reason; no checklist once set up."""
    deployment = _deploy(owner, wasm)
    now = timezone.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    kraken = DeploymentEdge.objects.get(deployment=deployment, edge__venue="kraken")
    DeploymentEdge.objects.filter(pk=kraken.pk).update(
        realized_pnl_1e9=1_500_000_000_000, unrealized_pnl_1e9=-250_000_000, applied_generation=1,
        status="running", desired_state="running",
    )  # fmt: skip
    DeploymentEdge.objects.filter(deployment=deployment, edge__venue="coinbase").update(
        status="paused", pause_reason="trap: unreachable", applied_generation=1, desired_state="running"
    )
    MetricSample.objects.create(
        deployment=deployment, edge_id="venue-edge-kraken", symbol="BTC/USD",
        # Before 00:00 UTC and outside the sparkline's hour (the test may run just after midnight).
        ts=min(midnight, now - timezone.timedelta(hours=1)) - timezone.timedelta(minutes=5), position_1e8=0,
        realized_pnl_1e9=1_000_000_000_000, unrealized_pnl_1e9=0, callback_latency_ns=1, fill_count=1,
    )  # fmt: skip
    for seconds in (150, 90, 30):  # one per 1-minute bucket of the sparkline
        MetricSample.objects.create(
            deployment=deployment, edge_id="venue-edge-kraken", symbol="BTC/USD",
            ts=now - timezone.timedelta(seconds=seconds), position_1e8=0,
            realized_pnl_1e9=1_000_000_000_000 + seconds * 1_000_000_000, unrealized_pnl_1e9=0,
            callback_latency_ns=1, fill_count=1,
        )  # fmt: skip
    assert now - midnight > timezone.timedelta(seconds=150) or pytest.skip("too close to 00:00 UTC")
    html = browser.get(reverse("dashboard:home")).content.decode()
    assert 'data-testid="pnl-total">+1,499.75 <span class="muted">USD</span>' in html
    assert 'data-testid="pnl-today">+499.75 <span class="muted">USD</span>' in html
    assert 'class="v pos" data-testid="pnl-today"' in html
    assert 'data-points="3"' in html  # an hour of PnL in 1-minute buckets: three samples
    assert "trap: unreachable" in html and 'data-testid="getting-started"' not in html
    assert html.count('data-testid="overview-algo-status">paused<') == 1
    # The htmx refresh answers the overview alone.
    partial = browser.get(reverse("dashboard:home"), headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial and "+1,499.75" in partial


def test_overview_of_an_empty_account_shows_the_checklist(browser: HttpClient) -> None:
    html = browser.get(reverse("dashboard:home")).content.decode()
    assert 'data-testid="getting-started"' in html
    assert "Create an API key" in html and "Upload an algo (.wasm)" in html
    assert 'data-testid="pnl-total">0.00' in html


def test_deployment_page_names_the_latest_refusal(
    browser: HttpClient, owner: Client, sandbox_edges, wasm: bytes
) -> None:
    deployment = _deploy(owner, wasm)
    DeploymentEdge.objects.filter(deployment=deployment, edge__venue="kraken").update(reject_count=3)
    AlgoLog.objects.create(
        deployment=deployment, edge_id="venue-edge-kraken", symbol="BTC/USD", ts_ns=1, level="WARN",
        message="BUY REJECT: order=7 qty=1000000 @$0.5 reason=BELOW_MIN_QTY: 0.01 < kraken min 2",
    )  # fmt: skip
    partial = browser.get(_url("deployment_live", deployment)).content.decode()
    assert "Orders refused (3). Latest: <code>BELOW_MIN_QTY: 0.01 &lt; kraken min 2</code>" in partial


def test_deploy_and_start_warn_when_the_first_orders_would_be_refused(
    browser: HttpClient, owner: Client, sandbox_edges, wasm: bytes
) -> None:
    # The scripted algo sends 0.01 XRP: Kraken's minimum is 2 (Coinbase takes it).
    warning = "XRP/USD on kraken: the venue would refuse 1 order"
    response = _upload(browser, wasm, filename="algo_xrp_usd.wasm")
    page = browser.get(response["Location"]).content.decode()
    assert (
        'class="flash warning"' in page
        and warning in page
        and "BELOW_MIN_QTY: 0.01 &lt; kraken min 2" in page
    )
    deployment = Deployment.objects.get(client=owner)
    body = browser.post(_url("start", deployment), headers={"HX-Request": "true"}).content.decode()
    assert "Started: 2 edges notified." in body and warning in body
    # Only where it applies: BTC/USD on both venues takes 0.01.
    other = _deploy(owner, wasm, symbol="BTC/USD")
    body = browser.post(_url("start", other), headers={"HX-Request": "true"}).content.decode()
    assert "Started: 2 edges notified." in body and "would refuse" not in body
