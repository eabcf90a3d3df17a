"""strategies.services without a worker: claiming, heartbeats, finishing, the janitor."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone
from strategy_testing import make_tar

from sequence_site.scope import Scope
from strategies import services
from strategies.models import Strategy, StrategyLog, StrategyRun, StrategyTransition
from strategies.services import logs as log_services


@pytest.fixture
def scope(owner) -> Scope:
    return Scope(client=owner, is_sandbox=True)


@pytest.fixture
def queued(scope, fast) -> Strategy:
    result = services.strategy_deploy(
        scope=scope, name="svc", artifact=make_tar({"main.py": "print(1)"}), start=True
    )
    return Strategy.objects.get(pk=result.strategy.pk)


def claim(strategy: Strategy, worker: str = "w1") -> services.RunLaunch | None:
    return services.strategy_run_claim(run_id=strategy.current_run_id, worker=worker)


def test_start_dispatches_the_run_after_commit(scope, fast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        result = services.strategy_deploy(
            scope=scope, name="x", artifact=make_tar({"main.py": "1"}), start=True
        )
    run = result.strategy.current_run
    assert run.status == "queued" and run.queue == "strategies" and run.attempt == 1
    assert len(callbacks) >= 1  # the Celery message (and the channel-layer announcements)


def test_a_run_is_claimed_once(queued):
    launch = claim(queued)
    assert launch is not None and launch.run_id == queued.current_run_id
    assert launch.artifact == bytes(Strategy.objects.values_list("artifact", flat=True).get(pk=queued.pk))
    assert claim(queued, "w2") is None
    run = StrategyRun.objects.get(pk=launch.run_id)
    assert run.status == "running" and run.claimed_by == "w1"
    assert Strategy.objects.get(pk=queued.pk).status == "running"


def test_a_runner_shutting_down_claims_nothing_and_sends_the_run_back(
    queued, django_capture_on_commit_callbacks
):
    from strategies import supervisor

    run = queued.current_run
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert supervisor.supervise(run_id=run.pk, worker="w1", should_exit=lambda: True) is None
    again = StrategyRun.objects.get(pk=run.pk)
    assert again.status == "queued" and again.claimed_by == "" and again.dispatched_at > run.dispatched_at
    assert len(callbacks) == 1  # the message, sent again for another runner
    assert not StrategyTransition.objects.filter(strategy=queued, action="claim").exists()
    assert Strategy.objects.get(pk=queued.pk).status == "queued"


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_have_one_winner(owner, fast):
    scope = Scope(client=owner, is_sandbox=True)
    strategy = services.strategy_deploy(
        scope=scope, name="race", artifact=make_tar({"main.py": "1"}), start=True
    ).strategy
    run_id = Strategy.objects.get(pk=strategy.pk).current_run_id
    results: list[object] = []
    barrier = threading.Barrier(8)

    def contender(n: int) -> None:
        barrier.wait()
        try:
            results.append(services.strategy_run_claim(run_id=run_id, worker=f"w{n}"))
        finally:
            connection.close()

    threads = [threading.Thread(target=contender, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len([r for r in results if r is not None]) == 1
    assert StrategyTransition.objects.filter(strategy_id=strategy.pk, action="claim").count() == 1


def test_a_cancelled_or_superseded_run_is_not_claimed(queued, scope):
    old_run = queued.current_run_id
    services.strategy_stop(strategy=queued)
    assert services.strategy_run_claim(run_id=old_run, worker="w") is None
    services.strategy_start(strategy=queued)
    # The stale message of the old run arrives late: nothing happens to the new run.
    assert services.strategy_run_claim(run_id=old_run, worker="w") is None
    assert Strategy.objects.get(pk=queued.pk).status == "queued"


def test_heartbeat_tells_the_runner_what_to_do(queued, scope):
    launch = claim(queued)
    beat = lambda worker="w1": services.strategy_run_heartbeat(  # noqa: E731
        run_id=launch.run_id, worker=worker, generation=launch.generation, pid=4242
    )
    assert beat() == services.RunControl()
    assert StrategyRun.objects.get(pk=launch.run_id).pid == 4242
    assert beat("someone-else") == services.RunControl(lost=True, report=False)
    services.strategy_deploy(scope=scope, name="svc", artifact=make_tar({"main.py": "print(2)"}))
    assert beat().stop == "redeployed"
    services.strategy_stop(strategy=queued)
    assert beat().stop == "stop requested"
    services.strategy_delete(strategy=queued)
    assert beat() == services.RunControl(stop="strategy deleted", report=False)


def test_finish_after_the_run_was_taken_away_records_nothing(queued):
    launch = claim(queued)
    StrategyRun.objects.filter(pk=launch.run_id).update(heartbeat_at=timezone.now() - timedelta(seconds=60))
    assert services.strategy_janitor().lost == 1
    outcome = services.RunExit(exit_code=0, signal="", reason="exited with code 0", clean=True)
    assert services.strategy_run_finish(run_id=launch.run_id, worker="w1", outcome=outcome) is None
    assert StrategyRun.objects.get(pk=launch.run_id).reason.startswith("runner lost")


def test_janitor_fails_stale_runs_and_schedules_the_restart(queued, fast):
    launch = claim(queued)
    now = timezone.now()
    StrategyRun.objects.filter(pk=launch.run_id).update(heartbeat_at=now - timedelta(seconds=5))
    report = services.strategy_janitor(now=now)
    assert report.lost == 1 and report.retried == 0
    run = StrategyRun.objects.get(pk=launch.run_id)
    assert run.status == "failed" and run.reason == "runner lost: no heartbeat for 2 s"
    strategy = Strategy.objects.get(pk=queued.pk)
    assert strategy.status == "failed" and strategy.next_attempt_at is not None
    assert StrategyTransition.objects.filter(strategy=strategy, action="runner_lost").exists()

    # Not due yet: nothing; due: a new queued run with a new id and attempt 2.
    assert services.strategy_janitor(now=now).retried == 0
    report = services.strategy_janitor(now=strategy.next_attempt_at + timedelta(milliseconds=1))
    assert report.retried == 1
    strategy.refresh_from_db()
    assert strategy.status == "queued" and strategy.current_run_id != launch.run_id
    assert strategy.current_run.attempt == 2 and strategy.restart_count == 1


def test_janitor_leaves_live_runs_alone_and_finishes_stopping_ones(queued, fast):
    launch = claim(queued)
    assert services.strategy_janitor().lost == 0
    services.strategy_stop(strategy=queued)
    StrategyRun.objects.filter(pk=launch.run_id).update(heartbeat_at=timezone.now() - timedelta(seconds=5))
    assert services.strategy_janitor().lost == 1
    assert Strategy.objects.get(pk=queued.pk).status == "stopped"


def test_janitor_resends_runs_whose_message_was_lost(queued, fast, django_capture_on_commit_callbacks):
    StrategyRun.objects.filter(pk=queued.current_run_id).update(
        dispatched_at=timezone.now() - timedelta(minutes=5)
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.strategy_janitor().redispatched == 1
    assert len(callbacks) == 1
    assert services.strategy_janitor().redispatched == 0  # dispatched_at moved on


def test_janitor_deletes_logs_past_retention(queued, fast):
    launch = claim(queued)
    old = datetime.now(tz=UTC) - timedelta(days=fast.STRATEGY_LOG_RETENTION_DAYS + 1)
    StrategyLog.objects.bulk_create(
        [
            StrategyLog(run_id=launch.run_id, seq=1, stream="stdout", ts=old, line="old"),
            StrategyLog(run_id=launch.run_id, seq=2, stream="stdout", ts=datetime.now(tz=UTC), line="new"),
        ]
    )
    assert services.strategy_janitor().logs_deleted == 1
    assert list(StrategyLog.objects.values_list("line", flat=True)) == ["new"]


def test_a_run_that_lived_long_resets_the_backoff(queued, fast):
    fast.STRATEGY_BACKOFF_RESET_SECONDS = 10
    Strategy.objects.filter(pk=queued.pk).update(consecutive_failures=6)
    launch = claim(queued)
    StrategyRun.objects.filter(pk=launch.run_id).update(started_at=timezone.now() - timedelta(seconds=30))
    outcome = services.RunExit(exit_code=1, signal="", reason="exited with code 1", clean=False)
    assert services.strategy_run_finish(run_id=launch.run_id, worker="w1", outcome=outcome) == "failed"
    strategy = Strategy.objects.get(pk=queued.pk)
    assert strategy.consecutive_failures == 1
    assert (
        StrategyTransition.objects.filter(strategy=strategy, action="crash")
        .get()
        .reason.endswith("restarting in 0.4 s")
    )


def test_a_broken_artifact_at_run_time_fails_without_restarting(queued):
    launch = claim(queued)
    outcome = services.RunExit(
        exit_code=None, signal="", reason="could not start: bad", clean=False, preparation_failed=True
    )
    assert services.strategy_run_finish(run_id=launch.run_id, worker="w1", outcome=outcome) == "failed"
    strategy = Strategy.objects.get(pk=queued.pk)
    assert strategy.next_attempt_at is None and "not restarted" in strategy.transitions.latest("pk").reason


def test_sealed_values_open_only_for_their_row(queued, scope, sandbox_key):
    services.strategy_deploy(
        scope=scope,
        name="svc",
        artifact=make_tar({"main.py": "1"}),
        secrets={"A": "1"},
        sequence_api_key=sandbox_key.plaintext,
    )
    opened = services.strategy_open_secrets(strategy_id=queued.pk)
    assert opened.secrets == {"A": "1"} and opened.sequence_api_key == sandbox_key.plaintext
    # Copy the sealed columns onto another strategy: they must not open there.
    other = services.strategy_deploy(scope=scope, name="other", artifact=make_tar({"main.py": "1"})).strategy
    row = Strategy.objects.filter(pk=queued.pk).values("secrets_ciphertext", "secrets_nonce").get()
    Strategy.objects.filter(pk=other.pk).update(**row)
    from sequence_site.crypto import SealError

    with pytest.raises(SealError):
        services.strategy_open_secrets(strategy_id=other.pk)


def test_big_lines_are_fanned_out_in_chunks_and_paged_by_size(queued):
    launch = claim(queued)
    now = datetime.now(tz=UTC)
    records = [services.LogRecord(seq=i, stream="stdout", ts=now, line="x" * 16384) for i in range(1, 201)]
    chunks = log_services._fanout_chunks(records)
    assert [line["seq"] for chunk in chunks for line in chunk] == list(range(1, 201))
    assert all(sum(len(line["line"]) for line in chunk) <= services.FANOUT_CHUNK_BYTES for chunk in chunks)
    services.strategy_logs_append(strategy_id=queued.pk, run_id=launch.run_id, records=records)
    from strategies.selectors import MAX_PAGE_BYTES, strategy_log_page

    run = StrategyRun.objects.get(pk=launch.run_id)
    page = strategy_log_page(run=run, after=0, limit=5000)
    assert page.has_more and 0 < len(page.lines) <= MAX_PAGE_BYTES // 16384
    rest = strategy_log_page(run=run, after=page.next_cursor, limit=5000)
    assert rest.lines[0].seq == page.next_cursor + 1


@pytest.mark.django_db(transaction=True)
def test_logs_of_a_deleted_run_raise_run_gone(queued):
    # transaction=True: the foreign key is checked at commit, which a test transaction never does.
    launch = claim(queued)
    services.strategy_delete(strategy=queued)
    record = services.LogRecord(seq=1, stream="stdout", ts=datetime.now(tz=UTC), line="late")
    with pytest.raises(services.RunGone):
        services.strategy_logs_append(strategy_id=queued.pk, run_id=launch.run_id, records=[record])
