"""Backtest pages: the list with a "New backtest" form, a job's live progress, its results."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from algo_studio.selectors import deployment_symbols, deployments
from backtests import selectors, services
from backtests.lifecycle import FINAL, JobStatus
from backtests.models import BacktestJob
from sequence_site.dashboard import HtmxRequest, dashboard_view
from sequence_site.errors import DomainError, NotFound
from sequence_site.scope import Scope

TRADES_SHOWN = 200


def _scope(request: HttpRequest) -> Scope:
    return request.client_scope  # type: ignore[attr-defined]


def _get(request: HttpRequest, job_id: str) -> BacktestJob:
    try:
        return selectors.backtest_get(scope=_scope(request), job_id=job_id)
    except NotFound as exc:
        raise Http404(exc.message) from None


def _date(text: str | None) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DomainError(f"{text!r} is not a date (YYYY-MM-DD).") from None


@dashboard_view
def backtest_list(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    form: dict[str, Any] = {"capital_usd": "100000", "seed": "42"}
    if request.method == "POST":
        form = request.POST.dict()
        try:
            job = services.backtest_create(
                scope=scope,
                deployment_id=form.get("deployment_id", ""),
                symbols=[s for s in form.get("symbols", "").replace(",", " ").split() if s] or None,
                start_date=_date(form.get("start_date")),
                end_date=_date(form.get("end_date")),
                capital_usd=form.get("capital_usd") or services.DEFAULT_CAPITAL_USD,
                seed=int(form.get("seed") or services.DEFAULT_SEED),
            )
        except (DomainError, ValueError) as exc:
            message = exc.message if isinstance(exc, DomainError) else "seed must be a whole number."
            messages.error(request, message)
        else:
            return redirect("backtests:detail", job_id=job.id)
    choices = [
        (d.deployment_id, d.name or d.deployment_id, ", ".join(deployment_symbols(d)))
        for d in deployments(scope=scope)
    ]
    return render(
        request,
        "backtests/list.html",
        {"jobs": selectors.backtests(scope=scope)[:100], "deployments": choices, "form": form,
         "selected": request.GET.get("deployment", form.get("deployment_id", ""))},
    )  # fmt: skip


@dashboard_view
def backtest_detail(request: HtmxRequest, job_id: str) -> HttpResponse:
    job = _get(request, job_id)
    status = selectors.backtest_status(job)
    context: dict[str, Any] = {"job": job, "status": status, "final": job.status in FINAL}
    if request.htmx:  # the progress partial polls itself until the job is final
        return render(request, "backtests/_progress.html", context)
    if job.status == JobStatus.COMPLETED:
        results = selectors.backtest_results(job=job)
        context.update(
            results=results,
            trades=results["trades"][:TRADES_SHOWN],
            chart_data=selectors.backtest_chart(results),
            traces=selectors.backtest_trace_rows(results),
        )
    return render(request, "backtests/detail.html", context)


@require_POST
@dashboard_view
def backtest_cancel(request: HttpRequest, job_id: str) -> HttpResponse:
    job = _get(request, job_id)
    try:
        services.backtest_cancel(job=job)
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("backtests:detail", job_id=job.id)
