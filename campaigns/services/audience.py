"""Launch: the audience snapshot, each member's channel, and the send batches, set-wise.

One transaction, a handful of statements, none per member and no row written twice:
1. One read of the segment's members not yet in the outbox, each with its channel (a CASE:
   the first channel of the strategy that reaches the member, campaigns/reachability.py),
   counted per channel; the SendBatch rows are made from those counts.
2. One INSERT … SELECT writes every Delivery final for the launch: its channel, and its batch
   (ROW_NUMBER() per channel, divided by the batch size, picks the batch id from the
   channel's list of new batch ids, passed as a parameter);
   members reachable nowhere are written suppressed with no reason yet (ON CONFLICT DO
   NOTHING: the unique (campaign, member) makes a rerun harmless). The rows never leave the
   database, which beats COPY (COPY would first have to read a million ids out to write
   them back). Each row is written once: an UPDATE per channel and one numbering the batches
   rewrote every row twice more, at a million rows the whole cost of a launch.
3. A few UPDATEs give the (few) unreachable members the most telling reason.
"""

import json
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


def _make_batches(
    campaign: Campaign, counts: dict[str, int], now: datetime
) -> dict[str, list[int]]:
    """SendBatch rows for `counts` deliveries per channel; each channel's new batch ids in
    order (a rerun continues the numbering after the batches already there)."""
    size = settings.CAMPAIGN_BATCH_SIZE
    start = max(now, campaign.send_at or now)
    taken = dict(
        SendBatch.objects.filter(campaign=campaign).values_list("channel").annotate(n=Count("id"))
    )
    batches: dict[str, list[SendBatch]] = {}
    for channel, count in counts.items():
        not_before = quiet_hours_next_allowed(
            channel=channel, at=start, overrides=campaign.quiet_hours
        )
        batches[channel] = [
            SendBatch(
                campaign=campaign,
                channel=channel,
                seq=taken.get(channel, 0) + number,
                size=min(size, count - number * size),
                not_before=not_before,
                created_at=now,
            )
            for number in range((count + size - 1) // size)
        ]
    SendBatch.objects.bulk_create(
        [batch for channel_batches in batches.values() for batch in channel_batches],
        batch_size=1000,
    )
    return {channel: [batch.pk for batch in rows] for channel, rows in batches.items()}


def _batch_of(batch_ids: dict[str, list[int]]) -> tuple[str, list]:
    """SQL for the batch id of row `numbered.n` (0-based, per channel) of `numbered.channel`:
    the n/size-th of the channel's new batches, looked up in a list passed as a parameter.
    (A join to the batch table on (channel, seq) was planned at a million rows as a scan of
    the channel's batches for every row: three minutes.)"""
    size = int(settings.CAMPAIGN_BATCH_SIZE)
    whens, params = [], []
    for channel, ids in batch_ids.items():
        if connection.vendor == "postgresql":
            whens.append(f"WHEN %s THEN (%s::bigint[])[numbered.n / {size} + 1]")
            params += [channel, ids]
        else:
            whens.append(f"WHEN %s THEN json_extract(%s, '$[' || (numbered.n / {size}) || ']')")
            params += [channel, json.dumps(ids)]
    if not whens:
        return "NULL", []
    return f"CASE numbered.channel {' '.join(whens)} END", params


def _insert_audience(campaign: Campaign, plan, batch_ids: dict[str, list[int]], now) -> int:
    plan_sql, plan_params = (
        plan.annotate(plan_member=F("pk"))
        .values_list("plan_member", "plan_channel")
        .query.sql_with_params()
    )
    delivery = Delivery._meta.db_table
    batch_sql, batch_params = _batch_of(batch_ids)
    sql = (
        f'INSERT INTO "{delivery}" (campaign_id, member_id, channel, variant, status, reason, '  # noqa: S608 (table names from _meta, values as parameters)
        "error, provider_id, is_marketing, created_at, batch_id) "
        "SELECT %s, numbered.id, numbered.channel, %s, "
        f"CASE WHEN numbered.channel = '' THEN %s ELSE %s END, '', '', '', %s, %s, {batch_sql} "
        "FROM (SELECT audience.plan_member AS id, audience.plan_channel AS channel, "
        "ROW_NUMBER() OVER (PARTITION BY audience.plan_channel ORDER BY audience.plan_member) "
        f"- 1 AS n FROM ({plan_sql}) AS audience) AS numbered "
        "WHERE true ON CONFLICT DO NOTHING"
    )
    params = [
        campaign.pk,
        VARIANT_DEFAULT,
        Delivery.Status.SUPPRESSED,
        Delivery.Status.PENDING,
        campaign.is_marketing,
        now,
        *batch_params,
        *plan_params,
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
        new_batches = _make_batches(campaign, counts, now)
        inserted = _insert_audience(campaign, plan, new_batches, now)
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
