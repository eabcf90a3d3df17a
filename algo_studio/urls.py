from __future__ import annotations

from django.urls import path

from algo_studio import views

app_name = "algo_studio"

urlpatterns = [
    path("", views.algos, name="algos"),
    path("live/", views.algos_live, name="algos_live"),
    path("upload/", views.upload, name="upload"),
    path("deployments/", views.deployments, name="deployments"),
    path("deployments/live/", views.deployments_live, name="deployments_live"),
    path("deployments/<str:deployment_id>/", views.deployment_detail, name="deployment"),
    path("deployments/<str:deployment_id>/live/", views.deployment_live, name="deployment_live"),
    path("deployments/<str:deployment_id>/start/", views.deployment_start, name="start"),
    path("deployments/<str:deployment_id>/stop/", views.deployment_stop, name="stop"),
    path("deployments/<str:deployment_id>/delete/", views.deployment_delete, name="delete"),
    path("deployments/<str:deployment_id>/rename/", views.deployment_rename, name="rename"),
    path("deployments/<str:deployment_id>/traces/", views.deployment_traces, name="traces"),
    path("deployments/<str:deployment_id>/history/", views.deployment_history, name="history"),
    path("deployments/<str:deployment_id>/metrics.json", views.deployment_metrics, name="metrics"),
]
