"""Thin Celery tasks (STYLE.md 7): ids in, one service call, safe twice.

Sending tasks are acks_late with reject_on_worker_lost: the Delivery rows and the batch's lease,
not the broker, are the record of what was sent, so a message redelivered after a worker died
is harmless (the claim decides) and one that is lost is found again by the sweep.
"""

from dataclasses import asdict

from celery import current_app, shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError

from campaigns.services import (
    audience,
    control_group,
    conversions,
    figures,
    line_insight,
    sandbox,
    sending,
    sweep,
    winner,
)


def _sweep_armed_key() -> str:
    # One chain per queue: deployments (or test runs) that share a cache but not a queue must
    # not stop each other's sweep.
    return f"campaigns:sweep-armed:{current_app.conf.task_default_queue}"


@shared_task(acks_late=True, reject_on_worker_lost=True)
def campaign_snapshot_task(campaign_id: int) -> None:
    audience.campaign_snapshot(campaign_id=campaign_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def campaign_winner_task(campaign_id: int) -> str | None:
    """Sent with an eta at launch (winner mode); the sweep catches a lost one. Idempotent."""
    return winner.campaign_winner_choose(campaign_id=campaign_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def send_batch_task(batch_id: int) -> str:
    return sending.send_batch_run(batch_id=batch_id).state


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def sandbox_events_task(batch_id: int) -> int:
    return sandbox.sandbox_events_simulate(batch_id=batch_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def campaigns_sweep_task(rearm: bool = True) -> dict:
    """Beat runs this every minute; while a campaign sends it also runs itself every
    CAMPAIGN_SWEEP_SECONDS, one chain at a time (the cache key), so a dead worker's batch is
    taken over within about a lease."""
    result = sweep.campaigns_sweep()
    if rearm and sweep.campaigns_active():
        seconds = settings.CAMPAIGN_SWEEP_SECONDS
        # The key lapses a little before the next run, so that run can arm the one after it.
        if cache.add(_sweep_armed_key(), 1, timeout=max(1, seconds - 2)):
            campaigns_sweep_task.apply_async(kwargs={"rearm": True}, countdown=seconds)
    return result


@worker_ready.connect
def _sweep_when_a_worker_starts(**kwargs) -> None:
    # A worker that starts (after a crash, a deploy) looks for work a dead one left behind.
    # The armed key may be the dead chain's: drop it so this worker starts a live one.
    cache.delete(_sweep_armed_key())
    campaigns_sweep_task.delay(rearm=True)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def line_insights_collect_task() -> dict:
    """Beat, hourly: LINE's opens and clicks of requests old enough (the rows decide what is
    asked, so a second run asks nothing new)."""
    return asdict(line_insight.line_insights_collect())


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def line_insight_refresh_task(campaign_id: int) -> dict:
    """A marketer's refresh of one campaign's LINE figures."""
    return asdict(line_insight.line_insight_refresh(campaign_id=campaign_id))


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def control_group_figures_task() -> int | None:
    """Beat, nightly: the global control group against everyone else over 30 days."""
    figures = control_group.control_group_figures_compute()
    return figures.pk if figures else None


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def campaign_figures_recount_task(campaign_id: int) -> int:
    return figures.campaign_figures_recount(campaign_id=campaign_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def campaign_figures_recount_due_task() -> list[int]:
    return figures.campaign_figures_recount_due()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def conversions_consume_task() -> int:
    return conversions.conversions_consume()
