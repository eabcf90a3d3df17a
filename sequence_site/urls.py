from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from sequence_site.api import api, not_found_view

urlpatterns = [
    path("v1/", api.urls),
    # [\s\S], not `.`: a path with a newline (/v1/%0A) is an unknown endpoint too, not Django's
    # HTML 404 (Django can't reverse a pattern with inline flags such as (?s)).
    re_path(r"^v1/(?P<path>[\s\S]*)\Z", not_found_view),
    # Browsers ask for /favicon.ico whatever the page says; answer with ours instead of a 404.
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.svg"), permanent=True)),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("strategies/", include("strategies.urls")),
    path("algos/", include("algo_studio.urls")),
    path("edges/", include("edges.urls")),
    path("backtests/", include("backtests.urls")),
    path("", include("trading.urls")),
    path("", include("sequence_site.dashboard_urls")),
]
