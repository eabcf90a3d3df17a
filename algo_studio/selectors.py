"""Reads about algos, always scoped to one client and mode."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from algo_studio.lifecycle import DesiredState, EdgeStatus, aggregate_status
from algo_studio.models import AlgoLog, AlgoTrace, Bundle, Deployment, DeploymentEdge, DeploymentSymbol
from sequence_site.errors import NotFound
from sequence_site.scope import Scope
from sequence_site.symbols import parse_symbol

LOG_WINDOW = 100
# The callbacks an edge records traces for (AlgoTrace.callback_type).
TRACE_TYPES = ("on_book", "on_fill", "on_reject")


def deployments(*, scope: Scope) -> QuerySet[Deployment]:
    """Live (not deleted) deployments of the scope, with symbols and edge rows prefetched."""
    return (
        Deployment.objects.filter(client=scope.client, is_sandbox=scope.is_sandbox, deleted_at__isnull=True)
        .select_related("artifact")
        .prefetch_related(
            "symbol_rows",
            Prefetch(
                "edge_rows",
                queryset=DeploymentEdge.objects.filter(removed=False)
                .select_related("edge")
                .order_by("edge__edge_id", "symbol"),
                to_attr="active_edge_rows",
            ),
        )
        .order_by("-created_at")
    )


def deployment_get(*, scope: Scope, deployment_id: str) -> Deployment:
    """By ``dep_<uuid>`` (or the bare UUID); 404 for unknown, deleted, another client's or another mode's."""
    raw = deployment_id.removeprefix("dep_")
    try:
        pk = uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"Deployment {deployment_id} not found.") from None
    deployment = deployments(scope=scope).filter(pk=pk).first()
    if deployment is None:
        raise NotFound(f"Deployment {deployment_id} not found.")
    return deployment


def deployment_deleted(*, scope: Scope, deployment_id: str) -> bool:
    """Whether ``deployment_id`` is one of the scope's deployments that has been deleted."""
    try:
        pk = uuid.UUID(deployment_id.removeprefix("dep_"))
    except ValueError:
        return False
    return Deployment.objects.filter(
        pk=pk, client=scope.client, is_sandbox=scope.is_sandbox, deleted_at__isnull=False
    ).exists()


def active_symbol(*, scope: Scope, symbols: Iterable[str]) -> DeploymentSymbol | None:
    """The first of ``symbols`` (slash form) a live deployment of this client and mode trades, with
    its ``deployment`` loaded; None when they are all free."""
    return (
        DeploymentSymbol.objects.filter(
            client=scope.client, is_sandbox=scope.is_sandbox, symbol__in=list(symbols), active=True
        )
        .select_related("deployment")
        .first()
    )


def deployment_for_symbol(*, scope: Scope, symbol: str) -> Deployment:
    """The deployment trading ``symbol`` (any spelling) for this client and mode, or 404."""
    canonical = parse_symbol(symbol).slash
    row = active_symbol(scope=scope, symbols=[canonical])
    if row is None:
        raise NotFound(f"No algo deployed on {canonical}.")
    return deployments(scope=scope).get(pk=row.deployment_id)


def deployment_symbols(deployment: Deployment) -> list[str]:
    return [row.symbol for row in deployment.symbol_rows.all()]


def edge_rows(deployment: Deployment, *, symbol: str | None = None) -> list[DeploymentEdge]:
    rows = getattr(deployment, "active_edge_rows", None)
    if rows is None:
        rows = list(
            deployment.edge_rows.filter(removed=False)
            .select_related("edge")
            .order_by("edge__edge_id", "symbol")
        )
    return [row for row in rows if symbol is None or row.symbol == symbol]


def deployment_status(deployment: Deployment, *, symbol: str | None = None) -> str:
    return aggregate_status([row.effective_status for row in edge_rows(deployment, symbol=symbol)])


def deployment_desired_state(deployment: Deployment, *, symbol: str | None = None) -> str:
    rows = edge_rows(deployment, symbol=symbol)
    return (
        DesiredState.RUNNING
        if any(r.desired_state == DesiredState.RUNNING for r in rows)
        else DesiredState.STOPPED
    )


def deployment_actions(deployment: Deployment, *, symbol: str | None = None) -> dict[str, bool]:
    """Which lifecycle buttons apply: Start while some edge row is stopped or paused (starting a
    paused algo re-arms it), Stop while some edge row is asked to run."""
    rows = edge_rows(deployment, symbol=symbol)
    return {
        "can_start": not rows
        or any(
            r.desired_state == DesiredState.STOPPED or r.effective_status == EdgeStatus.PAUSED for r in rows
        ),
        "can_stop": any(r.desired_state == DesiredState.RUNNING for r in rows),
    }


@dataclass(frozen=True, slots=True)
class SymbolAlgo:
    """One row of ``GET /v1/algos``: a symbol and the deployment trading it."""

    symbol: str
    deployment: Deployment


def algos(*, scope: Scope) -> list[SymbolAlgo]:
    result = []
    for deployment in deployments(scope=scope):
        for symbol in deployment_symbols(deployment):
            result.append(SymbolAlgo(symbol=symbol, deployment=deployment))
    return sorted(result, key=lambda a: a.symbol)


def recent_logs(
    *, deployment: Deployment, edge_id: str | None = None, symbol: str | None = None, limit: int = LOG_WINDOW
) -> list[AlgoLog]:
    """The newest ``limit`` lines, oldest first (so they read top to bottom like a terminal)."""
    logs = AlgoLog.objects.filter(deployment=deployment)
    if edge_id:
        logs = logs.filter(edge_id=edge_id)
    if symbol:
        logs = logs.filter(symbol=symbol)
    return list(reversed(logs.order_by("-id")[:limit]))


def logs_after(
    *, deployment: Deployment, after_id: int, edge_id: str | None = None, limit: int = 1000
) -> list[AlgoLog]:
    logs = AlgoLog.objects.filter(deployment=deployment, id__gt=after_id)
    if edge_id:
        logs = logs.filter(edge_id=edge_id)
    return list(logs.order_by("id")[:limit])


def traces(
    *, deployment: Deployment, callback_type: str | None = None, limit: int = 100, offset: int = 0
) -> list[AlgoTrace]:
    rows = AlgoTrace.objects.filter(deployment=deployment)
    if callback_type:
        rows = rows.filter(callback_type=callback_type)
    return list(rows.order_by("-id")[offset : offset + limit])


def last_reject(*, deployment: Deployment) -> AlgoLog | None:
    """The newest order refusal in the deployment's logs (its line names the reason)."""
    return (
        AlgoLog.objects.filter(deployment=deployment, level="WARN", message__contains=" REJECT: ")
        .order_by("-id")
        .first()
    )


def bundles(*, scope: Scope) -> QuerySet[Bundle]:
    return (
        Bundle.objects.filter(client=scope.client, is_sandbox=scope.is_sandbox, deleted_at__isnull=True)
        .select_related("artifact")
        .order_by("-created_at")
    )


def bundle_get(*, scope: Scope, bundle_id: str) -> Bundle:
    bundle = bundles(scope=scope).filter(pk=bundle_id).first()
    if bundle is None:
        raise NotFound(f"Bundle {bundle_id} not found.")
    return bundle


STAT_FIELDS = (
    "position_1e8",
    "realized_pnl_1e9",
    "unrealized_pnl_1e9",
    "pnl_1e9",
    "order_count",
    "fill_count",
    "reject_count",
    "trade_count",
    "update_count",
)


def stats(deployment: Deployment, *, symbol: str | None = None) -> dict[str, int]:
    """Sums of ``STAT_FIELDS`` over the deployment's edges (optionally one symbol), plus
    ``uptime_secs``: seconds since the earliest start among its running edges, 0 when none runs."""
    rows = edge_rows(deployment, symbol=symbol)
    totals = {name: sum(getattr(row, name) for row in rows) for name in STAT_FIELDS}
    started = [
        row.started_at for row in rows if row.started_at and row.effective_status == EdgeStatus.RUNNING
    ]
    uptime = int((timezone.now() - min(started)).total_seconds()) if started else 0
    return {**totals, "uptime_secs": max(uptime, 0)}
