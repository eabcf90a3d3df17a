"""Jobs whose worker died are failed by beat's janitor; a cancel is seen while the data is prepared."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from django.utils import timezone

from backtests import services, tasks
from backtests.lifecycle import JobStatus, transition
from backtests.models import BacktestJob, BacktestTransition
from edges.replay import Replay, ReplayCancelled, ReplaySpec
from sequence_site.celery import app as celery_app
from tests.backtests.conftest import IDLE_WAT, wait_status
from tests.celery_worker import idle
from tests.edges.conftest import wait_for, wat
from venues.instruments import get_instrument
from venues.marketdata.store import MarketDataStore

DAY = {"start_date": "2026-01-10", "end_date": "2026-01-10"}


def submit(api, deployment, **body) -> str:
    status, reply = api.post("/v1/backtest", json={"deployment_id": deployment.deployment_id, **DAY, **body})
    assert status == 200, reply
    return reply["job_id"]


def transitions(job_id: str) -> list[tuple[str, str]]:
    return list(BacktestTransition.objects.filter(job_id=job_id).values_list("from_status", "to_status"))


def running(job_id: str, **fields) -> BacktestJob:
    """A job a worker claimed (no worker here: the test plays it)."""
    job = BacktestJob.objects.get(pk=job_id)
    transition(job, JobStatus.RUNNING, worker="gone@host", **fields)
    return job


def sim_days(market_data, venue: str, symbol: str, seed: int) -> int:
    store = MarketDataStore(market_data)
    # Whole days only: a day being written is a hidden ".tmp-*" file until it is renamed.
    return len(list(store.sim_path(venue, symbol, date(2026, 1, 1), seed).parent.glob("[0-9]*.parquet")))


def worker_idle() -> bool:
    return idle()


# -- the janitor ---------------------------------------------------------------------------------------


def test_janitor_fails_a_stale_running_job_and_leaves_fresh_ones_alone(
    api, owner, make_deployment, settings, django_capture_on_commit_callbacks
):
    settings.BACKTEST_HEARTBEAT_TIMEOUT_SECONDS = 120
    dep = make_deployment(owner, wat(IDLE_WAT))
    now = timezone.now()
    stale = running(submit(api, dep), heartbeat_at=now - timedelta(seconds=200))
    fresh = running(submit(api, dep), heartbeat_at=now - timedelta(seconds=100))
    queued = submit(api, dep)  # no worker yet: not the janitor's business, however old

    def janitor_pass() -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return services.backtest_janitor(now=now)

    async def listen() -> tuple[int, dict]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(services.progress_group(stale.id), channel)
        failed = await sync_to_async(janitor_pass)()
        return failed, await asyncio.wait_for(layer.receive(channel), timeout=30)

    failed, pushed = async_to_sync(listen)()
    assert failed == 1

    message = "the backtest worker stopped responding (no progress for 200 s); run it again"
    status, body = api.get(f"/v1/backtest/{stale.id}")
    assert status == 200
    assert body["status"] == "failed" and body["error"] == message
    stale.refresh_from_db()
    assert stale.finished_at is not None
    assert transitions(stale.id) == [("queued", "running"), ("running", "failed")]
    assert BacktestTransition.objects.get(job_id=stale.id, to_status="failed").note == message
    assert pushed["type"] == "backtest.progress"
    assert pushed["status"] == "failed" and pushed["error"] == message and pushed["job_id"] == stale.id

    assert api.get(f"/v1/backtest/{fresh.id}")[1]["status"] == "running"
    assert transitions(fresh.id) == [("queued", "running")]
    assert BacktestJob.objects.get(pk=queued).status == "queued"
    # A second pass has nothing left to do; the final job is not touched again.
    assert services.backtest_janitor(now=now) == 0
    assert transitions(stale.id) == [("queued", "running"), ("running", "failed")]
    # Once its heartbeat is old enough, the fresh one goes too.
    assert services.backtest_janitor(now=now + timedelta(seconds=21)) == 1
    assert BacktestJob.objects.get(pk=fresh.id).error.startswith(
        "the backtest worker stopped responding (no progress for 121 s)"
    )


def test_a_running_job_without_a_heartbeat_is_judged_by_its_start(api, owner, make_deployment, settings):
    # Rows that were running before heartbeats existed (the migration leaves them null).
    settings.BACKTEST_HEARTBEAT_TIMEOUT_SECONDS = 60
    dep = make_deployment(owner, wat(IDLE_WAT))
    now = timezone.now()
    old = running(submit(api, dep), started_at=now - timedelta(seconds=90))
    young = running(submit(api, dep), started_at=now - timedelta(seconds=30))
    assert old.heartbeat_at is None and young.heartbeat_at is None
    assert services.backtest_janitor(now=now) == 1
    assert BacktestJob.objects.get(pk=old.id).error == (
        "the backtest worker stopped responding (no progress for 90 s); run it again"
    )
    assert BacktestJob.objects.get(pk=young.id).status == "running"


def test_the_janitor_task_calls_the_service(api, owner, make_deployment, settings):
    settings.BACKTEST_HEARTBEAT_TIMEOUT_SECONDS = 5
    dep = make_deployment(owner, wat(IDLE_WAT))
    job = running(submit(api, dep), heartbeat_at=timezone.now() - timedelta(seconds=60))
    assert tasks.janitor() == 1  # the task's body, as the default-queue worker runs it
    assert BacktestJob.objects.get(pk=job.id).status == "failed"


def test_beat_runs_the_janitor_on_the_default_queue():
    entry = django_settings.CELERY_BEAT_SCHEDULE["backtests-janitor"]
    assert entry["task"] == "backtests.janitor"
    assert entry["schedule"] == django_settings.BACKTEST_JANITOR_SECONDS
    assert entry["options"]["queue"] == "default"
    assert celery_app.conf.beat_schedule["backtests-janitor"]["task"] == "backtests.janitor"
    celery_app.loader.import_default_modules()
    assert "backtests.janitor" in celery_app.tasks
    # Exact routes win over the `backtests.*` glob: the janitor must not wait behind the jobs.
    assert celery_app.amqp.router.route({}, "backtests.janitor")["queue"].name == "default"
    assert celery_app.amqp.router.route({}, "backtests.run_backtest")["queue"].name == "backtests"


def test_a_worker_that_comes_back_finds_its_job_failed_and_stops(
    api, owner, celery_worker, make_deployment, market_data
):
    # The worker is alive but the janitor (with a clock far ahead) judged it gone: its next progress
    # write finds the job no longer running, and it stops without overwriting the janitor's word.
    dep = make_deployment(owner, wat(IDLE_WAT))
    job_id = submit(api, dep, start_date="2025-03-01", end_date="2025-05-31", seed=880_001)
    wait_status(api, job_id, ("running",))
    later = timezone.now() + timedelta(seconds=django_settings.BACKTEST_HEARTBEAT_TIMEOUT_SECONDS + 60)
    assert services.backtest_janitor(now=later) == 1
    wait_for(worker_idle, timeout=30, what="the worker to drop the failed job")
    job = BacktestJob.objects.get(pk=job_id)
    assert job.status == "failed" and job.error.startswith("the backtest worker stopped responding")
    assert transitions(job_id) == [("queued", "running"), ("running", "failed")]


# -- cancel while preparing ----------------------------------------------------------------------------


def test_prepare_asks_between_symbol_days_and_stops(tmp_path):
    spec = ReplaySpec(
        instruments=(get_instrument("kraken", "ETH/USDC"), get_instrument("kraken", "BTC/USDC")),
        first_day=date(2026, 2, 1),
        last_day=date(2026, 2, 5),
        seed=7,
        capital_1e9=1_000 * 1_000_000_000,
    )
    asked: list[int] = []

    def should_continue() -> bool:
        asked.append(1)
        return len(asked) < 3

    replay = Replay(wasm=wat(IDLE_WAT), spec=spec, store=MarketDataStore(tmp_path))
    with pytest.raises(ReplayCancelled) as cancelled:
        replay.prepare(should_continue=should_continue)
    assert cancelled.value.events_processed == 0
    assert len(asked) == 3
    # Three (symbol, day) units were generated, nothing after the "no".
    assert sorted(p.name for p in tmp_path.rglob("*.parquet")) == [
        "2026-02-01.parquet", "2026-02-01.parquet", "2026-02-02.parquet",
    ]  # fmt: skip


def test_cancel_while_generating_the_data_ends_the_job_promptly(
    api, owner, celery_worker, make_deployment, market_data
):
    dep = make_deployment(owner, wat(IDLE_WAT))
    seed = 880_002  # days no other test generated: this job spends its first seconds generating
    days = 120
    job_id = submit(api, dep, start_date="2025-06-01", end_date="2025-09-28", seed=seed)
    wait_for(
        lambda: sim_days(market_data, "kraken", "ETH/USDC", seed) >= 2,
        timeout=30,
        what="the job to be generating its days",
    )
    status, body = api.post(f"/v1/backtest/{job_id}/cancel")
    assert status == 200 and body["status"] == "cancelled"
    # The worker lets go between two days (each takes well under a second to generate), long
    # before the whole range would be ready.
    wait_for(worker_idle, timeout=60, what="the worker to notice the cancel")
    generated = sim_days(market_data, "kraken", "ETH/USDC", seed)
    assert generated < days
    job = BacktestJob.objects.get(pk=job_id)
    assert job.status == "cancelled" and job.total_events == 0 and job.events_processed == 0
    assert job.heartbeat_at > job.started_at  # heartbeats came during the preparation
    assert transitions(job_id) == [("queued", "running"), ("running", "cancelled")]
    assert api.get(f"/v1/backtest/{job_id}/results")[0] == 404
