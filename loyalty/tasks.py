"""Thin Celery tasks (STYLE.md 7): ids in, one service call, safe twice."""

from celery import shared_task
from django.db import OperationalError

from loyalty.services import rewards


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def coupons_expire_task() -> int:
    """Nightly (omnichannel/schedule.py): unused coupons past their expiry become expired."""
    return rewards.coupons_expire()
