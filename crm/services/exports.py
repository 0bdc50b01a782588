"""Exports of admin lists through django-import-export resources, at any size.

A small list (up to EXPORT_INLINE_MAX_ROWS) is written straight into the response: CSV row by
row, XLSX through openpyxl's write-only mode (the writers, the formula guard and the resource
helpers are shared: omnichannel/exports.py). A larger one becomes an ExportJob that a Celery
worker writes to a file, saving its progress; the operator downloads the file when it is done.
Rows come from a server-side cursor in chunks (Resource.iter_queryset), so memory stays flat.
"""

import logging
import pickle
import tempfile
from collections.abc import Sequence

from django.apps import apps
from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from crm.jobs import EXPORT_RUN
from crm.models import ExportJob
from omnichannel.audit import audit_record
from omnichannel.exports import (
    ExportError,
    csv_write,
    export_rows,
    export_xlsx_write,
    resource_headers,
)
from omnichannel.jobs import LeaseLost, job_claim, job_heartbeat, job_release
from omnichannel.models import AuditEvent

logger = logging.getLogger(__name__)
Status = ExportJob.Status

EXPORT_INLINE_MAX_ROWS = 10_000
PROGRESS_EVERY_ROWS = 10_000
FORMATS = ("csv", "xlsx")
ERROR_UNKNOWN_FORMAT = _("Unknown export format %(format)s; the formats are csv and xlsx.")
AUDIT_EXPORT_MASKED = gettext_noop("%(model)s: %(rows)s rows as %(format)s, masked")
AUDIT_EXPORT_UNMASKED = gettext_noop("%(model)s: %(rows)s rows as %(format)s, with personal data")
AUDIT_EXPORT_QUEUED_MASKED = gettext_noop("%(model)s as %(format)s, masked")
AUDIT_EXPORT_QUEUED_UNMASKED = gettext_noop("%(model)s as %(format)s, with personal data")
# --- Jobs -------------------------------------------------------------------------------------


def export_audit_record(
    *, actor, model_label: str, file_format: str, unmask: bool, rows: int | None, object_id=""
) -> None:
    """The audit event of an export (queued, or streamed at once by the admin)."""
    if rows is None:
        summary = AUDIT_EXPORT_QUEUED_UNMASKED if unmask else AUDIT_EXPORT_QUEUED_MASKED
    else:
        summary = AUDIT_EXPORT_UNMASKED if unmask else AUDIT_EXPORT_MASKED
    audit_record(
        action=AuditEvent.Action.EXPORT,
        actor=actor,
        object_type=model_label,
        object_id=object_id,
        summary=summary,
        summary_params={"model": model_label, "rows": rows, "format": file_format.upper()},
        with_personal_data=unmask,
    )


def export_job_create(
    *,
    queryset: QuerySet,
    resource_class: type,
    fields: Sequence[str] | None,
    file_format: str,
    unmask: bool,
    total: int,
    actor,
    raw: bool = False,
) -> ExportJob:
    """Queue the export of a list too big for one response. Raises ExportError for a bad format."""
    if file_format not in FORMATS:
        raise ExportError(str(ERROR_UNKNOWN_FORMAT % {"format": file_format}))
    with transaction.atomic():
        job = ExportJob.objects.create(
            model_label=queryset.model._meta.label_lower,
            resource=f"{resource_class.__module__}.{resource_class.__qualname__}",
            fields=list(fields or ()),
            file_format=file_format,
            query=pickle.dumps(queryset.query),
            unmask=unmask,
            raw=raw,
            # The asker's language now: the worker writes headers and labels in it.
            language=translation.get_language() or settings.LANGUAGE_CODE,
            total=total,
            created_by=actor,
        )
        export_audit_record(
            actor=actor,
            model_label=job.model_label,
            file_format=file_format,
            unmask=unmask,
            rows=total,
            object_id=job.pk,
        )
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def export_job_run(*, job_id: int) -> None:
    """Write a queued export's file, saving the rows written (and the lease) every
    PROGRESS_EVERY_ROWS. Claimed with a lease (crm/jobs.py EXPORT_RUN): a task delivered twice
    does nothing. Raises LeaseLost if the reaper failed the job meanwhile."""
    token = job_claim(
        step=EXPORT_RUN,
        job_id=job_id,
        from_statuses=(Status.QUEUED,),
        started_at=timezone.now(),
        rows=0,
    )
    if not token:
        return  # another worker has it, or it is done: a task delivered twice
    job = ExportJob.objects.get(pk=job_id)
    queryset = apps.get_model(job.model_label).objects.all()
    queryset.query = pickle.loads(job.query)  # noqa: S301 (written by export_job_create only)
    resource = import_string(job.resource)(unmask=job.unmask, raw=job.raw)

    def progress(rows: int) -> None:
        if rows % PROGRESS_EVERY_ROWS == 0:
            job_heartbeat(step=EXPORT_RUN, job_id=job_id, token=token, rows=rows)

    try:
        with tempfile.TemporaryFile() as file, translation.override(job.language or None):
            if job.file_format == "xlsx":
                rows = export_xlsx_write(resource, queryset, job.fields, file, on_row=progress)
            else:
                headers, lines = (
                    resource_headers(resource, job.fields),
                    export_rows(resource, queryset, job.fields),
                )
                rows = csv_write(headers, lines, file, raw=job.raw, on_row=progress)
            file.seek(0)
            name = f"{job.model_label.split('.')[-1]}-{timezone.localdate():%Y-%m-%d}-{job.pk}"
            job.file.save(f"{name}.{job.file_format}", File(file), save=False)
    except ExportError as exc:
        _fail(job_id, token, str(exc))
        return
    except LeaseLost:
        raise
    except Exception as exc:
        logger.exception("export %s failed", job_id)
        _fail(job_id, token, f"{type(exc).__name__}: {exc}")
        raise
    job_release(
        step=EXPORT_RUN,
        job_id=job_id,
        token=token,
        file=job.file.name,
        rows=rows,
        status=Status.DONE,
        finished_at=timezone.now(),
    )


def _enqueue(job_id: int) -> None:
    from crm import tasks

    tasks.export_job_run_task.delay(job_id)


def _fail(job_id: int, token: str, error: str) -> None:
    job_release(
        step=EXPORT_RUN,
        job_id=job_id,
        token=token,
        status=Status.FAILED,
        error=error,
        finished_at=timezone.now(),
    )
