"""Launch: the audience snapshot, each member's channel, and the send batches, set-wise.

One transaction, three kinds of statement, none per member:
1. INSERT … SELECT the segment's members into Delivery (ON CONFLICT DO NOTHING: the unique
   (campaign, member) makes a rerun harmless). The rows never leave the database, which beats
   COPY (COPY would first have to read a million ids out to write them back).
2. One UPDATE per channel of the strategy, in its order: members still without a channel who
   are reachable there (campaigns/reachability.py) get it. Then the members reachable nowhere
   are suppressed with the most telling reason, a few UPDATEs over the remainder.
3. Per channel, SendBatch rows numbered 0…n-1 and one UPDATE that numbers the deliveries with
   ROW_NUMBER() and points each at its batch (UPDATE … FROM, PostgreSQL and SQLite ≥ 3.33).
"""

import logging
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from campaigns.models import Campaign, Delivery, SendBatch
from campaigns.quiet_hours import quiet_hours_next_allowed
from campaigns.reachability import reachable_q, unreachable_reasons
from crm.segments.definition import segment_queryset

logger = logging.getLogger(__name__)


def _insert_audience(campaign: Campaign, now: datetime) -> int:
    members = segment_queryset(campaign.segment.definition, now=now).values_list("id")
    member_sql, member_params = members.query.sql_with_params()
    table = Delivery._meta.db_table
    sql = (
        f'INSERT INTO "{table}" (campaign_id, member_id, channel, variant, status, reason, '  # noqa: S608 (table names from _meta, values as parameters)
        "error, provider_id, is_marketing, created_at) "
        f"SELECT %s, audience.id, '', %s, %s, '', '', '', %s, %s FROM ({member_sql}) AS audience "
        "WHERE true ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                campaign.pk,
                "A",
                Delivery.Status.PENDING,
                campaign.is_marketing,
                now,
                *member_params,
            ],
        )
        return cursor.rowcount


def deliveries_suppress_unreachable(*, deliveries, channels: Sequence[str]) -> int:
    """Suppress each pending delivery of `deliveries` with the most telling reason why none of
    `channels` reaches its member (the caller has already kept the reachable ones apart)."""
    suppressed = 0
    pending = deliveries.filter(status=Delivery.Status.PENDING)
    for reason, condition in unreachable_reasons(channels, member="member_id"):
        suppressed += pending.filter(condition).update(
            status=Delivery.Status.SUPPRESSED, reason=reason
        )
    return suppressed


def _plan_channels(campaign: Campaign) -> None:
    unplanned = Delivery.objects.filter(
        campaign=campaign, status=Delivery.Status.PENDING, channel=""
    )
    for channel in campaign.channels:
        unplanned.filter(reachable_q(channel, member="member_id")).update(channel=channel)
    deliveries_suppress_unreachable(deliveries=unplanned, channels=campaign.channels)


def _make_batches(campaign: Campaign, now: datetime) -> list[int]:
    size = settings.CAMPAIGN_BATCH_SIZE
    counts = dict(
        Delivery.objects.filter(
            campaign=campaign, status=Delivery.Status.PENDING, batch__isnull=True
        )
        .exclude(channel="")
        .values_list("channel")
        .annotate(n=Count("id"))
    )
    start = max(now, campaign.send_at or now)
    for channel, count in counts.items():
        first_seq = SendBatch.objects.filter(
            campaign=campaign, channel=channel
        ).count()  # a rerun after a crash continues the numbering
        not_before = quiet_hours_next_allowed(
            channel=channel, at=start, overrides=campaign.quiet_hours
        )
        batches = [
            SendBatch(
                campaign=campaign,
                channel=channel,
                seq=first_seq + number,
                size=min(size, count - number * size),
                not_before=not_before,
                created_at=now,
            )
            for number in range((count + size - 1) // size)
        ]
        SendBatch.objects.bulk_create(batches, batch_size=1000)
        delivery = Delivery._meta.db_table
        batch = SendBatch._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f'UPDATE "{delivery}" SET batch_id = b.id FROM ('  # noqa: S608 (table names from _meta)
                f"SELECT id, (ROW_NUMBER() OVER (ORDER BY id) - 1) / %s AS n "
                f'FROM "{delivery}" WHERE campaign_id = %s AND channel = %s AND status = %s '
                f"AND batch_id IS NULL) AS numbered "
                f'JOIN "{batch}" b ON b.campaign_id = %s AND b.channel = %s '
                "AND b.seq = numbered.n + %s "
                f'WHERE "{delivery}".id = numbered.id',
                [
                    size,
                    campaign.pk,
                    channel,
                    Delivery.Status.PENDING,
                    campaign.pk,
                    channel,
                    first_seq,
                ],
            )
    return list(
        SendBatch.objects.filter(campaign=campaign, status=SendBatch.Status.QUEUED).values_list(
            "pk", flat=True
        )
    )


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
        inserted = _insert_audience(campaign, now)
        _plan_channels(campaign)
        batch_ids = _make_batches(campaign, now)
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
