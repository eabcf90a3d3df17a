"""The backtest job's transition table, enumerated: every (from, to) pair of states moves exactly when
`lifecycle.ALLOWED` lists it, and each move writes its transition row."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import pytest

from backtests.lifecycle import ALLOWED, JobStatus, transition
from backtests.models import BacktestJob, BacktestTransition
from sequence_site.errors import InvalidTransition
from tests.backtests.conftest import IDLE_WAT
from tests.edges.conftest import wat

PAIRS = list(itertools.product(JobStatus.values, repeat=2))


@pytest.fixture
def job_in(owner, make_deployment):
    dep = make_deployment(owner, wat(IDLE_WAT))

    def make(status: str) -> BacktestJob:
        return BacktestJob.objects.create(
            client=owner,
            is_sandbox=True,
            deployment=dep,
            artifact=dep.artifact,
            venue="kraken",
            symbols=["ETH/USDC"],
            start_date=date(2026, 1, 10),
            end_date=date(2026, 1, 10),
            capital_usd=Decimal("10000"),
            seed=1,
            status=status,
        )

    return make


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_a_job_moves_exactly_as_the_table_says(job_in, old, new):
    job = job_in(old)
    if (old, new) in ALLOWED:
        transition(job, JobStatus(new), note="table test")
        assert BacktestJob.objects.get(pk=job.pk).status == new
        row = BacktestTransition.objects.get(job_id=job.pk)
        assert (row.from_status, row.to_status) == (old, new)
    else:
        with pytest.raises(InvalidTransition):
            transition(job, JobStatus(new))
        assert BacktestJob.objects.get(pk=job.pk).status == old
        assert not BacktestTransition.objects.filter(job_id=job.pk).exists()


def test_the_table_names_only_known_states():
    assert {s for pair in ALLOWED for s in pair} <= set(JobStatus.values)
