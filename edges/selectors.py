"""Reads for edges: what an edge should be running, and the registry for the dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from algo_studio.models import DeploymentEdge
from edges.models import Edge


@dataclass(frozen=True, slots=True)
class Assignment:
    """One (deployment, symbol) an edge must reconcile to."""

    row_id: int
    deployment_id: object  # UUID
    symbol: str
    desired_state: str
    generation: int
    artifact_id: int
    # The last observed position and PnL (what a fresh edge process restores the algo's book from).
    position_1e8: int = 0
    avg_entry_price_1e9: int = 0
    realized_pnl_1e9: int = 0
    session_realized_pnl_1e9: int = 0
    # Its last reported counters, and whether an edge process ever reported it (then a new process
    # continues the counters and takes order ids above every earlier process's).
    update_count: int = 0
    order_count: int = 0
    fill_count: int = 0
    reject_count: int = 0
    trade_count: int = 0
    reported: bool = False
    client_id: int = 0  # the deployment's client (a live algo trades with its credentials)


def edge_assignments(*, edge: Edge) -> list[Assignment]:
    """What this edge should hold. Anything it holds that is not here (undeployed, deleted) it unloads."""
    rows = DeploymentEdge.objects.filter(
        edge=edge, removed=False, deployment__deleted_at__isnull=True
    ).values(
        "pk",
        "deployment_id",
        "symbol",
        "desired_state",
        "generation",
        "deployment__artifact_id",
        "position_1e8",
        "avg_entry_price_1e9",
        "realized_pnl_1e9",
        "session_realized_pnl_1e9",
        "update_count",
        "order_count",
        "fill_count",
        "reject_count",
        "trade_count",
        "last_heartbeat",
        "deployment__client_id",
    )
    return [
        Assignment(
            row_id=row["pk"],
            deployment_id=row["deployment_id"],
            symbol=row["symbol"],
            desired_state=row["desired_state"],
            generation=row["generation"],
            artifact_id=row["deployment__artifact_id"],
            position_1e8=row["position_1e8"],
            avg_entry_price_1e9=row["avg_entry_price_1e9"],
            realized_pnl_1e9=row["realized_pnl_1e9"],
            session_realized_pnl_1e9=row["session_realized_pnl_1e9"],
            update_count=row["update_count"],
            order_count=row["order_count"],
            fill_count=row["fill_count"],
            reject_count=row["reject_count"],
            trade_count=row["trade_count"],
            reported=row["last_heartbeat"] is not None,
            client_id=row["deployment__client_id"],
        )
        for row in rows
    ]


def artifact_bytes(*, artifact_id: int) -> bytes:
    from algo_studio.models import WasmArtifact

    return bytes(WasmArtifact.objects.values_list("wasm", flat=True).get(pk=artifact_id))


def edge_list(*, is_sandbox: bool) -> list[Edge]:
    return list(Edge.objects.filter(is_sandbox=is_sandbox).order_by("venue", "edge_id"))
