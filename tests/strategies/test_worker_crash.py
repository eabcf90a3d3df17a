"""A Celery worker SIGKILLed mid-run: its strategy dies with it, the janitor re-queues the run, and
another worker runs it again. Nothing orphaned, nothing running twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from strategy_testing import REPO, create_body, lines_of, subprocess_env, wait_for

from strategies import services, tasks
from strategies.models import Strategy, StrategyRun, StrategyTransition
from tests.celery_worker import purge as purge_queues
from tests.celery_worker import running_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CELERY = str(Path(sys.executable).parent / "celery")
MAIN = """
import os, time
print("pid", os.getpid(), "run", os.environ["SEQUENCE_RUN_ID"], flush=True)
while True:
    time.sleep(0.05)
"""


def dead(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def purge() -> None:
    purge_queues(["strategies", "default"])


def test_killing_the_worker_mid_run_requeues_the_run_through_the_janitor(fast, api, strategy_run_dir):
    purge()
    doomed = subprocess.Popen(
        [
            CELERY,
            "-A",
            "sequence_site",
            "worker",
            "-Q",
            "strategies",
            "-P",
            "solo",
            "-n",
            "doomed@%h",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "WARNING",
        ],
        cwd=REPO,
        env=subprocess_env(STRATEGY_RUN_DIR=str(strategy_run_dir / "doomed-runs")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        status, body = api.post("/v1/strategies", json=create_body("survivor", MAIN, start=True))
        assert status == 201
        strategy_id = body["strategy_id"]
        first = wait_for(
            lambda: StrategyRun.objects.filter(strategy_id=strategy_id, pid__isnull=False).first(),
            timeout=60,
            what="the subprocess worker to start the strategy",
        )
        assert first.claimed_by.startswith("doomed@")
        wait_for(lambda: lines_of(first, "stdout"), what="the strategy's first line")

        os.killpg(doomed.pid, signal.SIGKILL)  # the worker, not the strategy (its own session)
        doomed.wait(timeout=30)
        # PR_SET_PDEATHSIG: the strategy does not outlive its supervisor.
        wait_for(lambda: dead(first.pid), timeout=30, what="the orphan to die")
        first.refresh_from_db()
        assert first.status == "running"  # nobody knows yet: only the heartbeat tells

        # Another worker comes up; beat's janitor (sent here by hand, as beat would) finds the
        # stale heartbeat once STRATEGY_HEARTBEAT_TIMEOUT_SECONDS (2 s here) has passed.
        with running_worker(queues=["strategies", "default"], concurrency=4, purge_queues=False):

            def requeued() -> StrategyRun | None:
                tasks.janitor.delay()
                return (
                    StrategyRun.objects.filter(strategy_id=strategy_id, status="running", pid__isnull=False)
                    .exclude(pk=first.pk)
                    .first()
                )

            second = wait_for(requeued, timeout=60, every=0.5, what="the janitor to re-queue the run")
            wait_for(lambda: lines_of(second, "stdout"), what="the new run's first line")
            first.refresh_from_db()
            assert first.status == "failed" and first.reason.startswith("runner lost: no heartbeat for")
            assert second.claimed_by and not second.claimed_by.startswith("doomed@")
            # pid 2 in its own PID namespace (1 is the sandbox's init); run.pid is the sandbox's
            # bwrap on the host, and the whole namespace ends with it.
            assert lines_of(second, "stdout") == [f"pid 2 run {second.pk}"]
            assert not dead(second.pid) and dead(first.pid)  # exactly one copy running
            actions = list(
                StrategyTransition.objects.filter(strategy_id=strategy_id).values_list("action", flat=True)
            )
            assert actions[-3:] == ["runner_lost", "retry", "claim"]
            services.strategy_delete(strategy=Strategy.objects.get(pk=strategy_id))
            wait_for(lambda: dead(second.pid), timeout=30, what="the strategy to stop on delete")
    finally:
        if doomed.poll() is None:
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait()
        purge()


def test_a_worker_shutting_down_hands_its_strategy_back_to_the_queue(fast, api):
    purge()
    with running_worker(queues=["strategies", "default"], concurrency=2):
        status, body = api.post("/v1/strategies", json=create_body("mover", MAIN, start=True))
        strategy_id = body["strategy_id"]
        first = wait_for(
            lambda: StrategyRun.objects.filter(strategy_id=strategy_id, pid__isnull=False).first(),
            what="a pid",
        )
        wait_for(lambda: lines_of(first, "stdout"), what="output")
    # The worker is gone: its supervisor sent SIGTERM and re-queued the strategy without backoff.
    first.refresh_from_db()
    strategy = Strategy.objects.get(pk=strategy_id)
    assert dead(first.pid)
    assert first.status == "stopped" and first.reason.startswith("stopped on request (SIGTERM")
    assert strategy.status == "queued" and strategy.current_run_id != first.pk
    restart = StrategyTransition.objects.filter(strategy_id=strategy_id, action="restart").get()
    assert restart.reason.startswith("runner shutting down")
    assert strategy.consecutive_failures == 0 and strategy.next_attempt_at is None
    services.strategy_delete(strategy=Strategy.objects.get(pk=strategy_id))
    purge()
