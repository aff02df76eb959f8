"""The admin of the read side: the export audit log, read-only (nobody adds, edits or deletes it).

HR reads it there as on /hr/exports/log/: being HR (surveys.selectors.user_is_hr) is the right
to read it, not a model permission the HR group would have to be given by hand."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from surveys.selectors import user_is_hr

from .models import ExportAudit


@admin.register(ExportAudit)
class ExportAuditAdmin(admin.ModelAdmin):
    list_display = ["started_at", "username", "channel", "format", "rows", "finished"]
    list_filter = ["channel", "format", "finished"]
    search_fields = ["username"]
    date_hierarchy = "started_at"
    fields = ["started_at", "finished_at", "user", "username", "channel", "format", "filters", "rows", "finished"]
    readonly_fields = fields

    def has_module_permission(self, request: HttpRequest) -> bool:
        return user_is_hr(request.user) or super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: ExportAudit | None = None) -> bool:
        return user_is_hr(request.user) or super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ExportAudit | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ExportAudit | None = None) -> bool:
        return False
