"""The runner end to end: a real Celery worker, real processes, the real database.

Timings are shortened by the ``fast`` fixture (heartbeat 0.2 s, grace 1.5 s, backoff 0.4 s doubling).
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from strategy_testing import create_body, lines_of, wait_for, wait_status

from strategies.models import Strategy, StrategyRun, StrategyTransition

pytestmark = pytest.mark.slow

SLEEPER = """
import os, signal, sys, time
print("pid", os.getpid(), flush=True)
while True:
    time.sleep(0.05)
"""


def runs_of(strategy_id) -> list[StrategyRun]:
    return list(StrategyRun.objects.filter(strategy_id=strategy_id).order_by("created_at"))


def actions(strategy_id) -> list[str]:
    return list(
        StrategyTransition.objects.filter(strategy_id=strategy_id)
        .order_by("pk")
        .values_list("action", flat=True)
    )


def test_exit_zero_is_stopped_and_not_restarted(runner, api):
    status, body = api.post(
        "/v1/strategies", json=create_body("once", "print('hello'); print('bye')", start=True)
    )
    assert status == 201, body
    assert body["status"] == "queued"
    strategy = wait_status(body["strategy_id"], "stopped", timeout=20)
    run = strategy.current_run
    assert run.status == "stopped" and run.exit_code == 0 and run.reason == "exited with code 0"
    assert lines_of(run, "stdout") == ["hello", "bye"]
    assert strategy.last_exit_code == 0 and strategy.restart_count == 0 and strategy.next_attempt_at is None
    time.sleep(1.0)  # longer than any backoff in these settings: nothing comes back
    assert len(runs_of(strategy.pk)) == 1
    assert Strategy.objects.get(pk=strategy.pk).status == "stopped"
    assert actions(strategy.pk) == ["deploy", "start", "claim", "exit"]


def test_exit_one_fails_and_restarts_with_new_run_ids_and_backoff(runner, api):
    main = "import os, sys; print('run', os.environ['SEQUENCE_RUN_ID']); sys.exit(1)"
    status, body = api.post("/v1/strategies", json=create_body("crashy", main, start=True))
    assert status == 201
    strategy_id = body["strategy_id"]
    wait_for(
        lambda: len([r for r in runs_of(strategy_id) if r.status == "failed"]) >= 3,
        timeout=20,
        what="3 failures",
    )
    status, stopped = api.post(f"/v1/strategies/{strategy_id}/stop")
    assert status == 200 and stopped["status"] in ("stopped", "stopping"), stopped
    strategy = wait_status(strategy_id, "stopped")

    runs = [r for r in runs_of(strategy_id) if r.status == "failed"]
    assert len({r.pk for r in runs}) == len(runs)  # a new run id each time
    for run in runs:
        assert run.exit_code == 1 and run.reason == "exited with code 1"
        assert lines_of(run, "stdout") == [f"run {run.pk}"]  # SEQUENCE_RUN_ID is the run's own id
    assert [r.attempt for r in runs[:3]] == [1, 2, 3]
    # Exponential backoff: 0.4 s, 0.8 s, ... between a run's end and the next run's start.
    gaps = [
        (later.started_at - earlier.ended_at).total_seconds()
        for earlier, later in zip(runs, runs[1:], strict=False)
    ]
    assert gaps[0] >= 0.4 * 0.9 and gaps[1] >= 0.8 * 0.9, gaps
    assert gaps[1] > gaps[0]
    crash_reasons = list(
        StrategyTransition.objects.filter(strategy_id=strategy_id, action="crash").values_list(
            "reason", flat=True
        )
    )
    assert crash_reasons[0] == "exited with code 1; restarting in 0.4 s"
    assert crash_reasons[1] == "exited with code 1; restarting in 0.8 s"
    assert strategy.restart_count >= 2 and strategy.last_exit_code == 1
    # Stopped means stopped: the scheduled restart was cancelled.
    count = len(runs_of(strategy_id))
    time.sleep(1.5)
    assert len(runs_of(strategy_id)) == count


def test_backoff_is_capped_and_resets_after_a_long_run(fast):
    from strategies.services import backoff_seconds

    fast.STRATEGY_BACKOFF_BASE_SECONDS = 1.0
    fast.STRATEGY_BACKOFF_MAX_SECONDS = 300.0
    assert [backoff_seconds(n) for n in (1, 2, 3, 4, 9, 10, 50)] == [1, 2, 4, 8, 256, 300, 300]


def test_sigkill_of_the_child_fails_and_restarts(runner, api):
    status, body = api.post("/v1/strategies", json=create_body("victim", SLEEPER, start=True))
    strategy_id = body["strategy_id"]
    first = wait_for(
        lambda: StrategyRun.objects.filter(strategy_id=strategy_id, pid__isnull=False).first(), what="pid"
    )
    wait_for(lambda: lines_of(first, "stdout"), what="the first line")
    os.kill(first.pid, signal.SIGKILL)

    second = wait_for(
        lambda: (
            StrategyRun.objects.filter(strategy_id=strategy_id, status="running").exclude(pk=first.pk).first()
        ),
        what="a new run",
    )
    first.refresh_from_db()
    assert first.status == "failed" and first.signal == "SIGKILL" and first.exit_code is None
    assert first.reason == "killed by signal SIGKILL"
    assert second.pk != first.pk
    assert "crash" in actions(strategy_id) and "retry" in actions(strategy_id)
    assert Strategy.objects.get(pk=strategy_id).restart_count == 1


def test_stop_sends_sigterm_the_program_sees(runner, api):
    main = """
import signal, sys, time
def bye(signum, frame):
    print("got SIGTERM", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""
    status, body = api.post("/v1/strategies", json=create_body("polite", main, start=True))
    strategy_id = body["strategy_id"]
    wait_status(strategy_id, "running")
    run = wait_for(lambda: StrategyRun.objects.filter(strategy_id=strategy_id, status="running").first())
    wait_for(lambda: "ready" in lines_of(run, "stdout"), what="ready")

    status, body = api.post(f"/v1/strategies/{strategy_id}/stop")
    assert status == 200 and body["status"] == "stopping"
    strategy = wait_status(strategy_id, "stopped", timeout=10)
    run.refresh_from_db()
    assert "got SIGTERM" in lines_of(run, "stdout")
    assert run.status == "stopped" and run.reason == "stopped on request (SIGTERM, exit code 0)"
    assert strategy.last_exit_reason == run.reason
    assert actions(strategy_id)[-2:] == ["stop", "exit"]
    time.sleep(0.8)
    assert len(runs_of(strategy_id)) == 1  # a requested stop is never restarted


def test_stop_kills_a_program_that_ignores_sigterm_after_the_grace_period(runner, api):
    main = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("stubborn", flush=True)
while True:
    time.sleep(0.05)
"""
    status, body = api.post("/v1/strategies", json=create_body("stubborn", main, start=True))
    strategy_id = body["strategy_id"]
    run = wait_for(lambda: StrategyRun.objects.filter(strategy_id=strategy_id, status="running").first())
    wait_for(lambda: lines_of(run, "stdout"), what="first line")
    started = time.monotonic()
    api.post(f"/v1/strategies/{strategy_id}/stop")
    wait_status(strategy_id, "stopped", timeout=10)
    assert time.monotonic() - started >= 1.5  # the grace period was honoured
    run.refresh_from_db()
    assert run.signal == "SIGKILL" and run.reason == "stopped on request (SIGKILL)"
    assert any("SIGKILL" in line for line in lines_of(run, "system"))


def test_memory_over_memory_mb_fails_with_an_oom_reason(runner, api):
    main = "print('allocating', flush=True)\nblob = bytearray(256 * 1024 * 1024)\nprint('unreachable')"
    status, body = api.post("/v1/strategies", json=create_body("hungry", main, memory_mb=64, start=True))
    assert status == 201 and body["memory_mb"] == 64
    strategy_id = body["strategy_id"]
    run = wait_for(
        lambda: StrategyRun.objects.filter(strategy_id=strategy_id, status="failed").first(), what="failure"
    )
    assert run.reason == "out of memory (memory_mb=64)"
    assert any("MemoryError" in line for line in lines_of(run, "stderr"))
    assert "unreachable" not in lines_of(run, "stdout")
    transition = StrategyTransition.objects.filter(strategy_id=strategy_id, action="crash").first()
    assert transition.reason.startswith("out of memory (memory_mb=64); restarting in")
    api.post(f"/v1/strategies/{strategy_id}/stop")


def test_a_burst_of_ten_thousand_lines_arrives_complete_and_in_order(runner, api):
    main = "import sys\nfor i in range(10000):\n    print(f'line {i:05d} ' + 'x' * 40)\n"
    status, body = api.post("/v1/strategies", json=create_body("burst", main, start=True))
    strategy_id = body["strategy_id"]
    strategy = wait_status(strategy_id, "stopped", timeout=30)
    run = strategy.current_run
    assert lines_of(run, "stdout") == [f"line {i:05d} " + "x" * 40 for i in range(10000)]
    seqs = list(run.logs.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))  # no gaps, no duplicates

    # The API pages through every line exactly once.
    seen, cursor = [], 0
    while True:
        status, page = api.get(f"/v1/strategies/{strategy_id}/logs?after={cursor}&limit=1500")
        assert status == 200 and page["run_id"] == str(run.pk)
        seen += page["lines"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert [line["seq"] for line in seen] == seqs
    assert [line["line"] for line in seen if line["stream"] == "stdout"] == lines_of(run, "stdout")


def test_redeploy_restarts_a_running_strategy_on_the_new_artifact(runner, api):
    v1 = "import time\nprint('v1', flush=True)\nwhile True: time.sleep(0.05)"
    status, body = api.post("/v1/strategies", json=create_body("evolving", v1, start=True))
    strategy_id, sha1 = body["strategy_id"], body["artifact_sha256"]
    first = wait_for(lambda: StrategyRun.objects.filter(strategy_id=strategy_id, status="running").first())
    wait_for(lambda: lines_of(first, "stdout") == ["v1"], what="v1 output")

    v2 = "import time\nprint('v2', flush=True)\nwhile True: time.sleep(0.05)"
    status, body = api.post("/v1/strategies", json=create_body("evolving", v2))
    assert status == 200 and body["strategy_id"] == strategy_id and body["artifact_sha256"] != sha1
    second = wait_for(
        lambda: (
            StrategyRun.objects.filter(strategy_id=strategy_id, status="running").exclude(pk=first.pk).first()
        ),
        what="the restart",
    )
    wait_for(lambda: lines_of(second, "stdout") == ["v2"], what="v2 output")
    assert second.artifact_sha256 == body["artifact_sha256"]
    first.refresh_from_db()
    assert first.status == "stopped" and "SIGTERM" in first.reason
    assert "restart" in actions(strategy_id) and "redeploy" in actions(strategy_id)


def test_delete_stops_the_process_and_purges_everything(runner, api):
    status, body = api.post("/v1/strategies", json=create_body("doomed", SLEEPER, start=True))
    strategy_id = body["strategy_id"]
    run = wait_for(lambda: StrategyRun.objects.filter(strategy_id=strategy_id, pid__isnull=False).first())
    wait_for(lambda: lines_of(run, "stdout"), what="output")
    pid = run.pid
    status, body = api.delete(f"/v1/strategies/{strategy_id}")
    assert status == 200 and body == {"strategy_id": strategy_id, "deleted": True}
    assert not Strategy.objects.filter(pk=strategy_id).exists()
    assert not StrategyRun.objects.filter(strategy_id=strategy_id).exists()

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(gone, timeout=5, what="the process to be gone")
    assert api.get(f"/v1/strategies/{strategy_id}")[0] == 404
