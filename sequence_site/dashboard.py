"""Helpers shared by every app's dashboard views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def dashboard_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login required, and the user must act as a client: the view gets ``request.client_scope``."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if getattr(request, "client_scope", None) is None:
            return render(request, "no_client.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper
