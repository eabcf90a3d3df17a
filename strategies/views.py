"""Dashboard pages of hosted strategies: the list, one strategy (settings, runs, live logs), actions.

Thin: the buttons call the same services as ``POST /v1/strategies/{id}/start`` and friends.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from sequence_site.dashboard import HtmxRequest, dashboard_view
from sequence_site.errors import DomainError, NotFound
from sequence_site.scope import Scope
from strategies import selectors, services
from strategies.models import Strategy
from strategies.sandboxing import sandbox_status


def _scope(request: HttpRequest) -> Scope:
    return request.client_scope  # type: ignore[attr-defined,no-any-return]


def _get(request: HttpRequest, strategy_id: str) -> Strategy:
    try:
        return selectors.strategy_get(scope=_scope(request), strategy_id=strategy_id)
    except NotFound as exc:
        raise Http404(exc.message) from None


def _actor(request: HttpRequest) -> str:
    return f"dashboard:{request.user.get_username()}"


@dashboard_view
def strategy_list(request: HtmxRequest) -> HttpResponse:
    strategies = selectors.strategy_list(scope=_scope(request))
    template = "strategies/_rows.html" if request.htmx else "strategies/list.html"
    return render(request, template, {"strategies": strategies, "sandbox": sandbox_status()})


@dashboard_view
def strategy_detail(request: HtmxRequest, strategy_id: str) -> HttpResponse:
    strategy = _get(request, strategy_id)
    if request.htmx:
        return render(request, "strategies/_status.html", {"strategy": strategy})
    runs = selectors.strategy_runs(strategy=strategy)
    return render(
        request,
        "strategies/detail.html",
        {
            "strategy": strategy,
            "runs": runs,
            "transitions": selectors.strategy_transitions(strategy=strategy),
            "manifest_json": json.dumps(strategy.manifest, indent=2, sort_keys=True),
            "follow_run": request.GET.get("run_id", ""),
            "sandbox": sandbox_status(),
        },
    )


def _act(request: HttpRequest, strategy_id: str, action: str) -> HttpResponse:
    strategy = _get(request, strategy_id)
    try:
        if action == "start":
            services.strategy_start(strategy=strategy, actor=_actor(request))
            messages.success(request, f"{strategy.name} is queued: a runner will pick it up in a moment.")
        elif action == "stop":
            services.strategy_stop(strategy=strategy, actor=_actor(request))
            messages.success(request, f"Stopping {strategy.name}.")
        else:
            services.strategy_delete(strategy=strategy, actor=_actor(request))
            messages.success(request, f"Deleted {strategy.name}, its artifact and its logs.")
            return redirect("strategies:list")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("strategies:detail", strategy_id=strategy.pk)


@require_POST
@dashboard_view
def strategy_start(request: HttpRequest, strategy_id: str) -> HttpResponse:
    return _act(request, strategy_id, "start")


@require_POST
@dashboard_view
def strategy_stop(request: HttpRequest, strategy_id: str) -> HttpResponse:
    return _act(request, strategy_id, "stop")


@require_POST
@dashboard_view
def strategy_delete(request: HttpRequest, strategy_id: str) -> HttpResponse:
    return _act(request, strategy_id, "delete")
