from celery import shared_task
from django.contrib.sessions.models import Session
from django.db import OperationalError
from django.utils import timezone

from omnichannel.jobs import jobs_reap


@shared_task(acks_late=True)
def clear_expired_sessions() -> int:
    """Delete expired login sessions (safe twice: the second run finds none)."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def jobs_reap_task() -> dict[str, int]:
    """Redo or fail background jobs whose worker stopped (safe twice: the second finds none)."""
    return jobs_reap()
