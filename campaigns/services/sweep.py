"""The sweep: what keeps campaigns moving when no single task can be trusted to.

Run by beat every minute, by every worker when it starts, and re-armed by itself every
CAMPAIGN_SWEEP_SECONDS while any campaign is sending (so a worker started after another was
killed takes over within a lease, not after the broker's visibility timeout: an hour on Redis).
Each part is a conditional, set-wise step, safe to run twice or on two machines at once:

- scheduled campaigns whose time came are launched;
- a campaign stuck "preparing" (its snapshot task lost) gets its snapshot task again;
- batches that are due (quiet hours over, backoff over) and not yet dispatched, or dispatched
  long ago and not taken, get their task; running batches whose lease expired (a dead worker)
  get theirs too, and the claim gives them to whoever comes first;
- winners due in winner mode (their eta task lost) are chosen;
- campaigns with no open batch (and no members waiting for a winner) are marked sent.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.models import Campaign, Delivery, SendBatch
from campaigns.services.sending import campaign_finish_if_done
from campaigns.services.winner import campaigns_winner_due

STUCK_LAUNCH_MINUTES = 10


def batches_dispatch_due(
    *, campaign_id: int | None = None, now: datetime | None = None, force: bool = False
) -> int:
    """Send the task of every due batch (of one campaign, or all sending campaigns) that has no
    live task; `force` sends them all (resume). Returns how many were sent."""
    from campaigns.tasks import send_batch_task

    now = now or timezone.now()
    batches = SendBatch.objects.filter(campaign__status=Campaign.Status.SENDING)
    if campaign_id is not None:
        batches = batches.filter(campaign_id=campaign_id)
    lost = now - timedelta(seconds=settings.CAMPAIGN_REDISPATCH_SECONDS)
    queued = Q(status=SendBatch.Status.QUEUED, not_before__lte=now)
    if not force:
        queued &= Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=lost)
    dead = Q(status=SendBatch.Status.RUNNING, lease_expires_at__lt=now)
    ids = list(batches.filter(queued | dead).order_by("pk").values_list("pk", flat=True))
    if not ids:
        return 0
    SendBatch.objects.filter(pk__in=ids).update(dispatched_at=now)
    for batch_id in ids:
        send_batch_task.delay(batch_id)
    return len(ids)


def campaigns_sweep(*, now: datetime | None = None) -> dict[str, int]:
    from campaigns.tasks import campaign_snapshot_task

    now = now or timezone.now()
    launched = []
    for campaign_id in Campaign.objects.filter(
        status=Campaign.Status.SCHEDULED, send_at__lte=now
    ).values_list("pk", flat=True):
        # Race: two sweeps at once; the conditional UPDATE launches it once.
        if Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SCHEDULED).update(
            status=Campaign.Status.LAUNCHING, launched_at=now
        ):
            launched.append(campaign_id)
    stuck = list(
        Campaign.objects.filter(
            status=Campaign.Status.LAUNCHING,
            launched_at__lt=now - timedelta(minutes=STUCK_LAUNCH_MINUTES),
        ).values_list("pk", flat=True)
    )
    for campaign_id in launched + stuck:
        transaction.on_commit(lambda pk=campaign_id: campaign_snapshot_task.delay(pk))
    winners = campaigns_winner_due(now=now)
    dispatched = batches_dispatch_due(now=now)
    abandoned = _abandoned_batches_close()
    finished = 0
    for campaign_id in Campaign.objects.filter(status=Campaign.Status.SENDING).values_list(
        "pk", flat=True
    ):
        finished += campaign_finish_if_done(campaign_id=campaign_id)
    return {
        "launched": len(launched),
        "relaunched": len(stuck),
        "dispatched": dispatched,
        "finished": finished,
        "abandoned": abandoned,
        "winners": winners,
    }


def _abandoned_batches_close() -> int:
    """A batch the reaper failed (its workers died too often) leaves no delivery unfinished:
    the one in a call ends "outcome unknown", the waiting ones failed with the batch's reason."""
    batches = SendBatch.objects.filter(
        status=SendBatch.Status.FAILED,
        deliveries__status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING],
    ).distinct()
    closed = 0
    for batch_id, error in batches.values_list("pk", "error")[:100]:
        with transaction.atomic():
            rows = Delivery.objects.filter(batch_id=batch_id)
            closed += rows.filter(status=Delivery.Status.SENDING).update(
                status=Delivery.Status.FAILED, reason=Delivery.Reason.OUTCOME_UNKNOWN
            )
            closed += rows.filter(status=Delivery.Status.PENDING).update(
                status=Delivery.Status.FAILED,
                reason=Delivery.Reason.PROVIDER_ERROR,
                error=(error or "")[:500],
            )
    return closed


def campaigns_active() -> bool:
    return Campaign.objects.filter(status__in=Campaign.ACTIVE).exists()
