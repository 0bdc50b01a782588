"""Exports of admin lists through django-import-export resources, at any size.

A small list (up to EXPORT_INLINE_MAX_ROWS) is written straight into the response: CSV row by
row, XLSX through openpyxl's write-only mode. A larger one becomes an ExportJob that a Celery
worker writes to a file, saving its progress; the operator downloads the file when it is done.
Rows come from a server-side cursor in chunks (Resource.iter_queryset), so memory stays flat.
"""

import csv
import json
import logging
import pickle
import tempfile
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import IO

from django.apps import apps
from django.core.files import File
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from crm.models import ExportJob
from omnichannel.audit import audit_record
from omnichannel.models import AuditEvent

logger = logging.getLogger(__name__)
Status = ExportJob.Status

EXPORT_INLINE_MAX_ROWS = 10_000
XLSX_MAX_ROWS = 1_048_575  # an Excel sheet's 1,048,576 rows, less the header
CSV_ROWS_PER_CHUNK = 500
PROGRESS_EVERY_ROWS = 10_000
FORMATS = ("csv", "xlsx")
ERROR_XLSX_TOO_LARGE = _(
    "%(rows)s rows do not fit in an Excel sheet (at most %(max)s): export CSV, or narrow the list."
)
ERROR_UNKNOWN_FORMAT = _("Unknown export format %(format)s; the formats are csv and xlsx.")


class ExportError(ValueError):
    pass


# --- Rows and files ---------------------------------------------------------------------------


class _Echo:
    """A file-like object whose write returns the line, for csv.writer into a generator."""

    def write(self, value: str) -> str:
        return value


def export_rows(resource, queryset: QuerySet, fields: Sequence[str] | None, **kwargs) -> Iterator:
    """Each object of the queryset as the resource's list of column values, streamed."""
    for obj in resource.iter_queryset(resource.filter_export(queryset)):
        yield resource.export_resource(obj, selected_fields=fields or None, **kwargs)


def _csv_lines(resource, queryset: QuerySet, fields: Sequence[str] | None) -> Iterator[str]:
    writer = csv.writer(_Echo())
    # The BOM makes Excel read the Chinese text as UTF-8.
    yield "\ufeff" + writer.writerow(resource.get_export_headers(selected_fields=fields or None))
    for row in export_rows(resource, queryset, fields):
        yield writer.writerow(row)


def export_csv_chunks(resource, queryset: QuerySet, fields: Sequence[str] | None) -> Iterator[str]:
    """The CSV text, header first, in chunks of CSV_ROWS_PER_CHUNK rows."""
    chunk: list[str] = []
    for line in _csv_lines(resource, queryset, fields):
        chunk.append(line)
        if len(chunk) == CSV_ROWS_PER_CHUNK:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


def _xlsx_value(value):
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    if isinstance(value, datetime) and timezone.is_aware(value):
        return timezone.localtime(value).replace(tzinfo=None)  # Excel has no time zones
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def export_xlsx_write(
    resource, queryset: QuerySet, fields: Sequence[str] | None, file: IO[bytes], on_row=None
) -> int:
    """Write an XLSX workbook to `file` (openpyxl write-only: rows go to disk as they come)."""
    from openpyxl import Workbook

    if (rows := queryset[: XLSX_MAX_ROWS + 1].count()) > XLSX_MAX_ROWS:
        raise ExportError(
            str(ERROR_XLSX_TOO_LARGE % {"rows": f"{rows - 1:,}+", "max": f"{XLSX_MAX_ROWS:,}"})
        )
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(resource.get_export_headers(selected_fields=fields or None))
    rows = 0
    for row in export_rows(resource, queryset, fields, force_native_type=True):
        rows += 1
        sheet.append([_xlsx_value(value) for value in row])
        if on_row:
            on_row(rows)
    workbook.save(file)
    return rows


# --- Jobs -------------------------------------------------------------------------------------


def export_audit_record(
    *, actor, model_label: str, file_format: str, unmask: bool, rows: int | None, object_id=""
) -> None:
    """The audit event of an export (queued, or streamed at once by the admin)."""
    count = f"{rows} rows" if rows is not None else "rows"
    audit_record(
        action=AuditEvent.Action.EXPORT,
        actor=actor,
        object_type=model_label,
        object_id=object_id,
        summary=f"{model_label}: {count} as {file_format.upper()}"
        + (" with personal data" if unmask else ", masked"),
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
    """Write a queued export's file, saving the rows written every PROGRESS_EVERY_ROWS."""
    started = ExportJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=timezone.now(), rows=0
    )
    if not started:
        return  # another worker has it, or it is done: a task delivered twice
    job = ExportJob.objects.get(pk=job_id)
    queryset = apps.get_model(job.model_label).objects.all()
    queryset.query = pickle.loads(job.query)  # noqa: S301 (written by export_job_create only)
    resource = import_string(job.resource)(unmask=job.unmask)

    def progress(rows: int) -> None:
        if rows % PROGRESS_EVERY_ROWS == 0:
            ExportJob.objects.filter(pk=job_id).update(rows=rows)

    try:
        with tempfile.TemporaryFile() as file:
            if job.file_format == "xlsx":
                rows = export_xlsx_write(resource, queryset, job.fields, file, on_row=progress)
            else:
                rows = _write_csv(resource, queryset, job.fields, file, on_row=progress)
            file.seek(0)
            name = f"{job.model_label.split('.')[-1]}-{timezone.localdate():%Y-%m-%d}-{job.pk}"
            job.file.save(f"{name}.{job.file_format}", File(file), save=False)
    except ExportError as exc:
        _fail(job_id, str(exc))
        return
    except Exception as exc:
        logger.exception("export %s failed", job_id)
        _fail(job_id, f"{type(exc).__name__}: {exc}")
        raise
    job.rows, job.status, job.finished_at = rows, Status.DONE, timezone.now()
    job.save(update_fields=["file", "rows", "status", "finished_at"])


def _write_csv(resource, queryset, fields, file: IO[bytes], *, on_row) -> int:
    lines = _csv_lines(resource, queryset, fields)
    file.write(next(lines).encode("utf-8"))
    rows = 0
    for rows, line in enumerate(lines, 1):
        file.write(line.encode("utf-8"))
        on_row(rows)
    return rows


def _enqueue(job_id: int) -> None:
    from crm import tasks

    tasks.export_job_run_task.delay(job_id)


def _fail(job_id: int, error: str) -> None:
    ExportJob.objects.filter(pk=job_id).update(
        status=Status.FAILED, error=error, finished_at=timezone.now()
    )
