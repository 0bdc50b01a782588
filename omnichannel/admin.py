from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from omnichannel.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail is written by the services, never by hand."""

    list_display = (
        "at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "summary_shown",
        "with_personal_data",
    )
    list_filter = ("action", "with_personal_data")
    list_select_related = ("actor",)
    ordering = ("-at", "-pk")
    date_hierarchy = None
    show_full_result_count = False
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    @admin.display(description=_("summary"))
    def summary_shown(self, event: AuditEvent) -> str:
        return event.summary_text

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("omnichannel.read_audit")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
