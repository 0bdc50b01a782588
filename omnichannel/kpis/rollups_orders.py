"""The order rollups: sales per day × sales channel × store, and each member's purchases per
day and per month × sales channel × store. Fed by crm's order-change feed (DESIGN.md §1b): the
changes name the orders that changed; their days (now, and before for an order whose placed_at
moved) and their members' days and months are collected over the whole drain and recomputed
once, in the transaction that advances the feed's cursor, so a crash redoes the drain and a
replay recomputes the same cells. The months rewritten are marked (KpiDirtyMonth) for the
rollups derived from the monthly activity (cohorts, OMO). Nobody scans the orders table,
except `rebuild`.

What counts is crm's rule (`sale_q`, `net_revenue`): orders are sales, revenue is net of
returns, both on the Taipei day the order was placed.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date

from django.db import connection, transaction
from django.db.models import Count, DateField, Q, QuerySet, Value
from django.db.models.functions import Coalesce, TruncMonth

from crm.bulk import chunked
from crm.models import Order, OrderChange, net_revenue, sale_q
from crm.services.order_feed import order_changes_drain, order_changes_skip
from omnichannel.kpis.bulk import (
    DAYS_CHUNK,
    day_start,
    days_q,
    insert_select,
    insert_sql,
    local_day,
    local_zone,
    table_empty,
)
from omnichannel.kpis.models import (
    KpiDirtyMonth,
    MemberActivityDaily,
    MemberActivityMonthly,
    SalesDaily,
)
from omnichannel.kpis.registry import ROLLUPS, Rollup

CONSUMER = "kpis.orders"
# The rollups derived from the members' monthly activity: each recomputes the months the
# orders rollup marked for it (KpiDirtyMonth).
MONTH_CONSUMERS = ("cohorts", "omo", "holders")
FEED_BATCH = 5_000
MEMBERS_CHUNK = 2_000

SALES_COLUMNS = ("day", "channel", "store_id", "orders", "revenue_twd")
SALES_COLUMNS += ("member_orders", "member_revenue_twd")
ACTIVITY_COLUMNS = ("month", "member_id", "channel", "store_id", "orders", "revenue_twd")
DAILY_ACTIVITY_COLUMNS = ("day", "member_id", "channel", "store_id", "orders", "revenue_twd")
PREVIOUS = ("previous_day", "previous_day_channel", "previous_day_store")


def _sales_select(orders: QuerySet[Order]) -> QuerySet:
    member = Q(member__isnull=False)
    return (
        orders.annotate(local_day=local_day("placed_at"))
        .values("local_day", "channel", "store_id")
        .annotate(
            n=Count("pk", filter=sale_q()),
            revenue=Coalesce(net_revenue(), Value(0)),
            member_n=Count("pk", filter=sale_q() & member),
            member_revenue=Coalesce(net_revenue_where(member), Value(0)),
        )
        .order_by()
    )


def net_revenue_where(q: Q):
    """crm's net revenue, of the orders matching q too."""
    revenue = net_revenue()
    revenue.filter = revenue.filter & q
    return revenue


def _activity_select(orders: QuerySet[Order], *, monthly: bool) -> QuerySet:
    bucket = (
        TruncMonth(local_day("placed_at"), output_field=DateField())
        if monthly
        else local_day("placed_at")
    )
    return (
        orders.filter(member__isnull=False)
        .annotate(bucket=bucket)
        .values("bucket", "member_id", "channel", "store_id")
        .annotate(n=Count("pk", filter=sale_q()), revenue=Coalesce(net_revenue(), Value(0)))
        .order_by()
    )


def sales_days_rewrite(days: Iterable[date]) -> int:
    """Recompute the sales rollup of these days from the orders. Returns the cells written."""
    written = 0
    for chunk in chunked(sorted(set(days)), DAYS_CHUNK):
        SalesDaily.objects.filter(day__in=chunk).delete()
        written += insert_select(
            SalesDaily,
            SALES_COLUMNS,
            _sales_select(Order.objects.filter(days_q("placed_at", chunk))),
        )
    return written


def activity_rewrite(*, members: Mapping[int, date | None]) -> int:
    """Recompute these members' activity, daily and monthly, from the first day of the month
    of the earliest day each one's changes touched (None: all of it) onwards: the cells of a
    changed order's day (now and before it moved, or merged away) and every later row, whose
    previous active day may have changed with it. Rewritten, not patched: a replay writes the
    same rows. New orders touch this month, so a member's history is not read again."""
    since_month: dict[date | None, list[int]] = defaultdict(list)
    for member_id, day in members.items():
        since_month[None if day is None else day.replace(day=1)].append(member_id)
    written = 0
    for since, member_ids in since_month.items():
        for chunk in chunked(sorted(member_ids), MEMBERS_CHUNK):
            written += _members_activity_rewrite(chunk, since=since)
    return written


def _members_activity_rewrite(member_ids: list[int], *, since: date | None) -> int:
    orders = Order.objects.filter(member_id__in=member_ids)
    daily = MemberActivityDaily.objects.filter(member_id__in=member_ids)
    monthly = MemberActivityMonthly.objects.filter(member_id__in=member_ids)
    if since is not None:
        orders = orders.filter(placed_at__gte=day_start(since))
        daily, monthly = daily.filter(day__gte=since), monthly.filter(month__gte=since)
    daily.delete()
    written = daily_activity_insert(orders, after_kept_rows=since is not None)
    monthly.delete()
    written += insert_select(
        MemberActivityMonthly, ACTIVITY_COLUMNS, _activity_select(orders, monthly=True)
    )
    return written


def daily_activity_insert(
    orders: QuerySet[Order], *, after_kept_rows: bool = False, in_day_order: bool = False
) -> int:
    """Insert the members' daily rows of these orders with each row's previous active day in
    its three scopes (see MemberActivityDaily): window functions over the grouped rows, in
    the same INSERT … SELECT. Pass whole members' orders, or (`after_kept_rows`) each member's
    orders from a day on whose earlier rows are kept in the table: a scope's first new row
    then takes its previous day from the member's latest kept active row in that scope.
    `in_day_order`: insert the rows sorted by day (a rebuild)."""
    sql, params = _activity_select(orders, monthly=False).query.sql_with_params()
    # The latest active day among the member's rows before this one in the scope's order;
    # a second row of one day sees that day (so one row per member counts in a period).
    earlier = "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING"
    active_day = "MAX(CASE WHEN g.n > 0 THEN g.bucket END)"
    previous = ["w.previous_any", "w.previous_channel", "w.previous_store"]
    if after_kept_rows:
        table = connection.ops.quote_name(MemberActivityDaily._meta.db_table)
        scopes = (
            "",
            " AND k.channel = w.channel",
            " AND k.channel = w.channel AND (k.store_id = w.store_id"
            " OR (k.store_id IS NULL AND w.store_id IS NULL))",
        )
        previous = [
            f"""COALESCE({column}, (SELECT k.day FROM {table} k
                WHERE k.member_id = w.member_id AND k.orders > 0{scope}
                ORDER BY k.day DESC LIMIT 1))"""  # noqa: S608 (our names only)
            for column, scope in zip(previous, scopes, strict=True)
        ]
    select = f"""
        SELECT w.bucket, w.member_id, w.channel, w.store_id, w.n, w.revenue, {", ".join(previous)}
        FROM (SELECT g.*,
            {active_day} OVER (PARTITION BY g.member_id
                ORDER BY g.bucket, g.channel, g.store_id {earlier}) AS previous_any,
            {active_day} OVER (PARTITION BY g.member_id, g.channel
                ORDER BY g.bucket, g.store_id {earlier}) AS previous_channel,
            {active_day} OVER (PARTITION BY g.member_id, g.channel, g.store_id
                ORDER BY g.bucket {earlier}) AS previous_store
            FROM ({sql}) AS g) AS w
        {"ORDER BY w.bucket" if in_day_order else ""}
    """  # noqa: S608 (our column names; values are parameters)
    return insert_sql(MemberActivityDaily, DAILY_ACTIVITY_COLUMNS + PREVIOUS, select, params)


class _Touched:
    """What a drain's changes touch, collected batch by batch: the days (the orders' Taipei
    days now and, for an order whose placed_at moved, before) and the members (now and
    before), each with the earliest day touched (None: an order gone, its day unknown).
    Rewritten once after the drain: a history import of many batches re-aggregates each day
    once, not once per batch."""

    def __init__(self) -> None:
        self.days: set[date] = set()
        self.members: dict[int, date | None] = {}

    def collect(self, changes: list[OrderChange]) -> None:
        """The feed's handler: only collects."""
        zone = local_zone()
        placed = dict(
            Order.objects.filter(pk__in={change.order_id for change in changes}).values_list(
                "pk", "placed_at"
            )
        )
        for change in changes:
            days = {
                at.astimezone(zone).date()
                for at in (placed.get(change.order_id), change.old_placed_at)
                if at is not None
            }
            self.days.update(days)
            earliest = min(days) if change.order_id in placed else None
            for member_id in (change.member_id, change.old_member_id):
                if not member_id:
                    continue
                known = self.members.get(member_id, earliest)
                self.members[member_id] = (
                    None if known is None or earliest is None else min(known, earliest)
                )


def orders_refresh() -> int:
    """Fold every order change since the last refresh into the rollups. Returns the changes.

    The drain's batches only collect the days and members they touch; the rollups are
    rewritten once after it, in the same transaction as the cursor's advances (the run's, and
    this function's own when called alone): a failed rewrite rolls the advances back too."""
    touched = _Touched()
    with transaction.atomic():
        handled = order_changes_drain(
            consumer=CONSUMER, handler=touched.collect, batch_size=FEED_BATCH
        )
        sales_days_rewrite(touched.days)
        if touched.members:
            activity_rewrite(members=touched.members)
        kpi_months_mark(day.replace(day=1) for day in touched.days)
    return handled


def kpi_months_mark(months: Iterable[date], *, consumers: Iterable[str] = MONTH_CONSUMERS) -> None:
    """Mark these months for every rollup derived from the monthly activity (or for these)."""
    KpiDirtyMonth.objects.bulk_create(
        [
            KpiDirtyMonth(consumer=consumer, month=month)
            for month in sorted(set(months))
            for consumer in consumers
        ],
        ignore_conflicts=True,
    )


def kpi_months_take(consumer: str) -> set[date]:
    """The months marked for this consumer, unmarked: call it in the transaction that
    recomputes them (a failure rolls the unmarking back too)."""
    marked = KpiDirtyMonth.objects.filter(consumer=consumer)
    months = set(marked.values_list("month", flat=True))
    marked.delete()
    return months


def orders_rebuild() -> int:
    """Recompute both rollups from every order. Returns the rows written."""
    order_changes_skip(consumer=CONSUMER)  # first: a change committed meanwhile comes again
    with transaction.atomic():
        for model in (SalesDaily, MemberActivityDaily, MemberActivityMonthly):
            table_empty(model)
        orders = Order.objects.all()
        written = insert_select(SalesDaily, SALES_COLUMNS, _sales_select(orders))
        # In day (month) order: the rows a page or a derived rollup reads by period then sit
        # together in the table rather than one per block (a month's monthly rows: 40,000
        # blocks read in member order).
        written += daily_activity_insert(orders, in_day_order=True)
        written += insert_select(
            MemberActivityMonthly,
            ACTIVITY_COLUMNS,
            _activity_select(orders, monthly=True).order_by("bucket"),
        )
    return written


ROLLUPS.register(Rollup(name="orders", refresh=orders_refresh, rebuild=orders_rebuild, order=10))
