"""Writes an edge process makes: registering, heartbeating, and reporting what its algos do.

Reports come in batches (never one database write per tick): the edge worker buffers and calls
these about once a second.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from algo_studio.models import AlgoLog, AlgoTrace, Deployment, DeploymentEdge, MetricSample
from edges.models import Edge
from sequence_site.realtime import group_send

EDGE_VERSION = "1"


def edge_register(
    *,
    edge_id: str,
    venue: str,
    is_sandbox: bool,
    symbols: Sequence[str],
    algo_capable: bool = True,
    feed: str = "sim",
) -> Edge:
    now = timezone.now()
    edge, _ = Edge.objects.update_or_create(
        edge_id=edge_id,
        is_sandbox=is_sandbox,
        defaults={
            "venue": venue,
            "algo_capable": algo_capable,
            "symbols": list(symbols),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "version": EDGE_VERSION,
            "started_at": now,
            "last_heartbeat": now,
            "feed": feed,
            "feed_status": {},
        },
    )
    return edge


def edge_disconnect(*, edge: Edge) -> None:
    """A clean shutdown: the edge is seen as gone at once instead of after its heartbeat goes stale."""
    Edge.objects.filter(pk=edge.pk).update(last_heartbeat=None)


@dataclass(slots=True)
class AlgoReport:
    """What the edge observed of one (deployment, symbol) since the last report."""

    row_id: int
    applied_generation: int
    status: str
    pause_reason: str | None
    started_at: datetime | None
    position_1e8: int
    realized_pnl_1e9: int
    session_realized_pnl_1e9: int
    unrealized_pnl_1e9: int
    callback_latency_ns: int
    update_count: int
    order_count: int
    fill_count: int
    reject_count: int
    trade_count: int
    avg_entry_price_1e9: int = 0


@dataclass(slots=True)
class LogLine:
    deployment_id: Any  # the Deployment's UUID
    symbol: str
    ts_ns: int
    level: str
    message: str


@dataclass(slots=True)
class TraceRecord:
    deployment_id: Any
    symbol: str
    callback_type: str
    ts_ns: int
    latency_ns: int
    input: dict[str, Any]
    output: dict[str, Any]
    logs: list[str] = field(default_factory=list)


def edge_report(
    *,
    edge: Edge,
    reports: Iterable[AlgoReport],
    metrics: bool = False,
    feed_status: dict[str, Any] | None = None,
) -> None:
    """The edge's periodic report (about once a second): heartbeat, per-algo observed state and,
    when ``metrics``, one metric sample per algo. Rows undeployed meanwhile are left alone."""
    now = timezone.now()
    reports = list(reports)
    row_info = {
        row["pk"]: row
        for row in DeploymentEdge.objects.filter(
            pk__in=[r.row_id for r in reports], removed=False, deployment__deleted_at__isnull=True
        ).values("pk", "deployment_id", "symbol")
    }
    with transaction.atomic():
        if feed_status is not None:
            Edge.objects.filter(pk=edge.pk).update(last_heartbeat=now, feed_status=feed_status)
        else:
            Edge.objects.filter(pk=edge.pk).update(last_heartbeat=now)
        for report in reports:
            if report.row_id not in row_info:
                continue
            DeploymentEdge.objects.filter(pk=report.row_id).update(
                applied_generation=report.applied_generation,
                status=report.status,
                pause_reason=report.pause_reason,
                started_at=report.started_at,
                last_heartbeat=now,
                position_1e8=report.position_1e8,
                avg_entry_price_1e9=report.avg_entry_price_1e9,
                realized_pnl_1e9=report.realized_pnl_1e9,
                session_realized_pnl_1e9=report.session_realized_pnl_1e9,
                unrealized_pnl_1e9=report.unrealized_pnl_1e9,
                callback_latency_ns=report.callback_latency_ns,
                update_count=report.update_count,
                order_count=report.order_count,
                fill_count=report.fill_count,
                reject_count=report.reject_count,
                trade_count=report.trade_count,
            )
        if metrics:
            MetricSample.objects.bulk_create(
                MetricSample(
                    deployment_id=info["deployment_id"],
                    edge_id=edge.edge_id,
                    symbol=info["symbol"],
                    ts=now,
                    position_1e8=r.position_1e8,
                    realized_pnl_1e9=r.realized_pnl_1e9,
                    unrealized_pnl_1e9=r.unrealized_pnl_1e9,
                    callback_latency_ns=r.callback_latency_ns,
                    fill_count=r.fill_count,
                )
                for r in reports
                if (info := row_info.get(r.row_id)) is not None
            )


def edge_logs_flush(*, edge: Edge, logs: Sequence[LogLine] = (), traces: Sequence[TraceRecord] = ()) -> int:
    """Store a batch of log lines and traces, then fan the lines out to live followers.

    Lines of deployments deleted meanwhile are dropped: a delete removes logs for good, so a late
    batch must not bring any back. Returns how many lines were stored.
    """
    deployment_ids = {line.deployment_id for line in logs} | {t.deployment_id for t in traces}
    with transaction.atomic():
        # Lock the deployments while checking and inserting: a concurrent delete (which updates
        # deleted_at, then removes the logs) either waits for this batch and removes it too, or
        # commits first and this batch sees the deployment deleted. No late line survives a delete.
        list(
            Deployment.objects.select_for_update()
            .filter(pk__in=deployment_ids)
            .order_by("pk")
            .values_list("pk")
        )
        live_ids = set(
            DeploymentEdge.objects.filter(
                edge=edge,
                removed=False,
                deployment_id__in=deployment_ids,
                deployment__deleted_at__isnull=True,
            ).values_list("deployment_id", flat=True)
        )
        kept = [line for line in logs if line.deployment_id in live_ids]
        # PostgreSQL (and SQLite >= 3.35) return the new ids: followers use them as a cursor.
        stored = AlgoLog.objects.bulk_create(
            AlgoLog(
                deployment_id=line.deployment_id,
                edge_id=edge.edge_id,
                symbol=line.symbol,
                ts_ns=line.ts_ns,
                level=line.level,
                message=line.message,
            )
            for line in kept
        )
        AlgoTrace.objects.bulk_create(
            AlgoTrace(
                deployment_id=t.deployment_id,
                edge_id=edge.edge_id,
                symbol=t.symbol,
                callback_type=t.callback_type,
                ts_ns=t.ts_ns,
                latency_ns=t.latency_ns,
                input=t.input,
                output=t.output,
                logs=t.logs,
            )
            for t in traces
            if t.deployment_id in live_ids
        )
    _fan_out_logs(stored)
    return len(stored)


def _fan_out_logs(lines: Sequence[AlgoLog]) -> None:
    """Live followers get each batch as one message per deployment, sent after the rows are
    committed, so a follower that reads the database by id never misses a line it was sent."""
    by_deployment: dict[Any, list[dict[str, Any]]] = {}
    for line in lines:
        by_deployment.setdefault(line.deployment_id, []).append(log_event(line))
    for deployment_id, entries in by_deployment.items():
        group_send(logs_group(deployment_id), {"type": "log.lines", "lines": entries})


def logs_group(deployment_id: Any) -> str:
    return f"deployment.{deployment_id}.logs"


def log_event(line: AlgoLog) -> dict[str, Any]:
    """One log line as followers (websocket, dashboard) receive it."""
    return {
        "id": line.pk,
        "ts_ns": line.ts_ns,
        "level": line.level,
        "message": line.message,
        "edge_id": line.edge_id,
        "symbol": line.symbol,
    }
