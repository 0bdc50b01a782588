"""A real Celery worker on the configured broker (Redis in CI, the filesystem one locally)."""

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from omnichannel.celery import app as celery_app
from omnichannel.schedule import SCHEDULE
from omnichannel.tasks import clear_expired_sessions


@pytest.mark.xdist_group("celery-worker")
def test_worker_runs_clear_expired_sessions_once(celery_worker):
    expired = SessionStore()
    expired.create()
    Session.objects.filter(session_key=expired.session_key).update(
        expire_date=timezone.now() - timedelta(days=1)
    )
    live = SessionStore()
    live.create()

    # Generous: under a loaded CI machine the worker may take a while to start polling.
    first = clear_expired_sessions.apply_async(queue=celery_worker).get(timeout=90)
    second = clear_expired_sessions.apply_async(queue=celery_worker).get(timeout=90)

    assert (first, second) == (1, 0)
    assert Session.objects.filter(session_key=live.session_key).exists()


@pytest.mark.django_db
def test_every_scheduled_job_is_in_celery_beat():
    # post_migrate wrote the schedule; a task name that does not exist would never run.
    names = set(PeriodicTask.objects.values_list("task", flat=True))
    celery_app.loader.import_default_modules()

    assert {job.task for job in SCHEDULE} <= names
    assert all(job.task in celery_app.tasks for job in SCHEDULE)
