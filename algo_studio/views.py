"""Algo Studio: the dashboard face of algo management.

Thin like the API routers (algo_studio/api.py): fetch through a selector scoped to the session's
client and mode (another client's or mode's deployment is a 404), call the same service the API
calls, render. Domain errors show their message inline; nothing is stored when they happen.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from algo_studio import metrics, selectors, services
from algo_studio.forms import UploadForm
from algo_studio.models import Deployment, DeploymentEdge, DeploymentTransition
from edges.selectors import edge_list
from sequence_site.dashboard import HtmxRequest, dashboard_view
from sequence_site.errors import DomainError, NotFound
from sequence_site.scope import Scope
from sequence_site.symbols import parse_symbol

# The charts' default window and bucket: 15 minutes in 5-second points (180 points per series).
CHART_WINDOW = timedelta(minutes=15)
CHART_INTERVAL = "5s"
TRACES_PER_PAGE = 20


def _scope(request: HttpRequest) -> Scope:
    return request.client_scope  # type: ignore[attr-defined,no-any-return]


def _actor(request: HttpRequest) -> str:
    return f"dashboard:{request.user.get_username()}"


def _deployment(request: HttpRequest, deployment_id: str) -> Deployment:
    try:
        return selectors.deployment_get(scope=_scope(request), deployment_id=deployment_id)
    except NotFound as exc:
        raise Http404(exc.message) from None


def _venues(scope: Scope) -> list[str]:
    """Venues of the mode's algo-capable edges, for the venue selects."""
    return sorted({edge.venue for edge in edge_list(is_sandbox=scope.is_sandbox) if edge.algo_capable})


# -- presentation -------------------------------------------------------------------------------


def _age(moment: Any, now: Any) -> str:
    if moment is None:
        return "never"
    seconds = max((now - moment).total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _latency(ns: int) -> str:
    if not ns:
        return "—"
    return f"{ns / 1000:.1f} µs" if ns < 1_000_000 else f"{ns / 1_000_000:.2f} ms"


def _edge_view(row: DeploymentEdge, now: Any) -> dict[str, Any]:
    return {
        "edge_id": row.edge.edge_id,
        "venue": row.edge.venue,
        "symbol": row.symbol,
        "status": row.effective_status,
        "desired_state": row.desired_state,
        "edge_connected": row.edge.is_connected,
        "heartbeat_age": _age(row.last_heartbeat, now),
        "position": row.position_1e8 / 1e8,
        "pnl": row.pnl_1e9 / 1e9,
        "realized": row.realized_pnl_1e9 / 1e9,
        "unrealized": row.unrealized_pnl_1e9 / 1e9,
        "latency": _latency(row.callback_latency_ns),
        "updates": row.update_count,
        "fills": row.fill_count,
        "orders": row.order_count,
        "pause_reason": row.pause_reason,
    }


def _deployment_view(deployment: Deployment, now: Any) -> dict[str, Any]:
    totals = selectors.stats(deployment)
    rows = selectors.edge_rows(deployment)
    return {
        "obj": deployment,
        "deployment_id": deployment.deployment_id,
        "label": deployment.name or deployment.deployment_id,
        "symbols": selectors.deployment_symbols(deployment),
        "status": selectors.deployment_status(deployment),
        "desired_state": selectors.deployment_desired_state(deployment),
        **selectors.deployment_actions(deployment),
        "edges": [_edge_view(row, now) for row in rows],
        "edge_ids": sorted({row.edge.edge_id for row in rows}),
        "venues": sorted({row.edge.venue for row in rows}),
        "position": totals["position_1e8"] / 1e8,
        "pnl": totals["pnl_1e9"] / 1e9,
        "fills": totals["fill_count"],
        "orders": totals["order_count"],
        "rejects": totals["reject_count"],
        "updates": totals["update_count"],
        "last_reject": _reject_text(deployment) if totals["reject_count"] else "",
    }


def _reject_text(deployment: Deployment) -> str:
    """The named reason of the newest refusal (``BELOW_MIN_QTY: 0.01 < kraken min 2``)."""
    line = selectors.last_reject(deployment=deployment)
    if line is None:
        return ""
    return line.message.partition("reason=")[2] or line.message


def _algos_context(scope: Scope) -> dict[str, Any]:
    now = timezone.now()
    entries = selectors.algos(scope=scope)
    return {
        "algos": [
            {
                "symbol": entry.symbol,
                "deployment_id": entry.deployment.deployment_id,
                "label": entry.deployment.name or entry.deployment.deployment_id,
                "size_bytes": entry.deployment.artifact.size_bytes,
                "modified_at": entry.deployment.modified_at,
                "status": selectors.deployment_status(entry.deployment, symbol=entry.symbol),
                "desired_state": selectors.deployment_desired_state(entry.deployment, symbol=entry.symbol),
                **selectors.deployment_actions(entry.deployment, symbol=entry.symbol),
                "pnl": selectors.stats(entry.deployment, symbol=entry.symbol)["pnl_1e9"] / 1e9,
                "edges": [
                    _edge_view(row, now) for row in selectors.edge_rows(entry.deployment, symbol=entry.symbol)
                ],
            }
            for entry in entries
        ],
    }


# -- algos (by symbol) --------------------------------------------------------------------------


@dashboard_view
def algos(request: HttpRequest) -> HttpResponse:
    """Every symbol with an algo, its per-edge rows, and the Upload .wasm form."""
    scope = _scope(request)
    return _algos_page(request, scope, UploadForm())


def _algos_page(request: HttpRequest, scope: Scope, form: UploadForm, status: int = 200) -> HttpResponse:
    context = {"form": form, "venues": _venues(scope), **_algos_context(scope)}
    return render(request, "algo_studio/algos.html", context, status=status)


@require_GET
@dashboard_view
def algos_live(request: HttpRequest) -> HttpResponse:
    """The algo tables alone: htmx polls this every 2 s."""
    return render(request, "algo_studio/_algos_live.html", _algos_context(_scope(request)))


@require_POST
@dashboard_view
def upload(request: HttpRequest) -> HttpResponse:
    """Upload .wasm: deploys stopped through ``services.algo_deploy`` (as POST /v1/algos/deploy)."""
    scope = _scope(request)
    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            symbol = parse_symbol(form.symbol_text()).slash
            result = services.algo_deploy(
                scope=scope,
                symbol=symbol,
                wasm=form.cleaned_data["wasm"],
                venue=form.cleaned_data["venue"] or None,
                actor=_actor(request),
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"{symbol}: {result.status_sentence(running=False)}.")
            for warning in result.warnings:
                messages.warning(request, warning)
            return redirect("algo_studio:deployment", deployment_id=result.deployment.deployment_id)
    return _algos_page(request, scope, form, status=400)


# -- deployments --------------------------------------------------------------------------------


@dashboard_view
def deployments(request: HttpRequest) -> HttpResponse:
    return render(request, "algo_studio/deployments.html", _deployments_context(_scope(request)))


@require_GET
@dashboard_view
def deployments_live(request: HttpRequest) -> HttpResponse:
    return render(request, "algo_studio/_deployments_live.html", _deployments_context(_scope(request)))


def _deployments_context(scope: Scope) -> dict[str, Any]:
    now = timezone.now()
    return {"deployments": [_deployment_view(d, now) for d in selectors.deployments(scope=scope)]}


@dashboard_view
def deployment_detail(request: HttpRequest, deployment_id: str) -> HttpResponse:
    deployment = _deployment(request, deployment_id)
    view = _deployment_view(deployment, timezone.now())
    return render(
        request,
        "algo_studio/deployment.html",
        {
            "d": view,
            "transitions": _transitions(deployment),
            "trace_types": selectors.TRACE_TYPES,
            "chart_window_minutes": int(CHART_WINDOW.total_seconds() // 60),
        },
    )


# htmx stops an element's polling when a response has this status (and swaps its body in).
HTMX_STOP_POLLING = 286


def _polled_deployment(request: HttpRequest, deployment_id: str) -> Deployment | HttpResponse:
    """The deployment a polling panel shows, or, once it is deleted (the Delete form's request is
    on its way, or another tab deleted it), a 286 that ends the polling with a notice."""
    try:
        return _deployment(request, deployment_id)
    except Http404:
        if not selectors.deployment_deleted(scope=_scope(request), deployment_id=deployment_id):
            raise
    return HttpResponse('<p class="muted">This algo has been deleted.</p>', status=HTMX_STOP_POLLING)


def _transitions(deployment: Deployment) -> list[DeploymentTransition]:
    return list(DeploymentTransition.objects.filter(deployment=deployment).order_by("-at", "-id")[:50])


@require_GET
@dashboard_view
def deployment_history(request: HttpRequest, deployment_id: str) -> HttpResponse:
    """The transitions table alone (newest first): htmx refreshes it while the page is open."""
    deployment = _polled_deployment(request, deployment_id)
    if isinstance(deployment, HttpResponse):
        return deployment
    return render(request, "algo_studio/_history.html", {"transitions": _transitions(deployment)})


@require_GET
@dashboard_view
def deployment_live(request: HttpRequest, deployment_id: str) -> HttpResponse:
    """The status, totals and edge table of one deployment: htmx polls this every 2 s."""
    deployment = _polled_deployment(request, deployment_id)
    if isinstance(deployment, HttpResponse):
        return deployment
    context = {"d": _deployment_view(deployment, timezone.now()), "live": True}
    return render(request, "algo_studio/_deployment_live.html", context)


def _act(request: HtmxRequest, deployment_id: str, action: str) -> HttpResponse:
    deployment = _deployment(request, deployment_id)
    venue = request.POST.get("venue") or None
    symbol = request.POST.get("symbol") or None
    try:
        if action == "start":
            notified = services.deployment_start(
                deployment=deployment, venue=venue, symbol=symbol, actor=_actor(request)
            )
            messages.success(request, f"Started: {notified} edge{'s' if notified != 1 else ''} notified.")
            for warning in services.deployment_first_order_warnings(
                deployment=deployment, venue=venue, symbol=symbol
            ):
                messages.warning(request, warning)
        elif action == "stop":
            notified = services.deployment_stop(
                deployment=deployment, venue=venue, symbol=symbol, actor=_actor(request)
            )
            messages.success(
                request, f"Stopped: {notified} edge{'s' if notified != 1 else ''} notified. State is kept."
            )
        elif action == "delete":
            whole = services.deployment_delete(deployment=deployment, venue=venue, actor=_actor(request))
            if whole:
                messages.success(request, f"Deleted {deployment.deployment_id} and its logs.")
                return _after(request, reverse("algo_studio:algos"))
            messages.success(request, f"Removed from {venue}: stopped there, its logs there deleted.")
        elif action == "rename":
            services.deployment_rename(
                deployment=deployment, name=request.POST.get("name"), actor=_actor(request)
            )
            messages.success(request, "Renamed.")
    except DomainError as exc:
        messages.error(request, exc.message)
    detail = reverse("algo_studio:deployment", kwargs={"deployment_id": deployment.deployment_id})
    if request.htmx and action in ("start", "stop"):
        # Stay on the page (the live log tail keeps its websocket): answer the live panel only.
        fresh = _deployment(request, deployment_id)
        return render(
            request,
            "algo_studio/_deployment_live.html",
            {"d": _deployment_view(fresh, timezone.now()), "flash": True, "live": True},
        )
    return _after(request, detail)


def _after(request: HtmxRequest, default: str) -> HttpResponse:
    """Back to ``next`` when it is one of our pages (the algo list's buttons), else ``default``."""
    target = request.POST.get("next") or ""
    if not target.startswith("/") or target.startswith("//"):
        target = default
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


@require_POST
@dashboard_view
def deployment_start(request: HtmxRequest, deployment_id: str) -> HttpResponse:
    return _act(request, deployment_id, "start")


@require_POST
@dashboard_view
def deployment_stop(request: HtmxRequest, deployment_id: str) -> HttpResponse:
    return _act(request, deployment_id, "stop")


@require_POST
@dashboard_view
def deployment_delete(request: HtmxRequest, deployment_id: str) -> HttpResponse:
    return _act(request, deployment_id, "delete")


@require_POST
@dashboard_view
def deployment_rename(request: HtmxRequest, deployment_id: str) -> HttpResponse:
    return _act(request, deployment_id, "rename")


@require_GET
@dashboard_view
def deployment_traces(request: HttpRequest, deployment_id: str) -> HttpResponse:
    deployment = _polled_deployment(request, deployment_id)
    if isinstance(deployment, HttpResponse):
        return deployment
    callback_type = request.GET.get("type") or None
    if callback_type not in (None, *selectors.TRACE_TYPES):
        callback_type = None
    try:
        page = max(int(request.GET.get("page") or 0), 0)
    except ValueError:
        page = 0
    # One more than a page tells whether an older page exists.
    rows = selectors.traces(
        deployment=deployment,
        callback_type=callback_type,
        limit=TRACES_PER_PAGE + 1,
        offset=page * TRACES_PER_PAGE,
    )
    return render(
        request,
        "algo_studio/_traces.html",
        {
            "traces": [_trace_view(t) for t in rows[:TRACES_PER_PAGE]],
            "page": page,
            "has_older": len(rows) > TRACES_PER_PAGE,
        },
    )


def _trace_view(trace: Any) -> dict[str, Any]:
    output = trace.output if isinstance(trace.output, dict) else {}
    inputs = trace.input if isinstance(trace.input, dict) else {"value": trace.input}
    actions = output.get("actions", [])
    return {
        "ts_ns": trace.ts_ns,
        "at": datetime.fromtimestamp(trace.ts_ns / 1e9, tz=UTC),
        "edge_id": trace.edge_id,
        "symbol": trace.symbol,
        "callback_type": trace.callback_type,
        "latency": _latency(trace.latency_ns),
        "input": {key: _compact(value) for key, value in inputs.items()},
        "input_json": json.dumps(inputs, indent=2, sort_keys=True, default=str),
        "actions": actions if isinstance(actions, list) else [actions],
        "logs": trace.logs if isinstance(trace.logs, list) else [trace.logs],
    }


def _compact(value: Any) -> str:
    """Nested trace input (the book, a fill) as compact JSON; scalars as they are."""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


@require_GET
@dashboard_view
def deployment_metrics(request: HttpRequest, deployment_id: str) -> JsonResponse:
    """The charts' data: ``metrics.series`` as GET /v1/deployments/{id}/metrics answers it, session
    authenticated. ``from``/``to``/``interval`` default to the last 15 minutes in 5 s buckets.

    Once the deployment is deleted, ``{"deleted": true}`` (200): the page's chart refresh stops, like
    the htmx panels' 286, instead of a 404 while the Delete form's navigation is on its way."""
    deployment = _polled_deployment(request, deployment_id)
    if isinstance(deployment, HttpResponse):
        return JsonResponse({"deployment_id": deployment_id, "deleted": True, "series": []})
    now = timezone.now()
    params = request.GET
    try:
        start = metrics.parse_time(params["from"], name="from") if "from" in params else now - CHART_WINDOW
        end = metrics.parse_time(params["to"], name="to") if "to" in params else now
        interval = params.get("interval") or CHART_INTERVAL
        symbol = params.get("symbol")
        points = metrics.series(
            deployment=deployment,
            start=start,
            end=end,
            interval_s=metrics.parse_interval(interval),
            edge_id=params.get("edge_id") or None,
            symbol=parse_symbol(symbol).slash if symbol else None,
        )
    except DomainError as exc:
        return JsonResponse({"error": {"code": exc.code, "message": exc.message}}, status=exc.status)
    return JsonResponse({"deployment_id": deployment.deployment_id, "interval": interval, "series": points})
