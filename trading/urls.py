from __future__ import annotations

from django.urls import path

from trading import views

app_name = "trading"

urlpatterns = [
    path("venues/", views.venues, name="venues"),
    path("venues/<str:venue>/connect/", views.venue_connect, name="venue_connect"),
    path("venues/<str:venue>/disconnect/", views.venue_disconnect, name="venue_disconnect"),
    path("venues/<str:venue>/limits/", views.venue_limits, name="venue_limits"),
    path("kill/", views.kill, name="kill"),
]
