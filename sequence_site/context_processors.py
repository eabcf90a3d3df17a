from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

# The navigation of the dashboard. An entry shows only once its page exists: a section whose issue
# has not landed yet is absent rather than a link to nowhere.
NAVIGATION = [
    ("Algo Studio", "algo_studio:algos"),
    ("Deployments", "algo_studio:deployments"),
    ("Strategies", "strategies:list"),
    ("Backtests", "backtests:list"),
    ("Edges", "edges:list"),
    ("Venues", "trading:venues"),
    ("API keys", "dashboard:keys"),
]


def _nav(request: HttpRequest) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for label, name in NAVIGATION:
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        items.append({"label": label, "url": url, "active": False})
    # The longest matching prefix is the current section (/algos/deployments/ is Deployments,
    # not Algo Studio as well).
    matches = [item for item in items if request.path.startswith(item["url"])]
    if matches:
        max(matches, key=lambda item: len(item["url"]))["active"] = True
    return items


def dashboard(request: HttpRequest) -> dict[str, Any]:
    scope = getattr(request, "client_scope", None)
    return {"scope": scope, "nav": _nav(request) if scope is not None else []}
