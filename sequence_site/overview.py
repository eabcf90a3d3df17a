"""The dashboard overview's reads: every app's numbers for one client and mode on one page. On the
site's top floor (docs/architecture.md): it reads the apps, and nothing below imports it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.urls import reverse
from django.utils import timezone

from algo_studio import metrics
from algo_studio import selectors as algo_selectors
from algo_studio.lifecycle import EdgeStatus
from algo_studio.models import DeploymentTransition, MetricSample
from backtests import selectors as backtest_selectors
from backtests.lifecycle import JobStatus
from edges.selectors import edge_list
from sequence_site.models import ApiKey
from sequence_site.scope import Scope
from strategies import selectors as strategy_selectors
from strategies.lifecycle import StrategyStatus
from venues.symbols import quote_currency

SPARK_WINDOW = timedelta(hours=1)
SPARK_INTERVAL_S = 60
RECENT = 5


def _pnl_before(*, deployment: Any, rows: list[Any], moment: datetime) -> int:
    """The deployment's PnL (1e-9) as last sampled before ``moment``, summed over its (edge, symbol)
    rows; a row with no earlier sample started after it and counts 0."""
    total = 0
    for row in rows:
        sample = (
            MetricSample.objects.filter(
                deployment=deployment, edge_id=row.edge.edge_id, symbol=row.symbol, ts__lt=moment
            )
            .order_by("-ts", "-id")
            .values("realized_pnl_1e9", "unrealized_pnl_1e9")
            .first()
        )
        if sample:
            total += sample["realized_pnl_1e9"] + sample["unrealized_pnl_1e9"]
    return total


def overview(*, scope: Scope, now: datetime | None = None) -> dict[str, Any]:
    """What a trader opens first, for one client and mode: PnL today (since 00:00 UTC) and overall,
    each algo and strategy with its state (and an hour of PnL per algo for a sparkline), the edges'
    health, recent backtests, recent errors and pauses, and which first steps are done."""
    now = now or timezone.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    algos: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    pnl_total = pnl_today = 0
    for deployment in algo_selectors.deployments(scope=scope):
        rows = algo_selectors.edge_rows(deployment)
        label = deployment.name or deployment.deployment_id
        totals = algo_selectors.stats(deployment)
        pnl = totals["pnl_1e9"]
        pnl_total += pnl
        pnl_today += pnl - _pnl_before(deployment=deployment, rows=rows, moment=midnight)
        points = metrics.series(
            deployment=deployment, start=now - SPARK_WINDOW, end=now, interval_s=SPARK_INTERVAL_S
        )
        algos.append(
            {
                "deployment_id": deployment.deployment_id,
                "label": label,
                "symbols": algo_selectors.deployment_symbols(deployment),
                "status": algo_selectors.deployment_status(deployment),
                "desired_state": algo_selectors.deployment_desired_state(deployment),
                "pnl": pnl / 1e9,
                "rejects": totals["reject_count"],
                "spark": [(p["realized_pnl_1e9"] + p["unrealized_pnl_1e9"]) / 1e9 for p in points],
            }
        )
        for row in rows:
            if row.effective_status in (EdgeStatus.PAUSED, EdgeStatus.REJECTED):
                problems.append(
                    {
                        "at": row.last_heartbeat,
                        "what": f"{label} · {row.symbol} on {row.edge.edge_id}",
                        "kind": str(row.effective_status),
                        "reason": row.pause_reason or "",
                        "url": reverse("algo_studio:deployment", args=[deployment.deployment_id]),
                    }
                )
    strategies = []
    for strategy in strategy_selectors.strategy_list(scope=scope).select_related("current_run"):
        strategies.append(strategy)
        if strategy.status == StrategyStatus.FAILED or (
            strategy.last_exit_at and strategy.last_exit_code not in (None, 0)
        ):
            problems.append(
                {
                    "at": strategy.last_exit_at,
                    "what": f"strategy {strategy.name}",
                    "kind": "failed" if strategy.status == StrategyStatus.FAILED else "exited",
                    "reason": strategy.last_exit_reason,
                    "url": reverse("strategies:detail", args=[strategy.pk]),
                }
            )
    jobs = list(backtest_selectors.backtests(scope=scope)[:RECENT])
    for job in backtest_selectors.backtests(scope=scope).filter(status=JobStatus.FAILED)[:RECENT]:
        problems.append(
            {
                "at": job.finished_at or job.created_at,
                "what": f"backtest {job.id}",
                "kind": "failed",
                "reason": job.error or "",
                "url": reverse("backtests:detail", args=[job.id]),
            }
        )
    epoch = datetime.min.replace(tzinfo=UTC)
    problems.sort(key=lambda p: p["at"] or epoch, reverse=True)
    edges = edge_list(is_sandbox=scope.is_sandbox)
    has_key = ApiKey.objects.filter(client=scope.client, is_sandbox=scope.is_sandbox).exists()
    started = DeploymentTransition.objects.filter(
        deployment__client=scope.client, deployment__is_sandbox=scope.is_sandbox, action="start"
    ).exists() or any(a["desired_state"] == "running" for a in algos)
    any_backtest = bool(jobs)
    checklist = [
        {"done": has_key, "text": "Create an API key", "url": reverse("dashboard:keys")},
        {"done": bool(algos), "text": "Upload an algo (.wasm)",
         "url": reverse("algo_studio:algos") + "#upload"},
        {"done": any_backtest, "text": "Backtest it", "url": reverse("backtests:list")},
        {"done": started, "text": "Start it on an edge", "url": reverse("algo_studio:algos")},
        {"done": bool(strategies), "text": "Deploy a hosted strategy (sequence strategy deploy)",
         "url": reverse("strategies:list")},
    ]  # fmt: skip
    return {
        "pnl_total": pnl_total / 1e9,
        "pnl_today": pnl_today / 1e9,
        "currency": _currency([s for a in algos for s in a["symbols"]]),
        "algos": algos,
        "running_algos": sum(1 for a in algos if a["status"] == EdgeStatus.RUNNING),
        "strategies": strategies,
        "running_strategies": sum(1 for s in strategies if s.status == StrategyStatus.RUNNING),
        "edges": edges,
        "edges_connected": sum(1 for e in edges if e.is_connected),
        "backtests": jobs,
        "problems": problems[:8],
        "checklist": checklist,
        "new_account": not (algos or strategies or any_backtest),
    }


def _currency(symbols: list[str]) -> str:
    quotes = {quote_currency(s) for s in symbols}
    return quotes.pop() if len(quotes) == 1 else "quote ccy"
