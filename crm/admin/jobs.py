"""Imports and exports that ran in the background (ImportJob, ExportJob)."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from crm import resources
from crm.admin.base import BoundedAdmin, BoundedListAdmin
from crm.imports import PRESETS
from crm.models import ExportJob, ImportJob
from omnichannel.admin_tools import choices_filter


@admin.register(ImportJob)
class ImportJobAdmin(BoundedAdmin):
    """Every import, from the Imports page, the admin or anyone's upload; opened on its page."""

    bulk_delete = True
    resource_classes = (resources.ImportJobResource,)
    export_permission = None
    list_display = (
        "original_name",
        "preset",
        "status",
        "rows",
        "imported",
        "failed",
        "warnings",
        "created_by",
        "created_at",
        "job_page",
    )
    list_filter = (
        "status",
        choices_filter("preset", _("preset"), [(n, p.label) for n, p in PRESETS.items()]),
        ("created_at", admin.DateFieldListFilter),
    )
    list_select_related = ("created_by",)
    search_fields = ("original_name",)
    ordering = ("-pk",)
    fields = (
        "original_name",
        "preset",
        "strict",
        "status",
        "rows",
        "imported",
        "failed",
        "warnings",
        "members_created",
        "merges",
        "orders_written",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "job_page",
    )
    readonly_fields = fields

    @admin.display(description=_("preview, progress and report"))
    def job_page(self, job: ImportJob) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("imports:job_detail", args=[job.pk]), _("Open")
        )

    def has_add_permission(self, request) -> bool:
        return False  # files come in through "Import a file" on members and orders

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ExportJob)
class ExportJobAdmin(BoundedListAdmin):
    """Exports too long for one response: their progress, and the file for whoever asked."""

    bulk_delete = True
    list_display = (
        "__str__",
        "file_format",
        "status",
        "rows",
        "total",
        "created_by",
        "created_at",
        "finished_at",
    )
    list_filter = (
        "status",
        choices_filter("file_format", _("format"), [("csv", "CSV"), ("xlsx", "XLSX")]),
        ("created_at", admin.DateFieldListFilter),
    )
    list_select_related = ("created_by",)
    search_fields = ("=model_label",)
    ordering = ("-pk",)
    fields = (
        "model_label",
        "file_format",
        "unmask",
        "status",
        "rows",
        "total",
        "error",
        "created_by",
        "created_at",
        "finished_at",
    )
    readonly_fields = fields
    change_form_template = "admin/crm/exportjob/change_form.html"

    def get_queryset(self, request):
        # The file holds what its asker could see (unmasked or not): only they fetch it.
        queryset = super().get_queryset(request).defer("query")
        return queryset if request.user.is_superuser else queryset.filter(created_by=request.user)

    def get_urls(self):
        return [
            path(
                "<int:pk>/download/",
                self.admin_site.admin_view(self.download_view),
                name="crm_exportjob_download",
            ),
            *super().get_urls(),
        ]

    def download_view(self, request: HttpRequest, pk: int) -> FileResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(self.get_queryset(request), pk=pk, status=ExportJob.Status.DONE)
        return FileResponse(
            job.file.open("rb"), as_attachment=True, filename=job.file.name.rsplit("/", 1)[-1]
        )

    def has_add_permission(self, request) -> bool:
        return False  # made by the Export button of a long list

    def has_change_permission(self, request, obj=None) -> bool:
        return False
