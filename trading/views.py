"""Dashboard pages of live trading: the Venues page (connect, disconnect, risk limits) and the kill
switch. Thin like the API's router (trading/api_live.py): they call the same services
(trading.credentials, trading.risk, trading.services.kill_switch), which also refuse a sandbox
session with the same words as a sandbox key. Credentials typed here are posted once, passed to
`venue_connect` and never put back into a page: every POST redirects (or renders a result that
holds none)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from sequence_site.dashboard import dashboard_view
from sequence_site.errors import DomainError
from sequence_site.scope import Scope
from trading import credentials, risk, services

#: Where each venue shows the fields, for the connect forms (what a person looks for).
WHERE = {
    "kraken": "Kraken → Settings → API: the key and its private key (base64), with permission to query "
    "funds, query open and closed orders and trades, create and modify orders, and cancel orders.",
    "coinbase": "Coinbase Developer Platform → API keys, an ECDSA (ES256) key: its name "
    "(organizations/…/apiKeys/…) and its private key (the PEM, line breaks or not).",
    "kalshi": "Kalshi → Account → API keys: the key id and the RSA private key (PEM) it let you download.",
    "polymarket": "The wallet's private key (0x…) signs orders; the L2 API key, secret and passphrase "
    "(from create-or-derive API credentials) sign requests.",
}


class LimitsForm(forms.Form):
    """Blank: the deployment's default. The service checks ranges and units."""

    max_order_notional = forms.DecimalField(required=False, decimal_places=2, max_digits=15)
    max_position_notional = forms.DecimalField(required=False, decimal_places=2, max_digits=15)
    max_open_orders = forms.IntegerField(required=False)
    max_orders_per_second = forms.IntegerField(required=False)
    daily_loss_limit = forms.DecimalField(required=False, decimal_places=2, max_digits=15)


def _scope(request: HttpRequest) -> Scope:
    return request.client_scope  # type: ignore[attr-defined,no-any-return]


def _venues_context(scope: Scope) -> dict[str, Any]:
    fields = credentials.venue_fields()
    try:
        rows = {c.venue: c for c in credentials.venue_connection_list(scope=scope)}
    except credentials.LiveKeyRequired as exc:
        # A sandbox session: the services' own refusal says why, and nothing of the live world shows.
        return {"refused": exc.message, "venues": [{"name": v, **info} for v, info in fields.items()]}
    defaults = risk.defaults()
    venues = []
    for name, info in fields.items():
        limits = risk.venue_limits_get(scope=scope, venue=name)
        venues.append(
            {
                "name": name,
                **info,
                "where": WHERE.get(name, ""),
                "connection": rows.get(name),
                # Connecting works either way; say so when this server does not send orders there yet.
                "orders_enabled": services.live_connector_configured(name),
                "rules": [
                    {
                        "name": rule,
                        "value": limits["limits"][rule],
                        "custom": rule in limits["custom"],
                        "default": defaults[rule],
                    }
                    for rule in risk.RULES
                ],
            }
        )
    return {"refused": None, "venues": venues, "connected": [v for v in venues if v["connection"]]}


@dashboard_view
def venues(request: HttpRequest) -> HttpResponse:
    return render(request, "trading/venues.html", _venues_context(_scope(request)))


@require_POST
@dashboard_view
def venue_connect(request: HttpRequest, venue: str) -> HttpResponse:
    fields = credentials.venue_fields().get(venue, {}).get("fields", [])
    typed = {name: request.POST.get(name, "") for name in fields}
    try:
        done = credentials.venue_connect(
            scope=_scope(request), venue=venue, credentials=typed, label=request.POST.get("label", "")
        )
    except DomainError as exc:
        messages.error(request, f"Not connected: {exc.message}")
    else:
        messages.success(
            request,
            f"Connected {venue}: the venue accepted the credentials ({len(done.balances)} balance(s) "
            "read) and they are stored sealed. They are never shown again.",
        )
    return redirect("trading:venues")


@require_POST
@dashboard_view
def venue_disconnect(request: HttpRequest, venue: str) -> HttpResponse:
    try:
        credentials.venue_disconnect(scope=_scope(request), venue=venue)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Disconnected {venue}: its credentials are deleted.")
    return redirect("trading:venues")


@require_POST
@dashboard_view
def venue_limits(request: HttpRequest, venue: str) -> HttpResponse:
    form = LimitsForm(request.POST)
    if not form.is_valid():
        wrong = "; ".join(f"{name}: {' '.join(str(e) for e in errs)}" for name, errs in form.errors.items())
        messages.error(request, f"Limits not changed: {wrong}")
        return redirect("trading:venues")
    try:
        risk.venue_limits_set(scope=_scope(request), venue=venue, changes=dict(form.cleaned_data))
    except DomainError as exc:
        messages.error(request, f"Limits not changed: {exc.message}")
    else:
        messages.success(request, f"Risk limits at {venue} saved.")
    return redirect(f"{reverse('trading:venues')}#limits-{venue}")


@require_http_methods(["GET", "POST"])
@dashboard_view
def kill(request: HttpRequest) -> HttpResponse:
    """GET: the confirm step (what the switch will do). POST: pull it, and show what it did."""
    scope = _scope(request)
    if request.method != "POST":
        return render(request, "trading/kill.html", {"result": None})
    result = services.kill_switch(scope=scope)
    return render(request, "trading/kill.html", {"result": result})
