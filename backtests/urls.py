from __future__ import annotations

from django.urls import path

from backtests import views

app_name = "backtests"

urlpatterns = [
    path("", views.backtest_list, name="list"),
    path("<str:job_id>/", views.backtest_detail, name="detail"),
    path("<str:job_id>/cancel/", views.backtest_cancel, name="cancel"),
]
