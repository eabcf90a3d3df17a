from __future__ import annotations

from django.urls import path

from sequence_site import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    path("mode/", views.switch_mode, name="switch_mode"),
    path("keys/", views.keys, name="keys"),
    path("keys/<int:key_id>/revoke/", views.revoke_key, name="revoke_key"),
]
