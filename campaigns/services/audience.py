"""Launch: the audience snapshot, each member's channel, and the send batches, set-wise.

One transaction, a handful of statements, none per member and no row written twice:
1. One read of the segment's members not yet in the outbox, each with its channel (a CASE:
   the first channel of the strategy that reaches the member, campaigns/reachability.py),
   counted per channel; the SendBatch rows are made from those counts.
2. One INSERT … SELECT writes every Delivery final for the launch: its channel, and its batch
   (ROW_NUMBER() per channel, divided by the batch size, joined to the batch's number);
   members reachable nowhere are written suppressed with no reason yet (ON CONFLICT DO
   NOTHING: the unique (campaign, member) makes a rerun harmless). The rows never leave the
   database, which beats COPY (COPY would first have to read a million ids out to write
   them back). Each row is written once: an UPDATE per channel and one numbering the batches
   rewrote every row twice more, at a million rows the whole cost of a launch.
3. A few UPDATEs give the (few) unreachable members the most telling reason.
"""

import logging
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, CharField, Count, F, Value, When
from django.utils import timezone

from campaigns.models import VARIANT_DEFAULT, Campaign, Delivery, SendBatch
from campaigns.quiet_hours import quiet_hours_next_allowed
from campaigns.reachability import reachable_q, unreachable_reasons
from crm.segments.definition import segment_queryset

logger = logging.getLogger(__name__)


def _audience_plan(campaign: Campaign, now: datetime):
    """The segment's members not yet in the outbox, each with `plan_channel`: the first
    channel of the strategy that reaches them, "" for none."""
    channel = Case(
        *[When(reachable_q(name), then=Value(name)) for name in campaign.channels],
        default=Value(""),
        output_field=CharField(),
    )
    members = segment_queryset(campaign.segment.definition, now=now).exclude(
        pk__in=Delivery.objects.filter(campaign_id=campaign.pk).values("member_id")
    )
    return members.order_by().annotate(plan_channel=channel)


def _make_batches(campaign: Campaign, counts: dict[str, int], now: datetime) -> dict[str, int]:
    """SendBatch rows for `counts` deliveries per channel; the first new batch number of each
    channel (a rerun continues the numbering)."""
    size = settings.CAMPAIGN_BATCH_SIZE
    start = max(now, campaign.send_at or now)
    taken = dict(
        SendBatch.objects.filter(campaign=campaign).values_list("channel").annotate(n=Count("id"))
    )
    first_seq: dict[str, int] = {}
    batches: list[SendBatch] = []
    for channel, count in counts.items():
        first_seq[channel] = taken.get(channel, 0)
        not_before = quiet_hours_next_allowed(
            channel=channel, at=start, overrides=campaign.quiet_hours
        )
        batches += [
            SendBatch(
                campaign=campaign,
                channel=channel,
                seq=first_seq[channel] + number,
                size=min(size, count - number * size),
                not_before=not_before,
                created_at=now,
            )
            for number in range((count + size - 1) // size)
        ]
    SendBatch.objects.bulk_create(batches, batch_size=1000)
    return first_seq


def _insert_audience(campaign: Campaign, plan, first_seq: dict[str, int], now) -> int:
    plan_sql, plan_params = (
        plan.annotate(plan_member=F("pk"))
        .values_list("plan_member", "plan_channel")
        .query.sql_with_params()
    )
    delivery = Delivery._meta.db_table
    batch = SendBatch._meta.db_table
    size = settings.CAMPAIGN_BATCH_SIZE
    offsets = " ".join("WHEN %s THEN %s" for _ in first_seq) or "WHEN '' THEN 0"
    offset_params = [value for item in first_seq.items() for value in item]
    sql = (
        f'INSERT INTO "{delivery}" (campaign_id, member_id, channel, variant, status, reason, '  # noqa: S608 (table names from _meta, values as parameters)
        "error, provider_id, is_marketing, created_at, batch_id) "
        "SELECT %s, numbered.id, numbered.channel, %s, "
        "CASE WHEN numbered.channel = '' THEN %s ELSE %s END, '', '', '', %s, %s, b.id "
        "FROM (SELECT audience.plan_member AS id, audience.plan_channel AS channel, "
        "ROW_NUMBER() OVER (PARTITION BY audience.plan_channel ORDER BY audience.plan_member) "
        "- 1 AS n "
        f"FROM ({plan_sql}) AS audience) AS numbered "
        f'LEFT JOIN "{batch}" b ON b.campaign_id = %s AND b.channel = numbered.channel '
        f"AND b.seq = numbered.n / %s + CASE numbered.channel {offsets} ELSE 0 END "
        "WHERE true ON CONFLICT DO NOTHING"
    )
    params = [
        campaign.pk,
        VARIANT_DEFAULT,
        Delivery.Status.SUPPRESSED,
        Delivery.Status.PENDING,
        campaign.is_marketing,
        now,
        *plan_params,
        campaign.pk,
        size,
        *offset_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def deliveries_suppress_unreachable(*, deliveries, channels: Sequence[str]) -> int:
    """Suppress each pending delivery of `deliveries` with the most telling reason why none of
    `channels` reaches its member (the caller has already kept the reachable ones apart)."""
    return _explain(deliveries.filter(status=Delivery.Status.PENDING), channels)


def _explain(deliveries, channels: Sequence[str]) -> int:
    explained = 0
    for reason, condition in unreachable_reasons(channels, member="member_id"):
        explained += deliveries.filter(condition).update(
            status=Delivery.Status.SUPPRESSED, reason=reason
        )
    return explained


def campaign_snapshot(*, campaign_id: int, now: datetime | None = None) -> bool:
    """Snapshot a launching campaign's audience into the outbox and plan its batches; True
    when it did (False: not launching any more, or already done by another worker).

    Safe twice: the campaign row is locked, the status decides, and a rerun after a crash
    finds nothing half-written (one transaction).
    """
    from campaigns.services.sweep import batches_dispatch_due

    now = now or timezone.now()
    with transaction.atomic():
        campaign = (
            # of=self: the segment is a nullable join, which PostgreSQL will not lock.
            Campaign.objects.select_for_update(of=("self",))
            .select_related("segment")
            .filter(pk=campaign_id, status=Campaign.Status.LAUNCHING)
            .first()
        )
        if campaign is None:
            return False
        plan = _audience_plan(campaign, now)
        counts = {
            channel: n
            for channel, n in plan.values_list("plan_channel").annotate(n=Count("pk"))
            if channel
        }
        first_seq = _make_batches(campaign, counts, now)
        inserted = _insert_audience(campaign, plan, first_seq, now)
        # Written suppressed without a reason: the members no channel reaches (few).
        _explain(
            Delivery.objects.filter(
                campaign=campaign, status=Delivery.Status.SUPPRESSED, reason=""
            ),
            campaign.channels,
        )
        batch_ids = list(
            SendBatch.objects.filter(campaign=campaign, status=SendBatch.Status.QUEUED).values_list(
                "pk", flat=True
            )
        )
        audience = Delivery.objects.filter(campaign=campaign).count()
        status = Campaign.Status.SENDING if batch_ids else Campaign.Status.DONE
        Campaign.objects.filter(pk=campaign.pk).update(
            status=status,
            audience_count=audience,
            finished_at=None if batch_ids else now,
        )
        logger.info(
            "campaign %s: %d members in the outbox, %d batches",
            campaign.pk,
            inserted,
            len(batch_ids),
        )
        if batch_ids:
            transaction.on_commit(lambda: batches_dispatch_due(campaign_id=campaign_id))
    return True
