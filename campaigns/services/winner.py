"""Winner mode: the variants went to a test share at launch; after `winner_after_hours` the best
variant on the campaign's metric goes to the members who waited (Delivery rows pending, variant
"" and no batch since the launch).

Chosen once: the campaign row is locked and `winner_chosen_at` decides, so the task sent with
an eta at launch and the sweep that catches a lost one can both run; the second does nothing.
"""

import logging
from datetime import datetime
from fractions import Fraction

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from campaigns.models import Campaign, Delivery, WinnerMetric
from campaigns.split import variant_split_of

logger = logging.getLogger(__name__)

# The winner is chosen while the campaign sends or is paused (its batches then wait for the
# resume); a cancelled campaign's waiting members were suppressed by the cancel.
CHOOSABLE = (Campaign.Status.SENDING, Campaign.Status.PAUSED)


def winner_scores(*, campaign: Campaign) -> dict[str, Fraction]:
    """Each variant's score on the campaign's metric over its test deliveries (intent to treat:
    every delivery of the variant counts, sent or not): clicks and conversions as the share of
    deliveries with a click / a conversion, revenue as the mean credited revenue. One query."""
    rows = (
        Delivery.objects.filter(campaign=campaign)
        .exclude(variant="")
        .exclude(status=Delivery.Status.HELD_OUT)
        .values("variant")
        .annotate(
            n=Count("pk"),
            clicked=Count("pk", filter=Q(clicked_at__isnull=False)),
            converted=Count("pk", filter=Q(converted_at__isnull=False)),
            revenue=Sum("revenue_twd"),
        )
    )
    numerator = {
        WinnerMetric.CLICKS: "clicked",
        WinnerMetric.CONVERSIONS: "converted",
        WinnerMetric.REVENUE: "revenue",
    }[WinnerMetric(campaign.winner_metric)]
    scores = {variant: Fraction(0) for variant in variant_split_of(campaign.variant_split)}
    for row in rows:
        if row["variant"] in scores and row["n"]:
            scores[row["variant"]] = Fraction(row[numerator] or 0, row["n"])
    return scores


def winner_pick(scores: dict[str, Fraction]) -> str:
    """The best score; a tie goes to the alphabetically first variant."""
    return min(scores, key=lambda variant: (-scores[variant], variant))


def campaign_winner_choose(*, campaign_id: int, now: datetime | None = None) -> str | None:
    """Choose the winner of a campaign in winner mode whose test time is over and send it to
    the members who waited (batches made like the launch's, quiet hours respected). Returns
    the winner, or None when there is nothing to do (not due, already chosen, not sending)."""
    from campaigns.services.audience import _make_batches
    from campaigns.services.sending import campaign_finish_if_done
    from campaigns.services.sweep import batches_dispatch_due

    now = now or timezone.now()
    with transaction.atomic():
        # Race: the eta task and the sweep at once; the lock and winner_chosen_at decide.
        campaign = (
            Campaign.objects.select_for_update(of=("self",))
            .filter(pk=campaign_id, status__in=CHOOSABLE, winner_chosen_at__isnull=True)
            .exclude(winner_metric="")
            .first()
        )
        if campaign is None or campaign.launched_at is None:
            return None
        if not Delivery.objects.filter(campaign=campaign).exists():
            return None  # paused before its audience was prepared: no test to judge yet
        if campaign.winner_due_at > now:
            return None
        winner = winner_pick(winner_scores(campaign=campaign))
        waiting = Delivery.objects.filter(campaign=campaign, variant="").exclude(
            status=Delivery.Status.HELD_OUT
        )
        to_send = waiting.filter(status=Delivery.Status.PENDING, batch__isnull=True).exclude(
            channel=""
        )
        counts = dict(to_send.values_list("channel").annotate(n=Count("pk")).order_by())
        new_batches = _make_batches(campaign, counts, now)
        if counts:
            _assign_batches(campaign_id=campaign.pk, winner=winner, batch_ids=new_batches)
        # The rest (unreachable at launch, already suppressed) join the winner's arm too.
        waiting.update(variant=winner)
        Campaign.objects.filter(pk=campaign.pk).update(winner_variant=winner, winner_chosen_at=now)
        logger.info(
            "campaign %s: winner %s, %d members to send it to",
            campaign.pk,
            winner,
            sum(counts.values()),
        )
        if counts:
            transaction.on_commit(lambda: batches_dispatch_due(campaign_id=campaign_id))
        else:
            transaction.on_commit(lambda: campaign_finish_if_done(campaign_id=campaign_id))
    return winner


def _assign_batches(*, campaign_id: int, winner: str, batch_ids: dict[str, list[int]]) -> int:
    """One UPDATE gives every waiting reachable row the winner and its batch (numbered per
    channel, the batch id looked up in the channel's list, as the launch does)."""
    from campaigns.services.audience import _batch_of

    table = Delivery._meta.db_table
    batch_sql, batch_params = _batch_of(batch_ids)
    sql = (
        f'UPDATE "{table}" AS target SET variant = %s, batch_id = {batch_sql} '  # noqa: S608 (table name from _meta, values as parameters)
        "FROM (SELECT waiting.id, waiting.channel, ROW_NUMBER() OVER "
        "(PARTITION BY waiting.channel ORDER BY waiting.id) - 1 AS n "
        f'FROM "{table}" AS waiting WHERE waiting.campaign_id = %s AND waiting.variant = %s '
        "AND waiting.status = %s AND waiting.batch_id IS NULL AND waiting.channel <> '') "
        "AS numbered WHERE target.id = numbered.id"
    )
    params = [winner, *batch_params, campaign_id, "", Delivery.Status.PENDING]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def campaigns_winner_due(*, now: datetime | None = None) -> int:
    """The sweep's part: choose every winner that is due (a lost eta task). Returns how many."""
    now = now or timezone.now()
    chosen = 0
    candidates = Campaign.objects.filter(
        status__in=CHOOSABLE, winner_chosen_at__isnull=True, launched_at__isnull=False
    ).exclude(winner_metric="")
    for campaign in candidates.only("pk", "launched_at", "winner_after_hours", "winner_metric"):
        if campaign.winner_due_at <= now:
            chosen += campaign_winner_choose(campaign_id=campaign.pk, now=now) is not None
    return chosen
