"""Thin Celery tasks of loyalty (STYLE.md 7): ids in, one service call, safe twice.

Each part of issue 12 appends its own tasks at the end.
"""

from celery import current_app, shared_task
from django.core.cache import cache
from django.db import OperationalError
from django.utils import timezone

from loyalty.models import LoyaltyJob, TierChange
from loyalty.services import (
    birthday,
    earning,
    expiry,
    jobs,
    points_reminder,
    rewards,
    tiers,
    till,
    wallet_push,
)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def coupons_expire_task() -> int:
    """Nightly (omnichannel/schedule.py): unused coupons past their expiry become expired."""
    return rewards.coupons_expire()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def holds_expire_task() -> int:
    """Beat, every minute: open holds past their time give their points back (one UPDATE)."""
    return till.holds_expire()


# How long a queued drain keeps others from queueing (the coalescing window). A drain that was
# lost frees the key after this; the beat job runs the consumer every minute regardless.
EARN_DRAIN_QUEUED_SECONDS = 60


def _earn_queued_key() -> str:
    # One per queue: test runs (or deployments) sharing a cache but not a queue stay apart.
    return f"loyalty:earn-drain-queued:{current_app.conf.task_default_queue}"


def earn_drain_request(**kwargs) -> bool:
    """Receiver of crm's order_changes_written: queue one drain of the earning consumer unless
    one is queued and not started yet (an import's thousand batches queue one or two drains,
    not a thousand). Returns whether it queued one."""
    if not cache.add(_earn_queued_key(), 1, timeout=EARN_DRAIN_QUEUED_SECONDS):
        return False
    earn_drain_task.delay()
    return True


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def earn_drain_task() -> int:
    """Earn on every order change waiting in the feed (beat runs it every minute; crm's signal
    queues it after orders are written). Two at once are safe: the second skips the batch the
    first holds."""
    # Free the key first: changes committed while this drain runs queue the next one.
    cache.delete(_earn_queued_key())
    return earning.earn_consume()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def points_expire_task() -> int:
    """Nightly: what the FIFO rule says expired by today becomes EXPIRE entries (once a day).
    Logged as a job run (the loyalty page's Jobs tab)."""
    run = jobs.loyalty_job_logged(
        job=LoyaltyJob.EXPIRY, period=_today(), work=lambda: expiry.points_expire()
    )
    return run.counts.get("changed", 0)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def tiers_nightly_task() -> int:
    """Nightly, after the expiry: every account's 12-month spend and tier (logged as a run)."""
    run = jobs.loyalty_job_logged(
        job=LoyaltyJob.TIERS,
        period=_today(),
        work=lambda: tiers.tiers_evaluate_all(trigger=TierChange.Reason.NIGHTLY),
    )
    return run.counts.get("changed", 0)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def tiers_consume_task() -> int:
    """Beat, every minute: the feed consumer "loyalty.tiers"."""
    return tiers.tiers_consume()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def tiers_rules_task(actor_id: int | None = None) -> int:
    """After the tiers page saved changes for many accounts: every account, reason "rules"."""
    return tiers.tiers_evaluate_all(trigger=TierChange.Reason.RULES, actor_id=actor_id)


def _today() -> str:
    return timezone.localdate().isoformat()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def birthday_job_task() -> int:
    """Every morning: today's birthday greetings and coupons (loyalty.services.birthday). Safe
    twice: the unique row per member and year decides. Returns the run's id."""
    return birthday.birthday_job_run().pk


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def points_reminder_job_task() -> int:
    """Daily: unused-points reminders (loyalty.services.points_reminder), once a month per
    member. Returns the run's id."""
    return points_reminder.points_reminder_job_run().pk


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def wallet_updates_push_task() -> dict:
    """Beat, every minute: push the wallet cards whose changes are due (coalesced; two runs at
    once push no card twice). Returns the run's figures."""
    figures = wallet_push.wallet_updates_push()
    return {
        "cards": figures.cards,
        "sent": figures.sent,
        "failed": figures.failed,
        "retried": figures.retried,
    }


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def google_objects_retire_task(object_ids: list[str]) -> int:
    """After an erasure or a merge dropped Google cards: blank and deactivate their objects at
    Google (nothing of the person stays there). Returns how many Google answered."""
    from loyalty.wallet.google_updater import google_objects_retire

    return google_objects_retire(object_ids=object_ids).sent
