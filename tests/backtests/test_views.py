"""Backtest pages and the progress websocket."""

from __future__ import annotations

import contextlib

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from backtests.models import BacktestJob
from sequence_site import services
from sequence_site.asgi import application
from sequence_site.errors import InvalidTransition
from tests.backtests.conftest import IDLE_WAT, wait_status
from tests.edges.conftest import wat


@pytest.fixture
def member(owner):
    user = get_user_model().objects.create_user(username="bt-alice", password="correct horse battery")
    services.client_add_member(client=owner, user=user)
    return user


@pytest.fixture
def logged_in(client, member):
    client.force_login(member)
    return client


def test_list_page_form_runs_a_backtest_and_shows_results(
    logged_in, api, owner, celery_worker, make_deployment
):
    dep = make_deployment(owner, wat(IDLE_WAT))
    page = logged_in.get("/backtests/")
    assert page.status_code == 200 and dep.deployment_id.encode() in page.content
    response = logged_in.post(
        "/backtests/",
        {"deployment_id": dep.deployment_id, "start_date": "2026-01-10", "end_date": "2026-01-10",
         "capital_usd": "5000", "seed": "3", "symbols": ""},
    )  # fmt: skip
    job = BacktestJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/backtests/{job.id}/"
    assert float(job.capital_usd) == 5000 and job.seed == 3
    wait_status(api, job.id, ("completed",))
    page = logged_in.get(f"/backtests/{job.id}/").content.decode()
    assert 'data-testid="metrics"' in page and 'id="chart-equity"' in page and 'id="chart-drawdown"' in page
    assert "vendor/chart.js/dist/chart.umd.min.js" in page and 'data-testid="trades"' in page
    assert job.id in logged_in.get("/backtests/").content.decode()
    partial = logged_in.get(f"/backtests/{job.id}/", headers={"HX-Request": "true"}).content.decode()
    assert 'data-status="completed"' in partial and "hx-trigger" not in partial


def test_form_errors_are_shown_and_nothing_is_queued(logged_in, owner, make_deployment):
    dep = make_deployment(owner, wat(IDLE_WAT))
    response = logged_in.post(
        "/backtests/", {"deployment_id": dep.deployment_id, "start_date": "2026-01-10", "end_date": "2026-01-01"},
        follow=True,
    )  # fmt: skip
    assert "before start_date" in response.content.decode()
    assert not BacktestJob.objects.exists()


def test_other_clients_job_page_is_404(logged_in, stranger, make_deployment, stranger_sandbox_key, api):
    dep = make_deployment(stranger, wat(IDLE_WAT))
    body = api.post(
        "/v1/backtest", json={"deployment_id": dep.deployment_id, "start_date": "2026-01-10", "end_date": "2026-01-10"},
        key=stranger_sandbox_key.plaintext,
    )[1]  # fmt: skip
    assert logged_in.get(f"/backtests/{body['job_id']}/").status_code == 404
    assert logged_in.post(f"/backtests/{body['job_id']}/cancel/").status_code == 404
    assert BacktestJob.objects.get().status == "queued"


def test_queued_job_page_polls_and_can_be_cancelled(logged_in, owner, make_deployment, api):
    dep = make_deployment(owner, wat(IDLE_WAT))
    job_id = api.post("/v1/backtest", json={"deployment_id": dep.deployment_id, "start_date": "2026-01-10",
                                             "end_date": "2026-01-10"})[1]["job_id"]  # fmt: skip
    page = logged_in.get(f"/backtests/{job_id}/").content.decode()
    assert "hx-trigger" in page and f"/v1/backtest/{job_id}/stream" in page
    assert logged_in.post(f"/backtests/{job_id}/cancel/").status_code == 302
    assert BacktestJob.objects.get(pk=job_id).status == "cancelled"


@pytest.mark.django_db(transaction=True)
async def test_websocket_sends_status_and_refuses_strangers(
    owner, stranger, make_deployment, sandbox_key, stranger_sandbox_key
):
    from asgiref.sync import sync_to_async

    from backtests.services import backtest_cancel, backtest_create
    from sequence_site.scope import Scope

    @sync_to_async
    def make() -> BacktestJob:
        dep = make_deployment(owner, wat(IDLE_WAT))
        from datetime import date

        return backtest_create(scope=Scope(client=owner, is_sandbox=True), deployment_id=dep.deployment_id,
                               start_date=date(2026, 1, 10), end_date=date(2026, 1, 10))  # fmt: skip

    job = await make()
    path = f"/v1/backtest/{job.id}/stream"
    headers = [
        (b"authorization", f"Bearer {sandbox_key.plaintext}".encode()),
        (b"origin", b"http://localhost"),
    ]
    ws = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await ws.connect()
    assert connected
    first = await ws.receive_json_from(timeout=5)
    # Queued, or already running when the module's worker (started by an earlier test) took it.
    assert first["job_id"] == job.id and first["status"] in ("queued", "running", "completed")

    @sync_to_async
    def cancel_if_possible() -> None:
        # It may have completed first: fine, the push below says so.
        with contextlib.suppress(InvalidTransition):
            backtest_cancel(job=BacktestJob.objects.get(pk=job.id))

    message = first
    if first["status"] != "completed":
        await cancel_if_possible()
        while message["status"] not in ("cancelled", "completed"):
            message = await ws.receive_json_from(timeout=10)
    stored = await sync_to_async(lambda: BacktestJob.objects.get(pk=job.id).status)()
    assert message["status"] == stored
    await ws.disconnect()

    stranger_headers = [(b"authorization", f"Bearer {stranger_sandbox_key.plaintext}".encode()),
                        (b"origin", b"http://localhost")]  # fmt: skip
    ws = WebsocketCommunicator(application, path, headers=stranger_headers)
    connected, code = await ws.connect()
    assert not connected and code == 4404


def test_results_page_shows_provenance_logs_traces_and_a_margin_breach(
    logged_in, owner, make_deployment, tmp_path
):
    import io
    from datetime import date

    from backtests.lifecycle import JobStatus
    from edges.replay import Replay, ReplaySpec, results_json
    from tests.backtests.conftest import SCENARIO_CSV, SCENARIO_WAT
    from venues.instruments import get_instrument
    from venues.marketdata.importer import parse_csv
    from venues.marketdata.store import MarketDataStore

    store = MarketDataStore(tmp_path)
    store.import_table("coinbase", "ETH/USD", parse_csv(io.StringIO(SCENARIO_CSV)))
    day = date(2026, 3, 2)
    spec = ReplaySpec(
        instruments=(get_instrument("coinbase", "ETH/USD"),), first_day=day, last_day=day, seed=7,
        capital_1e9=10**9,
    )  # fmt: skip
    results = Replay(wasm=wat(SCENARIO_WAT), spec=spec, store=store).run()
    dep = make_deployment(owner, wat(SCENARIO_WAT), symbols=("ETH/USD",), venue="coinbase")
    job = BacktestJob.objects.create(
        client=owner, is_sandbox=True, deployment=dep, artifact=dep.artifact, venue="coinbase",
        symbols=["ETH/USD"], start_date=day, end_date=day, capital_usd=1, seed=7,
        status=JobStatus.COMPLETED, results_json=results_json(results), metrics=results["metrics"],
        sources=results["summary"]["data_days"],
    )  # fmt: skip
    listing = logged_in.get("/backtests/").content.decode()
    assert "1 recorded" in listing and "margin breach" in listing
    page = logged_in.get(f"/backtests/{job.id}/").content.decode()
    assert 'data-testid="margin-breach"' in page and "lost all of its 1.00 USD capital" in page
    assert "1 recorded and 0 simulated" in page and "recorded market data" in page
    assert 'data-testid="backtest-logs"' in page and 'data-testid="backtest-traces"' in page
    traces = page.split('data-testid="backtest-traces"', 1)[1]
    assert traces.count("<details") == len(results["traces"]) > 0
    assert "place_bid@" in traces  # the buy, in the first trace's summary line
