from __future__ import annotations

from django.contrib import admin

from sequence_site.models import ApiKey, Client, ClientMember


class ClientMemberInline(admin.TabularInline):
    model = ClientMember
    extra = 1


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ("name", "short_code", "created_at")
    search_fields = ("name", "short_code")
    inlines = [ClientMemberInline]


@admin.register(ClientMember)
class ClientMemberAdmin(admin.ModelAdmin):
    list_display = ("user", "client")
    autocomplete_fields = ("client",)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created with `create_api_key` or on the dashboard (shown once there); the admin
    only lists and revokes. The digest is never shown."""

    list_display = (
        "display_prefix",
        "client",
        "is_sandbox",
        "name",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("is_sandbox",)
    search_fields = ("name", "lookup_id", "client__name")
    fields = ("client", "is_sandbox", "name", "lookup_id", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("client", "is_sandbox", "lookup_id", "created_at", "last_used_at")

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False
