from __future__ import annotations

from django.urls import path

from edges import views

app_name = "edges"

urlpatterns = [
    path("", views.edge_registry, name="list"),
    path("live/", views.edge_registry_live, name="list_live"),
]
