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

Who gets which variant and who is held out is decided in the same INSERT (campaigns/split.py
says the rules in Python): members of held-out stores and, for marketing campaigns, of the
global control group are taken out first; the rest are ranked by md5("<campaign id>:<member
id>") and ROW_NUMBER() over that order gives exact sizes: round(N × holdout %) held out, then
each variant's share (largest remainder), then, in winner mode, the members who wait for the
winner (pending, variant "", no batch). The sizes come from one COUNT before the INSERT, and the
batches from a second aggregate over the same assignment, so each row is still written once.
"""

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, CharField, Count, F, Value, When
from django.utils import timezone

from campaigns.audience_sources import audience_source_member_ids
from campaigns.control_group import in_control_group_sql
from campaigns.models import Campaign, Delivery, SendBatch
from campaigns.quiet_hours import quiet_hours_next_allowed
from campaigns.reachability import reachable_q, unreachable_reasons
from campaigns.split import (
    holdout_size,
    split_sizes,
    variant_split_of,
)
from crm.models import Member
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
    if campaign.segment_id is not None:
        members = segment_queryset(campaign.segment.definition, now=now)
    else:
        members = Member.objects.filter(status=Member.Status.ACTIVE)
    if campaign.audience_source:
        # An automated message's run: the members its job chose for the period.
        members = members.filter(
            pk__in=audience_source_member_ids(campaign.audience_source, campaign.audience_params)
        )
    members = members.exclude(
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


# Arms of the launch (the `arm` column of the assignment below).
ARM_SEND = "send"  # gets a variant and a batch now
ARM_WAIT = "wait"  # winner mode: gets the winner later
HELD_OUT_ARMS = (
    Delivery.Reason.STORE_HOLDOUT.value,
    Delivery.Reason.CONTROL_GROUP.value,
    Delivery.Reason.HOLDOUT.value,
)


def _collate() -> str:
    # md5 hex compared as bytes on both databases (PostgreSQL's locale collation could order
    # digits and letters differently from Python).
    return ' COLLATE "C"' if connection.vendor == "postgresql" else ""


def _grouped_sql(campaign: Campaign, plan) -> tuple[str, list]:
    """Each member of `plan` with its channel, `grp` (store_holdout, control_group or "" for
    the randomised pool) and `h`, the split hash md5("<campaign id>:<member id>")."""
    plan_sql, plan_params = (
        plan.annotate(plan_member=F("pk"), plan_store=F("home_store_id"))
        .values_list("plan_member", "plan_channel", "plan_store")
        .query.sql_with_params()
    )
    stores = [int(pk) for pk in campaign.holdout_stores.values_list("pk", flat=True)]
    store_held = f"audience.plan_store IN ({', '.join(map(str, stores))})" if stores else "1 = 0"
    params: list = []
    control = "1 = 0"
    if campaign.is_marketing:  # the control group is held out of marketing campaigns only
        control, control_params = in_control_group_sql("audience.plan_member")
        params += control_params
    sql = (
        "SELECT audience.plan_member AS id, audience.plan_channel AS channel, "  # noqa: S608 (ids and codes, values as parameters)
        f"CASE WHEN {store_held} THEN %s WHEN {control} THEN %s ELSE '' END AS grp, "
        "md5(CAST(%s AS text) || ':' || CAST(audience.plan_member AS text)) AS h "
        f"FROM ({plan_sql}) AS audience"
    )
    params = [
        Delivery.Reason.STORE_HOLDOUT.value,
        *params,
        Delivery.Reason.CONTROL_GROUP.value,
        str(campaign.pk),
        *plan_params,
    ]
    return sql, params


def _assigned_sql(campaign: Campaign, plan, pool: int) -> tuple[str, list]:
    """Each member with `arm` (a held-out reason, send or wait) and `variant`: the pool ranked
    by its hash, the first round(N × holdout %) held out, then the variants' exact sizes, then
    (winner mode) the members waiting for the winner."""
    grouped_sql, grouped_params = _grouped_sql(campaign, plan)
    held = holdout_size(pool, campaign.holdout_percent)
    rest = pool - held
    tested = holdout_size(rest, campaign.winner_test_percent) if campaign.winner_metric else rest
    whens, bound = [], held
    for variant, size in split_sizes(tested, campaign.variant_split).items():
        bound += size
        whens.append(f"WHEN ranked.r < {int(bound)} THEN '{variant}'")
    variant_sql = f"CASE {' '.join(whens)} ELSE '' END" if whens else "''"
    sql = (
        "SELECT ranked.id, ranked.channel, "  # noqa: S608 (integers and variant codes, values as parameters)
        "CASE WHEN ranked.grp <> '' THEN ranked.grp "
        f"WHEN ranked.r < {int(held)} THEN %s "
        f"WHEN ranked.r < {int(held + tested)} THEN %s ELSE %s END AS arm, "
        f"CASE WHEN ranked.grp <> '' OR ranked.r < {int(held)} THEN '' ELSE {variant_sql} END "
        "AS variant "
        "FROM (SELECT grouped.id, grouped.channel, grouped.grp, ROW_NUMBER() OVER "
        f"(PARTITION BY grouped.grp ORDER BY grouped.h{_collate()}, grouped.id) - 1 AS r "
        f"FROM ({grouped_sql}) AS grouped) AS ranked"
    )
    return sql, [Delivery.Reason.HOLDOUT.value, ARM_SEND, ARM_WAIT, *grouped_params]


def _randomised(campaign: Campaign) -> bool:
    """Whether the launch must rank the pool: a holdout, two variants or winner mode."""
    return bool(
        campaign.holdout_percent
        or len(variant_split_of(campaign.variant_split)) > 1
        or campaign.winner_metric
    )


def _unranked_sql(campaign: Campaign, plan) -> tuple[str, list]:
    """The assignment without a random split: everyone in the pool gets the one variant (no
    md5 and no sort over the audience, the launch as before A/B tests)."""
    grouped_sql, grouped_params = _grouped_sql(campaign, plan)
    (variant,) = variant_split_of(campaign.variant_split)
    sql = (
        "SELECT grouped.id, grouped.channel, "  # noqa: S608 (a variant code, values as parameters)
        "CASE WHEN grouped.grp <> '' THEN grouped.grp ELSE %s END AS arm, "
        f"CASE WHEN grouped.grp <> '' THEN '' ELSE '{variant}' END AS variant "
        f"FROM ({grouped_sql}) AS grouped"
    )
    return sql, [ARM_SEND, *grouped_params]


def _pool_size(campaign: Campaign, plan) -> int:
    """The members the split randomises: the audience less store holdout and control group."""
    grouped_sql, params = _grouped_sql(campaign, plan)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM ({grouped_sql}) AS grouped WHERE grouped.grp = ''",  # noqa: S608
            params,
        )
        return cursor.fetchone()[0]


def _send_counts(assigned_sql: str, params: list) -> dict[str, int]:
    """Members to send now per channel (the batches to make)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT assigned.channel, COUNT(*) FROM ({assigned_sql}) AS assigned "  # noqa: S608
            "WHERE assigned.arm = %s AND assigned.channel <> '' GROUP BY assigned.channel",
            [*params, ARM_SEND],
        )
        return dict(cursor.fetchall())


def _insert_audience(
    campaign: Campaign, assigned: tuple[str, list], batch_ids: dict[str, list[int]], now
) -> int:
    assigned_sql, assigned_params = assigned
    delivery = Delivery._meta.db_table
    batch_sql, batch_params = _batch_of(batch_ids)
    held_out = ", ".join(f"'{arm}'" for arm in HELD_OUT_ARMS)
    # No batch at all: a bare NULL, which PostgreSQL types from the column (in a CASE it would
    # be text).
    batch_column = f"CASE WHEN numbered.arm = %s THEN {batch_sql} END" if batch_params else "NULL"
    sql = (
        f'INSERT INTO "{delivery}" (campaign_id, member_id, channel, variant, status, reason, '  # noqa: S608 (table names from _meta, values as parameters)
        "error, provider_id, is_marketing, created_at, batch_id) "
        "SELECT %s, numbered.id, "
        f"CASE WHEN numbered.arm IN ({held_out}) THEN '' ELSE numbered.channel END, "
        "numbered.variant, "
        f"CASE WHEN numbered.arm IN ({held_out}) THEN %s "
        "WHEN numbered.channel = '' THEN %s ELSE %s END, "
        f"CASE WHEN numbered.arm IN ({held_out}) THEN numbered.arm ELSE '' END, "
        f"'', '', %s, %s, {batch_column} "
        "FROM (SELECT assigned.id, assigned.channel, assigned.arm, assigned.variant, "
        "ROW_NUMBER() OVER (PARTITION BY assigned.arm, assigned.channel ORDER BY assigned.id) "
        f"- 1 AS n FROM ({assigned_sql}) AS assigned) AS numbered "
        "WHERE true ON CONFLICT DO NOTHING"
    )
    params = [
        campaign.pk,
        Delivery.Status.HELD_OUT,
        Delivery.Status.SUPPRESSED,
        Delivery.Status.PENDING,
        campaign.is_marketing,
        now,
        *([ARM_SEND, *batch_params] if batch_params else []),
        *assigned_params,
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
        assigned = (
            _assigned_sql(campaign, plan, _pool_size(campaign, plan))
            if _randomised(campaign)
            else _unranked_sql(campaign, plan)
        )
        new_batches = _make_batches(campaign, _send_counts(*assigned), now)
        inserted = _insert_audience(campaign, assigned, new_batches, now)
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
        # Winner mode sends the rest later: not done until the winner is chosen.
        waiting = bool(campaign.winner_metric) and campaign.winner_chosen_at is None
        status = Campaign.Status.SENDING if batch_ids or waiting else Campaign.Status.DONE
        Campaign.objects.filter(pk=campaign.pk).update(
            status=status,
            audience_count=audience,
            finished_at=None if status == Campaign.Status.SENDING else now,
        )
        logger.info(
            "campaign %s: %d members in the outbox, %d batches",
            campaign.pk,
            inserted,
            len(batch_ids),
        )
        if batch_ids:
            transaction.on_commit(lambda: batches_dispatch_due(campaign_id=campaign_id))
        if waiting:
            from campaigns.tasks import campaign_winner_task

            eta = campaign.winner_due_at  # a launching campaign always has its launched_at
            transaction.on_commit(lambda: campaign_winner_task.apply_async((campaign_id,), eta=eta))
    return True


@dataclass(frozen=True)
class SplitEstimate:
    """Who a launch now would hold out and how the rest would split (the confirm step)."""

    audience: int
    store_holdout: int
    control_group: int
    holdout: int
    variants: dict[str, int]  # sizes of the (test) variants
    waiting: int  # winner mode: members who get the winner later

    @property
    def sent(self) -> int:
        return sum(self.variants.values()) + self.waiting


def campaign_split_estimate(*, campaign: Campaign, now: datetime | None = None) -> SplitEstimate:
    """The sizes a launch would give now: one count of the segment per group (store holdout,
    control group, the randomised pool), then the same arithmetic as the launch."""
    now = now or timezone.now()
    plan = (
        segment_queryset(campaign.segment.definition, now=now)
        .order_by()
        .annotate(plan_channel=Value("", output_field=CharField()))
    )
    grouped_sql, params = _grouped_sql(campaign, plan)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT grouped.grp, COUNT(*) FROM ({grouped_sql}) AS grouped GROUP BY grouped.grp",  # noqa: S608
            params,
        )
        groups = dict(cursor.fetchall())
    pool = groups.get("", 0)
    held = holdout_size(pool, campaign.holdout_percent)
    rest = pool - held
    tested = holdout_size(rest, campaign.winner_test_percent) if campaign.winner_metric else rest
    return SplitEstimate(
        audience=sum(groups.values()),
        store_holdout=groups.get(Delivery.Reason.STORE_HOLDOUT.value, 0),
        control_group=groups.get(Delivery.Reason.CONTROL_GROUP.value, 0),
        holdout=held,
        variants=split_sizes(tested, campaign.variant_split),
        waiting=rest - tested,
    )
