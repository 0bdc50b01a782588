"""Thin Celery tasks (STYLE.md 7): ids in, one service call, safe twice and two at once."""

from celery import shared_task
from django.db import OperationalError

from loyalty.models import TierChange
from loyalty.services import expiry, tiers

RETRY = {"acks_late": True, "autoretry_for": (OperationalError,), "retry_backoff": True}


@shared_task(max_retries=3, **RETRY)
def points_expire_task() -> int:
    return expiry.points_expire()


@shared_task(max_retries=3, **RETRY)
def tiers_nightly_task() -> int:
    return tiers.tiers_evaluate_all(trigger=TierChange.Reason.NIGHTLY)


@shared_task(max_retries=3, **RETRY)
def tiers_consume_task() -> int:
    return tiers.tiers_consume()


@shared_task(max_retries=3, **RETRY)
def tiers_rules_task(actor_id: int | None = None) -> int:
    return tiers.tiers_evaluate_all(trigger=TierChange.Reason.RULES, actor_id=actor_id)
