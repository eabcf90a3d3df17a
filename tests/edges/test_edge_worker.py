"""The edge worker as a real process (`manage.py run_edge`) against the real database and Redis."""

from __future__ import annotations

import signal
from datetime import timedelta

import pytest
from django.utils import timezone

from algo_studio import selectors, services
from algo_studio.models import AlgoLog, AlgoTrace, DeploymentEdge, MetricSample
from edges.models import Edge
from sequence_site.scope import Scope
from tests.edges.conftest import scripted_algo, wait_for

pytestmark = pytest.mark.slow


def rows(deployment):
    return list(DeploymentEdge.objects.filter(deployment=deployment, removed=False).select_related("edge"))


def statuses(deployment) -> set[str]:
    return {row.effective_status for row in rows(deployment)}


def test_edge_registers_heartbeats_and_goes_away(edge_process):
    edge = edge_process("coinbase")
    row = Edge.objects.get(edge_id="venue-edge-coinbase", is_sandbox=True)
    assert row.venue == "coinbase" and row.algo_capable and "ETH/USD" in row.symbols
    first = row.last_heartbeat
    wait_for(lambda: Edge.objects.get(pk=row.pk).last_heartbeat > first, what="a heartbeat")
    edge.stop()
    row.refresh_from_db()
    assert not row.is_connected


def test_edge_is_gone_when_heartbeats_stop(db):
    edge = Edge.objects.create(
        edge_id="venue-edge-x", venue="kraken", is_sandbox=True, last_heartbeat=timezone.now()
    )
    assert Edge.objects.connected().filter(pk=edge.pk).exists()
    Edge.objects.filter(pk=edge.pk).update(last_heartbeat=timezone.now() - timedelta(seconds=30))
    assert not Edge.objects.connected().filter(pk=edge.pk).exists()


def test_deploy_start_stop_restart_delete(edge_process, owner, market_maker_wasm):
    edge = edge_process("coinbase")
    scope = Scope(client=owner, is_sandbox=True)
    result = services.algo_deploy(scope=scope, symbol="ETH-USD", wasm=market_maker_wasm)
    assert (result.pushed_to, result.capable_edges) == (1, 1)
    deployment = result.deployment
    wait_for(lambda: statuses(deployment) == {"accepted"}, what="the edge to load the algo stopped")

    assert services.deployment_start(deployment=deployment) == 1
    wait_for(
        lambda: (r := rows(deployment)[0]).status == "running" and r.update_count > 20 and r.order_count > 0,
        what="updates and orders while running",
    )
    wait_for(
        lambda: AlgoLog.objects.filter(deployment=deployment, message__startswith="BUY: ").exists(),
        what="the algo's own log lines",
    )
    wait_for(
        lambda: AlgoTrace.objects.filter(deployment=deployment, callback_type="on_book").exists(),
        what="traces",
    )
    running_row = rows(deployment)[0]
    assert running_row.callback_latency_ns > 0 and running_row.last_heartbeat is not None
    assert running_row.started_at is not None

    services.deployment_stop(deployment=deployment)
    wait_for(lambda: statuses(deployment) == {"accepted"}, what="the edge to stop the algo")
    stopped_updates = rows(deployment)[0].update_count

    # Desired state lives in the database: a restarted edge comes back with the algo still stopped.
    edge.stop()
    restarted_at = timezone.now()
    edge = edge_process("coinbase")
    wait_for(lambda: rows(deployment)[0].last_heartbeat > restarted_at, what="a report from the new process")
    assert statuses(deployment) == {"accepted"}
    # A fresh process, and the algo never ran in it: its count continues, unchanged.
    assert rows(deployment)[0].update_count == stopped_updates

    services.deployment_start(deployment=deployment)
    wait_for(
        lambda: (
            statuses(deployment) == {"running"} and rows(deployment)[0].update_count > stopped_updates + 5
        ),
        what="restart",
    )
    assert stopped_updates > 0

    services.deployment_delete(deployment=deployment)
    assert not AlgoLog.objects.filter(deployment=deployment).exists()
    assert not MetricSample.objects.filter(deployment=deployment).exists()
    assert selectors.algos(scope=scope) == []
    # The edge unloads it, and no late batch brings logs back.
    wait_for(
        lambda: (
            DeploymentEdge.objects.get(deployment=deployment).last_heartbeat
            < timezone.now() - timedelta(seconds=1.5)
        ),
        what="the edge to stop reporting the deleted algo",
    )
    assert not AlgoLog.objects.filter(deployment=deployment).exists()


def test_a_trap_pauses_one_algo_and_the_others_carry_on(edge_process, owner):
    edge_process("coinbase", mean_interval_ms=10)
    scope = Scope(client=owner, is_sandbox=True)
    bad = services.algo_deploy(
        scope=scope, symbol="ETH/USD", wasm=scripted_algo(trap_after=5), start_immediately=True
    )
    good = services.algo_deploy(scope=scope, symbol="BTC/USD", wasm=scripted_algo(), start_immediately=True)
    wait_for(lambda: statuses(bad.deployment) == {"paused"}, what="the trapping algo to be paused")
    paused = rows(bad.deployment)[0]
    assert "unreachable" in paused.pause_reason
    # The edge's log lines and its status report are flushed separately: the line may come second.
    wait_for(
        lambda: AlgoLog.objects.filter(
            deployment=bad.deployment, level="ERROR", message__contains="algo paused"
        ).exists(),
        what="the pause's log line",
    )
    wait_for(
        lambda: rows(good.deployment)[0].update_count > paused.update_count + 20,
        what="the other algo to go on",
    )
    assert statuses(good.deployment) == {"running"}
    assert rows(good.deployment)[0].fill_count == 1 and rows(good.deployment)[0].position_1e8 == 1_000_000
    wait_for(
        lambda: AlgoLog.objects.filter(
            deployment=good.deployment, message__startswith="BUY FILL: order=1 "
        ).exists(),
        what="the edge's fill line",
    )

    # It stays paused (no silent restart) until the user starts it again, which re-arms it.
    assert statuses(bad.deployment) == {"paused"}
    services.deployment_start(deployment=bad.deployment)
    wait_for(
        lambda: (
            rows(bad.deployment)[0].applied_generation == rows(bad.deployment)[0].generation
            and statuses(bad.deployment) in ({"running"}, {"paused"})
        ),
        what="the re-armed algo",
    )


def test_a_restarted_edge_keeps_the_algos_position(edge_process, owner):
    # Paper positions live in the edge process: a restart must not make an algo flat on paper while
    # its user (and its own logic) believe it holds what it bought.
    edge = edge_process("coinbase")
    scope = Scope(client=owner, is_sandbox=True)
    deployment = services.algo_deploy(
        scope=scope, symbol="ETH/USD", wasm=scripted_algo(qty_1e8=2_000_000), start_immediately=True
    ).deployment
    wait_for(
        lambda: rows(deployment)[0].position_1e8 == 2_000_000 and rows(deployment)[0].avg_entry_price_1e9 > 0,
        what="the algo's buy to fill and be reported",
    )
    services.deployment_stop(deployment=deployment)
    wait_for(lambda: statuses(deployment) == {"accepted"}, what="the edge to stop the algo")
    before = rows(deployment)[0]

    assert before.fill_count >= 1 and before.order_count >= 1 and before.update_count >= 1
    edge.stop(signal.SIGKILL)  # a crash: no goodbye report
    restarted_at = timezone.now()
    edge_process("coinbase")
    wait_for(lambda: rows(deployment)[0].last_heartbeat > restarted_at, what="a report from the new process")
    after = rows(deployment)[0]
    # The counters continue where the last report left them: the dashboard never goes backwards.
    assert (after.update_count, after.order_count, after.fill_count, after.trade_count) == (
        before.update_count,
        before.order_count,
        before.fill_count,
        before.trade_count,
    )
    assert (after.position_1e8, after.avg_entry_price_1e9, after.realized_pnl_1e9) == (
        before.position_1e8,
        before.avg_entry_price_1e9,
        before.realized_pnl_1e9,
    )
    assert after.realized_pnl_1e9 < 0  # the taker fee of the buy survived the restart too


def test_a_new_version_takes_over_its_predecessors_position(edge_process, owner):
    edge_process("coinbase")
    scope = Scope(client=owner, is_sandbox=True)
    deployment = services.algo_deploy(
        scope=scope, symbol="ETH/USD", wasm=scripted_algo(qty_1e8=2_000_000), start_immediately=True
    ).deployment
    wait_for(lambda: rows(deployment)[0].position_1e8 == 2_000_000, what="the first version's buy")
    before = rows(deployment)[0]

    # The new version loads stopped, in the same edge process; the old one is unloaded.
    new = services.algo_deploy(scope=scope, symbol="ETH/USD", wasm=scripted_algo(qty_1e8=3_000_000))
    assert new.deployment.pk == deployment.pk
    wait_for(
        lambda: (r := rows(deployment)[0]).applied_generation == r.generation and r.status == "accepted",
        what="the edge to load the new version",
    )
    after = rows(deployment)[0]
    assert after.update_count == 0  # a new slot
    assert (after.position_1e8, after.avg_entry_price_1e9, after.realized_pnl_1e9) == (
        before.position_1e8,
        before.avg_entry_price_1e9,
        before.realized_pnl_1e9,
    )


def test_a_nudge_applies_changes_without_waiting_for_the_reconcile_pass(edge_process, owner):
    # The periodic pass is an hour away in this edge, so only the nudge can load the algo: the test
    # proves the mechanism, not a speed (the edge subscribes to nudges before it registers).
    edge_process("coinbase", env={"EDGE_RECONCILE_SECONDS": "3600"})
    scope = Scope(client=owner, is_sandbox=True)
    deployment = services.algo_deploy(scope=scope, symbol="ETH/USD", wasm=scripted_algo()).deployment
    wait_for(
        lambda: statuses(deployment) == {"accepted"}, timeout=60, what="the nudged edge to load the algo"
    )


def test_sigterm_disconnects_the_edge(edge_process):
    edge = edge_process("kraken")
    assert edge.stop(signal.SIGTERM) == 0
    assert not Edge.objects.get(edge_id="venue-edge-kraken", is_sandbox=True).is_connected


def test_the_edge_records_what_it_sees_for_backtests(edge_process):
    """What the edge saw is in the market-data store after it stops (the shutdown flush), in the
    columns backtests replay."""
    import pyarrow.parquet as pq
    import redis
    from django.conf import settings

    from edges.quotes import quotes_key

    quotes = redis.Redis.from_url(settings.REDIS_URL)
    quotes.delete(quotes_key(is_sandbox=True))  # what an earlier test's edge left
    edge = edge_process("coinbase", mean_interval_ms=10)
    # The edge publishes the books it saw as quotes: once an ETH one is there, it has seen (and
    # recorded) book updates.
    wait_for(
        lambda: any(b"ETH" in field for field in quotes.hkeys(quotes_key(is_sandbox=True))),
        what="the edge to see ETH books",
    )
    assert edge.stop() == 0
    files = sorted(edge.market_data_dir.rglob("rec-*.parquet"))
    assert files, f"nothing recorded under {edge.market_data_dir}"
    table = pq.read_table(files[0])
    assert table.num_rows > 0 and "ts_ns" in table.column_names
    assert any("ETH" in str(path) for path in files)


def test_a_following_process_numbers_orders_above_every_earlier_one():
    from edges.worker import restart_order_id_base

    first = restart_order_id_base(1_764_900_000_000_000_000)  # 2025-12-05
    # A process that ran a whole day at 1,000 orders a second still stays below the next base.
    assert first + 86_400 * 1_000 < restart_order_id_base(1_764_900_000_000_000_000 + 86_400 * 10**9)
    assert first > 10**12 and restart_order_id_base(7_258_118_400 * 10**9) < 2**53  # year 2200
