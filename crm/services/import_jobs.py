"""Imports started from a page: upload, check (preview), confirm, import in a Celery worker.

Each step is guarded by a conditional UPDATE of the job's status, so a task delivered twice or a
double-clicked confirm does the work once.
"""

import logging
import tempfile
from pathlib import Path

from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from crm.imports import ENCODINGS, HeaderError, ImportFileError, get_preset
from crm.imports.readers import AUTO
from crm.models import ImportJob
from crm.services.imports import ImportResult, import_file_check, import_file_run

logger = logging.getLogger(__name__)
Status = ImportJob.Status
ERROR_NOT_CONFIRMABLE = "This import cannot be confirmed now (it is %(status)s)."


class ImportJobError(ValueError):
    pass


def import_job_create(
    *, upload: UploadedFile, preset_name: str, strict: bool, actor, encoding: str = AUTO
) -> ImportJob:
    """Store the upload and queue its check. Raises UnknownPresetError for a bad preset and
    ImportFileError for an unknown encoding."""
    get_preset(preset_name)
    if encoding not in ENCODINGS:
        raise ImportFileError(f"unknown encoding {encoding!r}")
    with transaction.atomic():
        job = ImportJob.objects.create(
            file=upload,
            original_name=Path(upload.name).name,
            preset=preset_name,
            strict=strict,
            encoding=encoding,
            total_bytes=upload.size or 0,
            created_by=actor,
        )
        transaction.on_commit(lambda: _enqueue("check", job.pk))
    return job


def import_job_confirm(*, job: ImportJob, actor) -> None:
    """Queue the import of a checked file. Raises ImportJobError if it is not waiting."""
    with transaction.atomic():
        updated = ImportJob.objects.filter(pk=job.pk, status=Status.PREVIEWED).update(
            status=Status.QUEUED
        )
        if not updated:
            job.refresh_from_db(fields=["status"])
            raise ImportJobError(ERROR_NOT_CONFIRMABLE % {"status": job.get_status_display()})
        transaction.on_commit(lambda: _enqueue("run", job.pk))


def import_job_check(*, job_id: int) -> None:
    """The preview: parse every row, count errors and warnings, keep the first issues."""
    job = ImportJob.objects.get(pk=job_id)
    if job.status != Status.PREVIEWING:
        return  # already checked: a task delivered twice
    try:
        with job.file.open("rb") as source, _report_file() as report:
            result = import_file_check(
                source=source,
                filename=job.original_name,
                preset_name=job.preset,
                encoding=job.encoding,
                report=report,
                on_progress=lambda r: _save_progress(job.pk, r),
            )
            _attach_report(job, report, suffix="check")
    except (ImportFileError, HeaderError) as exc:
        _fail(job, str(exc))
        return
    job.preview = {
        "rows": result.rows,
        "failed": result.failed,
        "warnings": result.warnings,
        "issues": [
            {
                "severity": severity,
                "line": i.line,
                "column": i.column,
                "value": i.value,
                "reason": i.message,
            }
            for severity, i in result.issues
        ],
    }
    job.rows, job.failed, job.warnings = result.rows, result.failed, result.warnings
    job.status = Status.PREVIEWED
    job.save(update_fields=["preview", "rows", "failed", "warnings", "status", "report"])


def import_job_execute(*, job_id: int) -> None:
    """Run a confirmed import, saving progress per batch and the report at the end."""
    started = ImportJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING,
        started_at=timezone.now(),
        rows=0,
        imported=0,
        failed=0,
        warnings=0,
    )
    if not started:
        return  # another worker has it, or it is done
    job = ImportJob.objects.get(pk=job_id)
    try:
        with job.file.open("rb") as source, _report_file() as report:
            result = import_file_run(
                source=source,
                filename=job.original_name,
                preset_name=job.preset,
                encoding=job.encoding,
                strict=job.strict,
                report=report,
                on_progress=lambda r: _save_progress(job_id, r),
            )
            _attach_report(job, report, suffix="import")
    except Exception as exc:
        logger.exception("import %s failed", job_id)
        _fail(job, f"{type(exc).__name__}: {exc}")
        raise
    _save_progress(job_id, result)
    job.status = Status.REJECTED if result.rejected else Status.DONE
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "finished_at", "report"])


def _enqueue(step: str, job_id: int) -> None:
    from crm import tasks

    task = tasks.import_job_check_task if step == "check" else tasks.import_job_run_task
    task.delay(job_id)


def _save_progress(job_id: int, result: ImportResult) -> None:
    ImportJob.objects.filter(pk=job_id).update(
        rows=result.rows,
        imported=result.imported,
        failed=result.failed,
        warnings=result.warnings,
        members_created=result.members_created,
        merges=result.merges,
        orders_written=result.orders_written,
    )


def _report_file():
    return tempfile.NamedTemporaryFile(
        "w+", encoding="utf-8-sig", newline="", suffix=".csv", delete=True
    )


def _attach_report(job: ImportJob, report, *, suffix: str) -> None:
    report.flush()
    stem = Path(job.original_name).stem
    # Reopened as bytes so the UTF-8 BOM that Excel needs for Chinese text is kept.
    with open(report.name, "rb") as raw:
        job.report.save(f"{job.pk}-{stem}-{suffix}-report.csv", File(raw), save=False)


def _fail(job: ImportJob, error: str) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        status=Status.FAILED, error=error, finished_at=timezone.now()
    )
