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

from collections.abc import Iterable
from datetime import date

from django.db import transaction
from django.db.models import Count, DateField, Q, QuerySet, Value
from django.db.models.functions import Coalesce, TruncMonth

from crm.bulk import chunked
from crm.models import Order, OrderChange, net_revenue, sale_q
from crm.services.order_feed import order_changes_drain, order_changes_skip
from omnichannel.kpis.bulk import (
    DAYS_CHUNK,
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
MONTH_CONSUMERS = ("cohorts", "omo")
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


def activity_rewrite(*, member_ids: Iterable[int]) -> int:
    """Recompute these members' whole activity, daily and monthly, from all their orders: a
    member has few orders, and a changed order may have moved from any day (its placed_at,
    a merge, an undo), so their rows are rewritten rather than patched."""
    written = 0
    for chunk in chunked(sorted(set(member_ids)), MEMBERS_CHUNK):
        orders = Order.objects.filter(member_id__in=chunk)
        MemberActivityDaily.objects.filter(member_id__in=chunk).delete()
        written += daily_activity_insert(orders)
        MemberActivityMonthly.objects.filter(member_id__in=chunk).delete()
        written += insert_select(
            MemberActivityMonthly, ACTIVITY_COLUMNS, _activity_select(orders, monthly=True)
        )
    return written


def daily_activity_insert(orders: QuerySet[Order]) -> int:
    """Insert the members' daily rows of these orders with each row's previous active day in
    its three scopes (see MemberActivityDaily): window functions over the grouped rows, in
    the same INSERT … SELECT. Pass whole members' orders: a window sees only what it is given.
    """
    sql, params = _activity_select(orders, monthly=False).query.sql_with_params()
    # The latest active day among the member's rows before this one in the scope's order;
    # a second row of one day sees that day (so one row per member counts in a period).
    earlier = "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING"
    active_day = "MAX(CASE WHEN g.n > 0 THEN g.bucket END)"
    select = f"""
        SELECT g.bucket, g.member_id, g.channel, g.store_id, g.n, g.revenue,
            {active_day} OVER (
                PARTITION BY g.member_id ORDER BY g.bucket, g.channel, g.store_id {earlier}),
            {active_day} OVER (
                PARTITION BY g.member_id, g.channel ORDER BY g.bucket, g.store_id {earlier}),
            {active_day} OVER (
                PARTITION BY g.member_id, g.channel, g.store_id ORDER BY g.bucket {earlier})
        FROM ({sql}) AS g
    """  # noqa: S608 (our column names; values are parameters)
    return insert_sql(MemberActivityDaily, DAILY_ACTIVITY_COLUMNS + PREVIOUS, select, params)


class _Touched:
    """What a drain's changes touch, collected batch by batch: the days (the orders' Taipei
    days now and, for an order whose placed_at moved, before) and the members (now and
    before). Rewritten once after the drain: a history import of many batches re-aggregates
    each day once, not once per batch."""

    def __init__(self) -> None:
        self.days: set[date] = set()
        self.members: set[int] = set()

    def collect(self, changes: list[OrderChange]) -> None:
        """The feed's handler: only collects."""
        zone = local_zone()
        placed = Order.objects.filter(pk__in={change.order_id for change in changes})
        self.days.update(
            at.astimezone(zone).date() for at in placed.values_list("placed_at", flat=True)
        )
        self.days.update(
            change.old_placed_at.astimezone(zone).date()
            for change in changes
            if change.old_placed_at is not None
        )
        self.members.update(
            member_id
            for change in changes
            for member_id in (change.member_id, change.old_member_id)
            if member_id
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
            activity_rewrite(member_ids=touched.members)
        kpi_months_mark(day.replace(day=1) for day in touched.days)
    return handled


def kpi_months_mark(months: Iterable[date]) -> None:
    """Mark these months for every rollup derived from the monthly activity."""
    KpiDirtyMonth.objects.bulk_create(
        [
            KpiDirtyMonth(consumer=consumer, month=month)
            for month in sorted(set(months))
            for consumer in MONTH_CONSUMERS
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
        written += daily_activity_insert(orders)
        written += insert_select(
            MemberActivityMonthly, ACTIVITY_COLUMNS, _activity_select(orders, monthly=True)
        )
    return written


ROLLUPS.register(Rollup(name="orders", refresh=orders_refresh, rebuild=orders_rebuild, order=10))
