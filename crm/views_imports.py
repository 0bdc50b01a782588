"""The import pages: upload, preview, confirm, live progress, report."""

from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.forms import ImportUploadForm
from crm.models import ImportJob
from crm.services.import_jobs import ImportJobError, import_job_confirm, import_job_create
from omnichannel.htmx import htmx_partial
from omnichannel.http import HtmxHttpRequest
from omnichannel.permissions import permission_required

RECENT_JOBS = 20


@require_http_methods(["GET", "POST"])
@permission_required("crm.import_data", raise_exception=True)
def job_list(request: HtmxHttpRequest) -> HttpResponse:
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        job = import_job_create(
            upload=form.cleaned_data["file"],
            preset_name=form.cleaned_data["preset"],
            strict=form.cleaned_data["strict"],
            encoding=form.cleaned_data["encoding"],
            actor=request.user,
        )
        return redirect("imports:job_detail", pk=job.pk)
    jobs = ImportJob.objects.select_related("created_by")[:RECENT_JOBS]
    return render(request, "crm/imports.html", {"form": form, "jobs": jobs})


@require_GET
@permission_required("crm.import_data", raise_exception=True)
def job_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    template = htmx_partial(request, "crm/import_detail.html", "job-status")
    return render(request, template, {"job": job})


@require_POST
@permission_required("crm.import_data", raise_exception=True)
def job_confirm(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    try:
        import_job_confirm(job=job, actor=request.user)
    except ImportJobError as exc:
        messages.error(request, str(exc))
    return redirect("imports:job_detail", pk=job.pk)


@require_GET
@permission_required("crm.import_data", raise_exception=True)
def job_report(request: HtmxHttpRequest, pk: int) -> FileResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    if not job.report:
        raise Http404("no report yet")
    return FileResponse(
        job.report.open("rb"),
        as_attachment=True,
        filename=job.report.name.rsplit("/", 1)[-1],
        content_type="text/csv; charset=utf-8",
    )
