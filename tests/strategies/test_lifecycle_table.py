"""The hosted-strategy transition tables, enumerated: every (from, to, action) a strategy may take and
every (from, to) of a run happens exactly when `lifecycle.ALLOWED` / `RUN_ALLOWED` list it."""

from __future__ import annotations

import itertools

import pytest

from sequence_site.errors import InvalidTransition
from strategies.lifecycle import ALLOWED, RUN_ALLOWED, RunStatus, StrategyStatus, run_transition, transition
from strategies.models import Strategy, StrategyRun, StrategyTransition

ACTIONS = sorted({action for actions in ALLOWED.values() for action in actions})
TRIPLES = list(itertools.product(StrategyStatus.values, StrategyStatus.values, ACTIONS))


def _strategy(owner, status: str) -> Strategy:
    return Strategy.objects.create(
        client=owner,
        is_sandbox=True,
        name=f"table-{Strategy.objects.count()}",
        artifact=b"",
        artifact_sha256="0" * 64,
        artifact_size_bytes=0,
        status=status,
    )


@pytest.mark.parametrize(("old", "new", "action"), TRIPLES)
def test_a_strategy_moves_exactly_as_the_table_says(owner, old, new, action):
    strategy = _strategy(owner, old)
    if action in ALLOWED.get((old, new), frozenset()):
        transition(strategy, to=StrategyStatus(new), action=action)
        assert Strategy.objects.get(pk=strategy.pk).status == new
        row = StrategyTransition.objects.get(strategy=strategy)
        assert (row.from_status, row.to_status, row.action) == (old, new, action)
    else:
        with pytest.raises(InvalidTransition):
            transition(strategy, to=StrategyStatus(new), action=action)
        assert Strategy.objects.get(pk=strategy.pk).status == old
        assert not StrategyTransition.objects.filter(strategy=strategy).exists()


@pytest.mark.parametrize(("old", "new"), list(itertools.product(RunStatus.values, repeat=2)))
def test_a_run_moves_exactly_as_the_table_says(owner, old, new):
    run = StrategyRun.objects.create(strategy=_strategy(owner, StrategyStatus.QUEUED), status=old)
    if (old, new) in RUN_ALLOWED:
        assert run_transition(run.pk, frm=RunStatus(old), to=RunStatus(new)) is True
        assert StrategyRun.objects.get(pk=run.pk).status == new
        # A second mover from the same state finds the run moved and changes nothing.
        assert run_transition(run.pk, frm=RunStatus(old), to=RunStatus(new)) is False
    else:
        with pytest.raises(InvalidTransition):
            run_transition(run.pk, frm=RunStatus(old), to=RunStatus(new))
        assert StrategyRun.objects.get(pk=run.pk).status == old


def test_the_tables_name_only_known_states():
    assert {s for pair in ALLOWED for s in pair} <= set(StrategyStatus.values)
    assert {s for pair in RUN_ALLOWED for s in pair} <= set(RunStatus.values)
