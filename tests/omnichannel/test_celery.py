"""A real Celery worker on the configured broker (Redis in CI, the filesystem one locally)."""

import uuid
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from omnichannel.celery import app as celery_app
from omnichannel.schedule import SCHEDULE
from omnichannel.tasks import clear_expired_sessions


@pytest.fixture
def celery_queue(transactional_db):
    """A real worker on the project's broker, consuming a queue of its own.

    Its own queue, so a worker from `make run` on the same broker cannot take the test's tasks.
    """
    queue = f"test-{uuid.uuid4().hex[:12]}"
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10, queues=[queue]
    ):
        yield queue


@pytest.mark.xdist_group("celery-worker")
def test_worker_runs_clear_expired_sessions_once(celery_queue):
    expired = SessionStore()
    expired.create()
    Session.objects.filter(session_key=expired.session_key).update(
        expire_date=timezone.now() - timedelta(days=1)
    )
    live = SessionStore()
    live.create()

    first = clear_expired_sessions.apply_async(queue=celery_queue).get(timeout=30)
    second = clear_expired_sessions.apply_async(queue=celery_queue).get(timeout=30)

    assert (first, second) == (1, 0)
    assert Session.objects.filter(session_key=live.session_key).exists()


@pytest.mark.django_db
def test_every_scheduled_job_is_in_celery_beat():
    # post_migrate wrote the schedule; a task name that does not exist would never run.
    names = set(PeriodicTask.objects.values_list("task", flat=True))
    celery_app.loader.import_default_modules()

    assert {job.task for job in SCHEDULE} <= names
    assert all(job.task in celery_app.tasks for job in SCHEDULE)
