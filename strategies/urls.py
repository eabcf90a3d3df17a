from __future__ import annotations

from django.urls import path

from strategies import views

app_name = "strategies"

urlpatterns = [
    path("", views.strategy_list, name="list"),
    path("<str:strategy_id>/", views.strategy_detail, name="detail"),
    path("<str:strategy_id>/start/", views.strategy_start, name="start"),
    path("<str:strategy_id>/stop/", views.strategy_stop, name="stop"),
    path("<str:strategy_id>/delete/", views.strategy_delete, name="delete"),
]
