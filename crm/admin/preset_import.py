"""The admin's "Import a file" button: the file goes to the preset import (an ImportJob)."""

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from crm.admin.base import IMPORT_PERMISSION
from crm.forms import ImportUploadForm
from crm.imports import PRESETS
from crm.models import ImportJob
from crm.services.import_jobs import import_job_create


class PresetImportForm(ImportUploadForm):
    def __init__(self, *args, presets: Iterable[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["preset"].choices = [(name, PRESETS[name].label) for name in presets]


class PresetImportMixin:
    """An "Import a file" button that hands the file to the preset import (an ImportJob).

    The job is the one the Imports page runs: checked in a worker, previewed with its errors and
    warnings, confirmed, imported with live progress, and ending with a report; the admin shows
    the same page for it.
    """

    import_export_change_list_template = "admin/crm/change_list_preset_import.html"
    import_presets: tuple[str, ...] = ()

    def get_urls(self):
        return [
            path(
                "import-file/",
                self.admin_site.admin_view(self.preset_import_view),
                name=f"{self.opts.app_label}_{self.opts.model_name}_import_file",
            ),
            *super().get_urls(),
        ]

    def has_preset_import_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(IMPORT_PERMISSION)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "has_preset_import_permission": self.has_preset_import_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def preset_import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_preset_import_permission(request):
            raise PermissionDenied
        form = PresetImportForm(
            request.POST or None, request.FILES or None, presets=self.import_presets
        )
        if request.method == "POST" and form.is_valid():
            job = import_job_create(
                upload=form.cleaned_data["file"],
                preset_name=form.cleaned_data["preset"],
                strict=form.cleaned_data["strict"],
                encoding=form.cleaned_data["encoding"],
                actor=request.user,
            )
            self.message_user(
                request,
                _("%(file)s is being checked; confirm the import when the preview is ready.")
                % {"file": job.original_name},
            )
            return redirect("imports:job_detail", pk=job.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import a file into %(model)s") % {"model": self.opts.verbose_name_plural},
            "opts": self.opts,
            "form": form,
            "recent_jobs": ImportJob.objects.filter(preset__in=self.import_presets)
            .select_related("created_by")
            .order_by("-pk")[:10],
        }
        return TemplateResponse(request, "admin/crm/preset_import.html", context)
