"""Dashboard pages of the site itself: overview, the sandbox/live switch, API keys."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from sequence_site import selectors, services
from sequence_site.dashboard import HtmxRequest, dashboard_view
from sequence_site.errors import DomainError
from sequence_site.middleware import SESSION_MODE_KEY
from sequence_site.overview import overview
from sequence_site.scope import Scope


@dashboard_view
def home(request: HtmxRequest) -> HttpResponse:
    """The overview: PnL, what runs, edge health, recent backtests and problems, first steps."""
    scope: Scope = request.client_scope  # type: ignore[attr-defined]
    template = "dashboard/_overview.html" if request.htmx else "dashboard/home.html"
    return render(request, template, {"o": overview(scope=scope)})


@require_POST
@dashboard_view
def switch_mode(request: HttpRequest) -> HttpResponse:
    mode = request.POST.get("mode")
    if mode in ("test", "live"):
        request.session[SESSION_MODE_KEY] = mode
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "/"
    return redirect(target)


@dashboard_view
def keys(request: HttpRequest) -> HttpResponse:
    scope: Scope = request.client_scope  # type: ignore[attr-defined]
    created = None
    if request.method == "POST":
        try:
            created = services.api_key_create(
                client=scope.client,
                mode=scope.mode,
                name=request.POST.get("name", ""),
                # dashboard_view lets only signed-in users through: never AnonymousUser here.
                created_by=request.user if isinstance(request.user, User) else None,
            )
        except DomainError as exc:
            messages.error(request, exc.message)
    return render(
        request,
        "dashboard/keys.html",
        {"keys": selectors.api_key_list(scope=scope), "created": created},
    )


@require_POST
@dashboard_view
def revoke_key(request: HttpRequest, key_id: int) -> HttpResponse:
    scope: Scope = request.client_scope  # type: ignore[attr-defined]
    try:
        api_key = selectors.api_key_get(scope=scope, key_id=key_id)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:keys")
    services.api_key_revoke(api_key=api_key)
    messages.success(request, f"Revoked {api_key.display_prefix}. It stopped working immediately.")
    return redirect("dashboard:keys")
