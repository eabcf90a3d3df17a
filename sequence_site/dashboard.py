"""Helpers shared by every app's dashboard views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.middleware import HtmxDetails


class HtmxRequest(HttpRequest):
    """The request type of a dashboard view: django-htmx's middleware sets ``htmx`` on every request
    (its documented typing pattern); falsy unless the request came from htmx."""

    htmx: HtmxDetails


def dashboard_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login required, and the user must act as a client: the view gets ``request.client_scope``."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if getattr(request, "client_scope", None) is None:
            return render(request, "no_client.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper
