"""Background jobs with a lease: one claimer wins, a dead worker's job is redone or failed."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from crm.jobs import EXPORT_RUN, IMPORT_RUN
from crm.models import ExportJob, ImportJob, Member, Order
from crm.services.import_jobs import import_job_execute
from omnichannel.jobs import (
    LeasedStep,
    LeaseLost,
    job_claim,
    job_heartbeat,
    jobs_reap,
    leased_step_register,
)
from omnichannel.tasks import jobs_reap_task
from tests.conftest import wait_for

FIXTURES = Path(__file__).parents[1] / "crm" / "fixtures" / "imports"
LONG_AGO = timedelta(minutes=30)


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def pos_upload() -> SimpleUploadedFile:
    name = "pos_orders.csv"
    return SimpleUploadedFile(name, (FIXTURES / name).read_bytes(), content_type="text/csv")


def import_job(bob, **fields) -> ImportJob:
    return ImportJob.objects.create(
        file=pos_upload(), original_name="pos_orders.csv", preset="pos_orders", created_by=bob,
        **fields,
    )  # fmt: skip


def export_job(bob, **fields) -> ExportJob:
    return ExportJob.objects.create(
        model_label="crm.member",
        resource="crm.resources.MemberListResource",
        file_format="csv",
        query=b"",
        created_by=bob,
        **fields,
    )


def died(job, *, attempts: int = 1) -> None:
    """The job's worker took it and stopped: running, with a lease that ran out long ago."""
    type(job).objects.filter(pk=job.pk).update(
        status="running",
        worker="a-worker-that-died",
        lease_expires_at=timezone.now() - LONG_AGO,
        attempts=attempts,
        finished_at=None,
    )


@pytest.mark.django_db
def test_a_second_claimer_loses_the_race(bob):
    job = import_job(bob, status=ImportJob.Status.QUEUED)

    first = job_claim(step=IMPORT_RUN, job_id=job.pk, from_statuses=("queued",))
    second = job_claim(step=IMPORT_RUN, job_id=job.pk, from_statuses=("queued",))

    assert first and not second
    job.refresh_from_db()
    assert (job.status, job.worker, job.attempts) == ("running", first, 1)
    assert job.lease_expires_at > timezone.now()


@pytest.mark.django_db
def test_a_running_job_whose_lease_expired_can_be_claimed_by_another_worker(bob):
    job = import_job(bob)
    died(job)

    token = job_claim(step=IMPORT_RUN, job_id=job.pk, from_statuses=("queued",))

    assert token
    with pytest.raises(LeaseLost):  # the dead worker, had it only been slow, learns it lost
        job_heartbeat(step=IMPORT_RUN, job_id=job.pk, token="a-worker-that-died", rows=1)


@pytest.mark.django_db
def test_a_live_lease_is_left_alone_by_the_reaper(bob):
    job = import_job(bob, status=ImportJob.Status.QUEUED)
    token = job_claim(step=IMPORT_RUN, job_id=job.pk, from_statuses=("queued",))

    reaped = jobs_reap()

    assert reaped["crm.import.run"] == 0
    job.refresh_from_db()
    assert (job.status, job.worker) == ("running", token)


@pytest.mark.django_db
def test_the_heartbeat_keeps_a_slow_job_from_the_reaper(bob, settings):
    settings.JOB_LEASE_SECONDS = 60
    job = import_job(bob, status=ImportJob.Status.QUEUED)
    token = job_claim(step=IMPORT_RUN, job_id=job.pk, from_statuses=("queued",))
    ImportJob.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - LONG_AGO)

    job_heartbeat(step=IMPORT_RUN, job_id=job.pk, token=token, rows=500)

    assert jobs_reap()["crm.import.run"] == 0
    job.refresh_from_db()
    assert (job.status, job.rows) == ("running", 500)


@pytest.mark.django_db
def test_an_export_whose_worker_died_is_failed_in_the_askers_language(bob):
    english = export_job(bob, language="en")
    chinese = export_job(bob, language="zh-hant")
    died(english)
    died(chinese)

    reaped = jobs_reap()

    assert reaped["crm.export.run"] == 2
    english.refresh_from_db()
    chinese.refresh_from_db()
    assert english.status == chinese.status == ExportJob.Status.FAILED
    assert english.error.startswith("The worker writing this export stopped")
    assert chinese.error.startswith("匯出")
    assert english.finished_at and english.lease_expires_at is None and english.worker == ""
    assert jobs_reap()["crm.export.run"] == 0  # safe twice


@pytest.mark.django_db
def test_an_import_claimed_too_often_is_failed_not_redone(bob, django_capture_on_commit_callbacks):
    job = import_job(bob)
    died(job, attempts=IMPORT_RUN.max_attempts)

    with django_capture_on_commit_callbacks() as sent:
        jobs_reap()

    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert job.error  # the translated reason
    assert not sent  # nothing queued again


def test_a_step_name_is_registered_once():
    clash = LeasedStep(
        name=EXPORT_RUN.name,
        model="crm.ImportJob",
        running_status="running",
        failed_status="failed",
        reason=EXPORT_RUN.reason,
    )

    with pytest.raises(ValueError, match="already registered"):
        leased_step_register(clash)
    leased_step_register(EXPORT_RUN)  # the same step again is harmless


@pytest.mark.django_db
def test_the_reaper_runs_every_five_minutes_in_beat():
    task = PeriodicTask.objects.get(task="omnichannel.tasks.jobs_reap_task")

    assert task.crontab.minute == "*/5"
    assert "JOB_LEASE_SECONDS" in task.description


@pytest.mark.xdist_group("celery-worker")
def test_an_import_whose_worker_died_is_reaped_and_redone_by_a_worker(celery_worker, bob):
    # Given an import that landed its rows and whose worker died before it wrote "done"
    job = import_job(bob, status=ImportJob.Status.QUEUED)
    import_job_execute(job_id=job.pk)
    died(job)
    assert Order.objects.count() == 3

    # When the beat's reaper runs in a real worker
    reaped = jobs_reap_task.apply_async(queue=celery_worker).get(timeout=30)

    # Then it is queued again, a worker imports it again, and the rows land once
    assert reaped["crm.import.run"] == 1
    done = wait_for(lambda: ImportJob.objects.filter(pk=job.pk, status="done").first())
    assert (done.rows, done.imported, done.failed) == (3, 3, 0)
    assert done.worker == "" and done.lease_expires_at is None
    assert Order.objects.count() == 3
    assert Member.objects.count() >= 1
