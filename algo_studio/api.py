"""The algo API: /v1/algos (v1, by symbol), /v1/deployments (v2, by id) and /v1/bundles.

Thin: parse, fetch through a selector (which enforces client and mode), call a service, shape the
answer. Algo endpoints answer symbols in slash form (BTC/USD); deployments and bundles in hyphen
form (BTC-USD), as the spec says.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from algo_studio import metrics, selectors, services
from algo_studio.lifecycle import DesiredState
from algo_studio.models import Bundle, Deployment, DeploymentEdge
from algo_studio.schemas import (
    AlgoActionOut,
    AlgoDeletedOut,
    AlgoDeployIn,
    AlgoDeployOut,
    AlgoListOut,
    AlgoLogsOut,
    AlgoStatsOut,
    BundleIn,
    BundleListOut,
    BundleOut,
    DeploymentActionOut,
    DeploymentCreatedOut,
    DeploymentDeletedOut,
    DeploymentDetailOut,
    DeploymentIn,
    DeploymentListOut,
    DeploymentLogsOut,
    DeploymentRenameIn,
    MetricsOut,
    TracesOut,
)
from sequence_site.errors import InvalidInput
from sequence_site.schemas import ErrorOut
from sequence_site.scope import Scope
from sequence_site.symbols import parse_symbol

router = Router(tags=["algos"])
ERRORS: dict[int, type] = {400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 409: ErrorOut}


def _scope(request: HttpRequest) -> Scope:
    return request.auth  # type: ignore[attr-defined,no-any-return]


def _actor(scope: Scope) -> str:
    return f"api:{scope.api_key.display_prefix}" if scope.api_key else "api"


def _unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment else None


def _hyphen(symbol: str) -> str:
    return parse_symbol(symbol).hyphen


def edge_row(row: DeploymentEdge, deployment: Deployment, *, hyphen: bool) -> dict[str, Any]:
    return {
        "symbol": _hyphen(row.symbol) if hyphen else row.symbol,
        "edge_id": row.edge.edge_id,
        "deploy_id": str(row.deploy_id),
        "status": row.effective_status,
        "size_bytes": deployment.artifact.size_bytes,
        "deployed_at": _unix(row.deployed_at),
        "last_heartbeat": _unix(row.last_heartbeat),
        "pause_reason": row.pause_reason,
        "position_1e8": row.position_1e8,
        "realized_pnl_1e9": row.realized_pnl_1e9,
        "session_realized_pnl_1e9": row.session_realized_pnl_1e9,
        "unrealized_pnl_1e9": row.unrealized_pnl_1e9,
        "callback_latency_ns": row.callback_latency_ns,
        "update_count": row.update_count,
        # v2 detail extras
        "venue": row.edge.venue,
        "desired_state": row.desired_state,
        "order_count": row.order_count,
        "fill_count": row.fill_count,
        "reject_count": row.reject_count,
        "trade_count": row.trade_count,
    }


def deployment_out(deployment: Deployment) -> dict[str, Any]:
    rows = selectors.edge_rows(deployment)
    return {
        "deployment_id": deployment.deployment_id,
        "name": deployment.name,
        "symbols": [_hyphen(s) for s in selectors.deployment_symbols(deployment)],
        "size_bytes": deployment.artifact.size_bytes,
        "desired_state": selectors.deployment_desired_state(deployment),
        "status": selectors.deployment_status(deployment),
        "venue": deployment.venue,
        "sha256": deployment.artifact.sha256,
        "created_at": _unix(deployment.created_at),
        "modified_at": _unix(deployment.modified_at),
        "edges": [edge_row(row, deployment, hyphen=True) for row in rows],
    }


# -- v1: /algos ---------------------------------------------------------------------------------


@router.get(
    "/algos", response={200: AlgoListOut, **ERRORS}, summary="List deployed algos", exclude_unset=True
)
def list_algos(request: HttpRequest, detail: str | None = None) -> dict[str, Any]:
    """Every symbol with an algo, for the key's client and mode. ``detail=edge`` adds per-edge rows."""
    if detail not in (None, "", "edge"):
        raise InvalidInput("detail must be `edge` (or omitted).")
    entries = selectors.algos(scope=_scope(request))
    body: dict[str, Any] = {
        "algos": [
            {
                "symbol": entry.symbol,
                "size_bytes": entry.deployment.artifact.size_bytes,
                "modified_at": _unix(entry.deployment.modified_at),
                "status": selectors.deployment_status(entry.deployment, symbol=entry.symbol),
            }
            for entry in entries
        ]
    }
    if detail == "edge":
        body["edges"] = [
            edge_row(row, entry.deployment, hyphen=False)
            for entry in entries
            for row in selectors.edge_rows(entry.deployment, symbol=entry.symbol)
        ]
    return body


@router.post("/algos/deploy", response={200: AlgoDeployOut, **ERRORS}, summary="Deploy an algo on a symbol")
def deploy_algo(request: HttpRequest, body: AlgoDeployIn) -> dict[str, Any]:
    """Upload and deploy a WASM algo (max 1 MiB). Stopped unless ``start_immediately``. Deploying to a
    symbol that already has a one-symbol algo replaces its artifact (a new version)."""
    scope = _scope(request)
    symbol = parse_symbol(body.symbol)
    wasm = services.wasm_from_base64(body.wasm_base64)
    result = services.algo_deploy(
        scope=scope,
        symbol=symbol.slash,
        wasm=wasm,
        start_immediately=body.start_immediately,
        venue=body.venue,
        actor=_actor(scope),
    )
    return {
        "symbol": symbol.slash,
        "size_bytes": len(wasm),
        "status": result.status_sentence(running=body.start_immediately),
        "paused": not body.start_immediately,
        "pushed_to": result.pushed_to,
        "capable_edges": result.capable_edges,
        "warnings": result.warnings,
    }


@router.post("/algos/{path:symbol}/start", response={200: AlgoActionOut, **ERRORS}, summary="Start an algo")
def start_algo(request: HttpRequest, symbol: str, venue: str | None = None) -> dict[str, Any]:
    scope = _scope(request)
    deployment = selectors.deployment_for_symbol(scope=scope, symbol=symbol)
    canonical = parse_symbol(symbol).slash
    notified = services.deployment_start(
        deployment=deployment, venue=venue, symbol=canonical, actor=_actor(scope)
    )
    warnings = services.deployment_first_order_warnings(deployment=deployment, venue=venue, symbol=canonical)
    return {
        "symbol": canonical,
        "status": DesiredState.RUNNING.value,
        "edges_notified": notified,
        "warnings": warnings,
    }


@router.post("/algos/{path:symbol}/stop", response={200: AlgoActionOut, **ERRORS}, summary="Stop an algo")
def stop_algo(request: HttpRequest, symbol: str, venue: str | None = None) -> dict[str, Any]:
    scope = _scope(request)
    deployment = selectors.deployment_for_symbol(scope=scope, symbol=symbol)
    canonical = parse_symbol(symbol).slash
    notified = services.deployment_stop(
        deployment=deployment, venue=venue, symbol=canonical, actor=_actor(scope)
    )
    return {"symbol": canonical, "status": DesiredState.STOPPED.value, "edges_notified": notified}


@router.get("/algos/{path:symbol}/logs", response={200: AlgoLogsOut, **ERRORS}, summary="Recent algo logs")
def algo_logs(request: HttpRequest, symbol: str, edge_id: str | None = None) -> dict[str, Any]:
    """The newest 100 lines (oldest first); ``ts_ns`` is nanoseconds since the epoch."""
    deployment = selectors.deployment_for_symbol(scope=_scope(request), symbol=symbol)
    canonical = parse_symbol(symbol).slash
    lines = selectors.recent_logs(deployment=deployment, edge_id=edge_id, symbol=canonical)
    return {
        "symbol": canonical,
        "logs": [{"ts_ns": line.ts_ns, "level": line.level, "message": line.message} for line in lines],
    }


@router.get("/algos/{path:symbol}/stats", response={200: AlgoStatsOut, **ERRORS}, summary="Algo stats")
def algo_stats(request: HttpRequest, symbol: str) -> dict[str, Any]:
    deployment = selectors.deployment_for_symbol(scope=_scope(request), symbol=symbol)
    canonical = parse_symbol(symbol).slash
    totals = selectors.stats(deployment, symbol=canonical)
    return {
        "symbol": canonical,
        "status": selectors.deployment_status(deployment, symbol=canonical),
        "position": totals["position_1e8"] / 1e8,
        "pnl": totals["pnl_1e9"] / 1e9,
        "trades": totals["trade_count"],
        "orders": totals["order_count"],
        "fills": totals["fill_count"],
        "rejects": totals["reject_count"],
        "uptime_secs": totals["uptime_secs"],
    }


@router.delete("/algos/{path:symbol}", response={200: AlgoDeletedOut, **ERRORS}, summary="Undeploy an algo")
def delete_algo(request: HttpRequest, symbol: str, venue: str | None = None) -> dict[str, Any]:
    """Stops it at once and removes its logs, traces and metrics. Cannot be undone."""
    scope = _scope(request)
    services.algo_delete(scope=scope, symbol=symbol, venue=venue, actor=_actor(scope))
    return {"symbol": parse_symbol(symbol).slash, "deleted": True}


# -- v2: /deployments ---------------------------------------------------------------------------


@router.post("/deployments", response={201: DeploymentCreatedOut, **ERRORS}, summary="Create a deployment")
def create_deployment(request: HttpRequest, body: DeploymentIn) -> Status:
    scope = _scope(request)
    wasm = services.wasm_from_base64(body.wasm_base64) if body.wasm_base64 is not None else None
    result = services.deployment_create(
        scope=scope,
        symbols=body.symbols,
        wasm=wasm,
        bundle_id=body.bundle_id,
        name=body.name,
        venue=body.venue,
        start_immediately=body.start_immediately,
        actor=_actor(scope),
    )
    deployment = selectors.deployment_get(scope=scope, deployment_id=result.deployment.deployment_id)
    return Status(
        201,
        {
            **deployment_out(deployment),
            "pushed_to": result.pushed_to,
            "capable_edges": result.capable_edges,
            "warnings": result.warnings,
        },
    )


@router.get("/deployments", response={200: DeploymentListOut, **ERRORS}, summary="List deployments")
def list_deployments(request: HttpRequest) -> dict[str, Any]:
    return {"deployments": [deployment_out(d) for d in selectors.deployments(scope=_scope(request))]}


@router.get(
    "/deployments/{deployment_id}", response={200: DeploymentDetailOut, **ERRORS}, summary="Get a deployment"
)
def get_deployment(request: HttpRequest, deployment_id: str) -> dict[str, Any]:
    return deployment_out(selectors.deployment_get(scope=_scope(request), deployment_id=deployment_id))


@router.patch("/deployments/{deployment_id}", response={200: DeploymentDetailOut, **ERRORS}, summary="Rename")
def rename_deployment(request: HttpRequest, deployment_id: str, body: DeploymentRenameIn) -> dict[str, Any]:
    scope = _scope(request)
    deployment = selectors.deployment_get(scope=scope, deployment_id=deployment_id)
    services.deployment_rename(deployment=deployment, name=body.name, actor=_actor(scope))
    return deployment_out(selectors.deployment_get(scope=scope, deployment_id=deployment_id))


@router.delete(
    "/deployments/{deployment_id}", response={200: DeploymentDeletedOut, **ERRORS}, summary="Delete"
)
def delete_deployment(request: HttpRequest, deployment_id: str) -> dict[str, Any]:
    """Stops every edge and removes it from listings, with its logs, traces and metrics."""
    scope = _scope(request)
    deployment = selectors.deployment_get(scope=scope, deployment_id=deployment_id)
    services.deployment_delete(deployment=deployment, actor=_actor(scope))
    return {"deployment_id": deployment.deployment_id, "deleted": True}


@router.post(
    "/deployments/{deployment_id}/start", response={200: DeploymentActionOut, **ERRORS}, summary="Start"
)
def start_deployment(request: HttpRequest, deployment_id: str, venue: str | None = None) -> dict[str, Any]:
    scope = _scope(request)
    deployment = selectors.deployment_get(scope=scope, deployment_id=deployment_id)
    notified = services.deployment_start(deployment=deployment, venue=venue, actor=_actor(scope))
    return {
        "deployment_id": deployment.deployment_id,
        "desired_state": "running",
        "edges_notified": notified,
        "warnings": services.deployment_first_order_warnings(deployment=deployment, venue=venue),
    }


@router.post(
    "/deployments/{deployment_id}/stop", response={200: DeploymentActionOut, **ERRORS}, summary="Stop"
)
def stop_deployment(request: HttpRequest, deployment_id: str, venue: str | None = None) -> dict[str, Any]:
    scope = _scope(request)
    deployment = selectors.deployment_get(scope=scope, deployment_id=deployment_id)
    notified = services.deployment_stop(deployment=deployment, venue=venue, actor=_actor(scope))
    return {"deployment_id": deployment.deployment_id, "desired_state": "stopped", "edges_notified": notified}


@router.get("/deployments/{deployment_id}/logs", response={200: DeploymentLogsOut, **ERRORS}, summary="Logs")
def deployment_logs(
    request: HttpRequest,
    deployment_id: str,
    edge_id: str | None = None,
    symbol: str | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000.")
    deployment = selectors.deployment_get(scope=_scope(request), deployment_id=deployment_id)
    canonical = parse_symbol(symbol).slash if symbol else None
    lines = selectors.recent_logs(deployment=deployment, edge_id=edge_id, symbol=canonical, limit=limit)
    return {
        "deployment_id": deployment.deployment_id,
        "logs": [
            {"ts_ns": line.ts_ns, "level": line.level, "message": line.message, "edge_id": line.edge_id,
             "symbol": _hyphen(line.symbol)}
            for line in lines
        ],
    }  # fmt: skip


@router.get("/deployments/{deployment_id}/metrics", response={200: MetricsOut, **ERRORS}, summary="Metrics")
def deployment_metrics(
    request: HttpRequest,
    deployment_id: str,
    from_: str = Query(..., alias="from"),
    to: str = Query(...),
    interval: str = Query(...),
    edge_id: str | None = None,
    symbol: str | None = None,
) -> dict[str, Any]:
    """Bucketed time series: ``from``/``to`` as ISO 8601 or Unix seconds, ``interval`` like 1m, 5m, 1h."""
    deployment = selectors.deployment_get(scope=_scope(request), deployment_id=deployment_id)
    points = metrics.series(
        deployment=deployment,
        start=metrics.parse_time(from_, name="from"),
        end=metrics.parse_time(to, name="to"),
        interval_s=metrics.parse_interval(interval),
        edge_id=edge_id,
        symbol=parse_symbol(symbol).slash if symbol else None,
    )
    return {"deployment_id": deployment.deployment_id, "interval": interval, "series": points}


@router.get("/deployments/{deployment_id}/traces", response={200: TracesOut, **ERRORS}, summary="Traces")
def deployment_traces(
    request: HttpRequest, deployment_id: str, limit: int = 100, type: str | None = None
) -> dict[str, Any]:
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000.")
    if type not in (None, "", "all", *selectors.TRACE_TYPES):
        raise InvalidInput("type must be on_book, on_fill or on_reject (or omitted for all).")
    deployment = selectors.deployment_get(scope=_scope(request), deployment_id=deployment_id)
    rows = selectors.traces(
        deployment=deployment, callback_type=type if type not in ("", "all") else None, limit=limit
    )
    return {
        "deployment_id": deployment.deployment_id,
        "traces": [
            {"callback_type": t.callback_type, "symbol": _hyphen(t.symbol), "ts_ns": t.ts_ns,
             "latency_ns": t.latency_ns, "edge_id": t.edge_id, "input": t.input, "output": t.output,
             "logs": t.logs}
            for t in rows
        ],
    }  # fmt: skip


# -- bundles ------------------------------------------------------------------------------------


def bundle_out(bundle: Bundle) -> dict[str, Any]:
    return {
        "bundle_id": bundle.id,
        "name": bundle.name,
        "size_bytes": bundle.artifact.size_bytes,
        "sha256": bundle.artifact.sha256,
        "created_at": _unix(bundle.created_at),
    }


@router.post("/bundles", response={201: BundleOut, **ERRORS}, tags=["bundles"], summary="Register a bundle")
def create_bundle(request: HttpRequest, body: BundleIn) -> Status:
    bundle = services.bundle_create(
        scope=_scope(request), wasm=services.wasm_from_base64(body.wasm_base64), name=body.name
    )
    return Status(201, bundle_out(bundle))


@router.get("/bundles", response={200: BundleListOut, **ERRORS}, tags=["bundles"], summary="List bundles")
def list_bundles(request: HttpRequest) -> dict[str, Any]:
    return {"bundles": [bundle_out(b) for b in selectors.bundles(scope=_scope(request))]}


@router.delete(
    "/bundles/{bundle_id}", response={200: dict, **ERRORS}, tags=["bundles"], summary="Delete a bundle"
)
def delete_bundle(request: HttpRequest, bundle_id: str) -> dict[str, Any]:
    """Deployments made from it keep running: they hold the artifact, not the bundle."""
    bundle = selectors.bundle_get(scope=_scope(request), bundle_id=bundle_id)
    services.bundle_delete(bundle=bundle)
    return {"bundle_id": bundle.id, "deleted": True}
