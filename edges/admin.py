from __future__ import annotations

from django.contrib import admin

from edges.models import Edge


@admin.register(Edge)
class EdgeAdmin(admin.ModelAdmin):
    list_display = ("edge_id", "venue", "is_sandbox", "algo_capable", "host", "pid", "last_heartbeat")
    list_filter = ("is_sandbox", "venue")
