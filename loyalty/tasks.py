"""Thin Celery tasks of loyalty (STYLE.md 7): ids in, one service call, safe twice.

Each part of issue 12 appends its own tasks at the end.
"""

from celery import shared_task
from django.db import OperationalError

from loyalty.services import rewards, till


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def coupons_expire_task() -> int:
    """Nightly (omnichannel/schedule.py): unused coupons past their expiry become expired."""
    return rewards.coupons_expire()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def holds_expire_task() -> int:
    """Beat, every minute: open holds past their time give their points back (one UPDATE)."""
    return till.holds_expire()
