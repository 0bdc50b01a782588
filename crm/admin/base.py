"""crm's configuration of the shared large-table admin tools (omnichannel/admin_tools.py).

Member data is masked for viewers without crm.unmask_personal_data, in the list and in the
exported file; exporting member data needs crm.export_members as well (an admin of a table
without member data sets `export_permission = None`); a list too long for one response becomes
an ExportJob that a Celery worker writes (crm/services/exports.py), shown on its admin page.
"""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from crm.imports import PRESETS
from crm.labels import IMPORT_SOURCE_PREFIX, MANUAL_SOURCE, source_label
from crm.services.exports import export_job_create
from omnichannel import admin_tools
from omnichannel.admin_tools import LargeTablePaginator, choices_filter
from omnichannel.channels import Channel

UNMASK_PERMISSION = "crm.unmask_personal_data"
EXPORT_MEMBERS_PERMISSION = "crm.export_members"
IMPORT_PERMISSION = "crm.import_data"
# Sources the services write: the channels, hand merges, and imports (on consents).
SOURCE_CHOICES = [
    (code, lazy(source_label, str)(code))
    for code in (
        *Channel.values,
        MANUAL_SOURCE,
        *(f"{IMPORT_SOURCE_PREFIX}{name}" for name in PRESETS),
    )
]
SourceFilter = choices_filter("source", _("source"), SOURCE_CHOICES)


@admin.display(description=_("source"), ordering="source")
def source_column(obj) -> str:
    """A list column showing a row's source code as the user reads it."""
    return source_label(obj.source)


class BoundedListAdmin(admin_tools.BoundedListAdmin):
    """A bounded list page of crm: personal data masked without crm.unmask_personal_data."""

    unmask_permission = UNMASK_PERMISSION

    @admin.display(description=_("member"))
    def member_number(self, obj) -> str:
        return obj.member.member_no if obj.member_id else "-"


class BoundedAdmin(admin_tools.StreamingExportMixin, BoundedListAdmin):
    """A bounded list page of crm with the export; a long list is exported by an ExportJob."""

    export_permission: str | None = EXPORT_MEMBERS_PERMISSION

    def export_in_background(
        self,
        request: HttpRequest,
        *,
        queryset,
        resource_class: type,
        fields,
        file_format: str,
        unmask: bool,
        raw: bool,
    ) -> HttpResponse:
        job = export_job_create(
            queryset=queryset,
            resource_class=resource_class,
            fields=fields,
            file_format=file_format,
            unmask=unmask,
            total=LargeTablePaginator(queryset, 1).count,
            actor=request.user,
            raw=raw,
        )
        self.message_user(
            request,
            _("The list is long: a worker is writing the file. It is ready below when done."),
        )
        return redirect("admin:crm_exportjob_change", job.pk)
