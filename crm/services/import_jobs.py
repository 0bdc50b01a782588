"""Imports started from a page: upload, check (preview), confirm, import in a Celery worker.

Each step is guarded by a conditional UPDATE of the job's status, so a task delivered twice or a
double-clicked confirm does the work once; the check and the import are claimed with a lease
(omnichannel/jobs.py, crm/jobs.py), so a job whose worker died is redone or failed by the reaper.
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
from crm.jobs import IMPORT_CHECK, IMPORT_RUN
from crm.models import ImportJob
from crm.services.imports import ImportResult, import_file_check, import_file_run
from omnichannel.jobs import LeasedStep, LeaseLost, job_claim, job_heartbeat, job_release

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
    """The preview: parse every row, count errors and warnings, keep the first issues.

    Claimed with a lease (crm/jobs.py IMPORT_CHECK); a task delivered twice, or one whose job
    another worker holds, does nothing. Raises LeaseLost if the reaper took the job meanwhile.
    """
    token = job_claim(step=IMPORT_CHECK, job_id=job_id, from_statuses=(Status.PREVIEWING,))
    if not token:
        return  # already checked or being checked: a task delivered twice
    job = ImportJob.objects.get(pk=job_id)
    try:
        with job.file.open("rb") as source, _report_file() as report:
            result = import_file_check(
                source=source,
                filename=job.original_name,
                preset_name=job.preset,
                encoding=job.encoding,
                report=report,
                on_progress=lambda r: _save_progress(IMPORT_CHECK, job_id, token, r),
            )
            _attach_report(job, report, suffix="check")
    except (ImportFileError, HeaderError) as exc:
        _fail(IMPORT_CHECK, job_id, token, str(exc))
        return
    job_release(
        step=IMPORT_CHECK,
        job_id=job_id,
        token=token,
        preview={
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
        },
        rows=result.rows,
        failed=result.failed,
        warnings=result.warnings,
        status=Status.PREVIEWED,
        report=job.report.name,
    )


def import_job_execute(*, job_id: int) -> None:
    """Run a confirmed import, saving progress (and the lease) per batch, the report at the end.

    Claimed with a lease (crm/jobs.py IMPORT_RUN): a queued job, or a running one whose worker
    stopped. Raises LeaseLost if the reaper took the job meanwhile, or what the import raised.
    """
    token = job_claim(
        step=IMPORT_RUN,
        job_id=job_id,
        from_statuses=(Status.QUEUED,),
        started_at=timezone.now(),
        rows=0,
        imported=0,
        failed=0,
        warnings=0,
    )
    if not token:
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
                on_progress=lambda r: _save_progress(IMPORT_RUN, job_id, token, r),
            )
            _attach_report(job, report, suffix="import")
    except LeaseLost:
        raise
    except Exception as exc:
        logger.exception("import %s failed", job_id)
        _fail(IMPORT_RUN, job_id, token, f"{type(exc).__name__}: {exc}")
        raise
    job_release(
        step=IMPORT_RUN,
        job_id=job_id,
        token=token,
        **_progress(result),
        status=Status.REJECTED if result.rejected else Status.DONE,
        finished_at=timezone.now(),
        report=job.report.name,
    )


def _enqueue(step: str, job_id: int) -> None:
    from crm import tasks

    task = tasks.import_job_check_task if step == "check" else tasks.import_job_run_task
    task.delay(job_id)


def _progress(result: ImportResult) -> dict:
    return {
        "rows": result.rows,
        "imported": result.imported,
        "failed": result.failed,
        "warnings": result.warnings,
        "members_created": result.members_created,
        "merges": result.merges,
        "orders_written": result.orders_written,
    }


def _save_progress(step: LeasedStep, job_id: int, token: str, result: ImportResult) -> None:
    # Once per batch: the counters, and the lease pushed forward (the worker is alive).
    job_heartbeat(step=step, job_id=job_id, token=token, **_progress(result))


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


def _fail(step: LeasedStep, job_id: int, token: str, error: str) -> None:
    job_release(
        step=step,
        job_id=job_id,
        token=token,
        status=Status.FAILED,
        error=error,
        finished_at=timezone.now(),
    )
