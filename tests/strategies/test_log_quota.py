"""A strategy's log flood is capped with a visible marker (strategies.services.LogQuota via the
supervisor's LogWriter), instead of every line stored (300,000 lines in 21 s grew the database 83 MB)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from strategy_testing import make_tar

from sequence_site.scope import Scope
from strategies import services
from strategies.models import StrategyLog, StrategyRun
from strategies.supervisor import LogWriter

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_drops_and_says_so(settings) -> None:
    settings.STRATEGY_LOG_LINES_PER_SECOND = 200
    settings.STRATEGY_LOG_BURST_LINES = 100
    clock = Clock()
    quota = services.LogQuota(clock=clock)
    admitted = [quota.admit(10) for _ in range(150)]
    assert sum(ok for ok, _ in admitted) == 100 and all(m is None for _, m in admitted)
    clock.now += 1.0  # 200 more tokens (capped at the burst of 100)
    ok, marker = quota.admit(10)
    assert ok and marker == "50 lines dropped (over 200 lines/s; 50 in this run)"
    # Markers at most once a second, however the flood goes on.
    markers = []
    for _ in range(2500):  # 2.5 s of 1,000 lines/s
        clock.now += 0.001
        markers.append(quota.admit(10)[1])
    assert len([m for m in markers if m]) == 2


def test_byte_quota_is_announced_once(settings) -> None:
    settings.STRATEGY_LOG_MAX_MB_PER_RUN = 1
    settings.STRATEGY_LOG_BURST_LINES = 10_000
    quota = services.LogQuota(clock=Clock())
    assert quota.admit(1024 * 1024)[0]
    ok, marker = quota.admit(1)
    assert not ok and "log quota of 1 MiB" in marker
    assert quota.admit(1) == (False, None)
    assert quota.pending_marker() == "1 lines dropped (over the log limits; 2 in this run)"


def test_a_flood_through_the_writer_is_capped_with_a_marker(owner, settings) -> None:
    settings.STRATEGY_LOG_BURST_LINES = 1000
    scope = Scope(client=owner, is_sandbox=True)
    strategy = services.strategy_deploy(
        scope=scope, name="flood", artifact=make_tar({"main.py": "1"})
    ).strategy
    run = StrategyRun.objects.create(strategy=strategy, status="running")
    writer = LogWriter(strategy_id=strategy.pk, run_id=run.pk)
    now = datetime.now(tz=UTC)
    for i in range(300_000):
        writer.add("stdout", now, f"line {i}")
        if writer.due():
            writer.flush()
    writer.system("exited with code 0")
    writer.flush()
    stored = StrategyLog.objects.filter(run=run)
    # The burst plus what 200 lines/s refills while the loop ran: far from 300,000.
    assert stored.count() < 50_000
    seqs = list(stored.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))  # still no gaps: the cursor clients page by
    system = list(stored.filter(stream="system").order_by("seq").values_list("line", flat=True))
    assert system[-1] == "[sequence] exited with code 0"
    assert any("lines dropped (over 200 lines/s" in line for line in system)
    reported = sum(int(line.split()[1].replace(",", "")) for line in system if "lines dropped" in line)
    assert reported + stored.filter(stream="stdout").count() == 300_000
