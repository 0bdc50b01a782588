"""Idempotency-Key records go a day after their call: the task, its batches, its schedule."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from crm.models import IdempotencyRecord
from crm.services.api_keys import IDEMPOTENCY_TTL, api_key_create, idempotency_records_purge
from crm.tasks import idempotency_records_purge_task
from omnichannel.schedule import SCHEDULE

PURGE_TASK = "crm.tasks.idempotency_records_purge_task"


def _records(alice, *, old: int, fresh: int) -> tuple[list[int], list[int]]:
    api_key, _key = api_key_create(name="POS", channel="store", actor=alice)
    now = timezone.now()

    def make(prefix: str, count: int, age: timedelta) -> list[int]:
        return [
            IdempotencyRecord.objects.create(
                api_key=api_key, key=f"{prefix}-{i}", request_hash="0" * 64, created_at=now - age
            ).pk
            for i in range(count)
        ]

    return (
        make("old", old, IDEMPOTENCY_TTL + timedelta(minutes=5)),
        make("fresh", fresh, IDEMPOTENCY_TTL - timedelta(minutes=5)),
    )


@pytest.mark.xdist_group("celery-worker")
def test_worker_purges_old_records_and_keeps_fresh_ones(celery_worker, alice):
    old, fresh = _records(alice, old=3, fresh=2)

    first = idempotency_records_purge_task.apply_async(queue=celery_worker).get(timeout=30)
    second = idempotency_records_purge_task.apply_async(queue=celery_worker).get(timeout=30)

    assert (first, second) == (3, 0)
    assert not IdempotencyRecord.objects.filter(pk__in=old).exists()
    assert sorted(IdempotencyRecord.objects.values_list("pk", flat=True)) == sorted(fresh)


@pytest.mark.django_db
def test_purge_deletes_in_batches_until_none_is_left(alice):
    _old, fresh = _records(alice, old=5, fresh=1)

    assert idempotency_records_purge(batch_size=2) == 5
    assert list(IdempotencyRecord.objects.values_list("pk", flat=True)) == fresh


@pytest.mark.django_db
def test_purge_is_scheduled_in_celery_beat():
    # post_migrate wrote SCHEDULE to django-celery-beat's table.
    job = next(job for job in SCHEDULE if job.task == PURGE_TASK)
    periodic = PeriodicTask.objects.get(name=job.name)

    assert periodic.task == PURGE_TASK
    assert periodic.enabled
    assert (periodic.crontab.minute, periodic.crontab.hour) == (job.minute, job.hour)
