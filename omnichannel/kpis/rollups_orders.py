"""The order rollups: sales per day × sales channel × store, and each member's purchases per
day and per month × sales channel × store. Fed by crm's order-change feed (DESIGN.md §1b): a
batch of changes names the orders that changed, their days and months are recomputed from them,
in the transaction that advances the feed's cursor, so a crash redoes the batch and a replay
recomputes the same cells. Nobody scans the orders table, except `rebuild`.

What counts is crm's rule (`sale_q`, `net_revenue`): orders are sales, revenue is net of
returns, both on the Taipei day the order was placed.
"""

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, DateField, Q, QuerySet, Value
from django.db.models.functions import Coalesce, TruncDate, TruncMonth

from crm.bulk import chunked
from crm.models import Order, OrderChange, net_revenue, sale_q
from crm.services.order_feed import order_changes_drain, order_changes_skip
from omnichannel.kpis.models import MemberActivityDaily, MemberActivityMonthly, SalesDaily
from omnichannel.kpis.registry import ROLLUPS, Rollup

CONSUMER = "kpis.orders"
FEED_BATCH = 5_000
DAYS_CHUNK = 60  # days recomputed per statement (a history import may touch years)
MEMBERS_CHUNK = 2_000

SALES_COLUMNS = ("day", "channel", "store_id", "orders", "revenue_twd")
SALES_COLUMNS += ("member_orders", "member_revenue_twd")
ACTIVITY_COLUMNS = ("month", "member_id", "channel", "store_id", "orders", "revenue_twd")
DAILY_ACTIVITY_COLUMNS = ("day", "member_id", "channel", "store_id", "orders", "revenue_twd")
PREVIOUS = ("previous_day", "previous_day_channel", "previous_day_store")


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=_zone())


def _days_q(days: Iterable[date]) -> Q:
    """Orders placed on any of these Taipei days (ranges on the placed_at index)."""
    q = Q(pk__in=[])
    for day in sorted(days):
        q |= Q(placed_at__gte=_day_start(day), placed_at__lt=_day_start(day + timedelta(days=1)))
    return q


def _local_day():
    return TruncDate("placed_at", tzinfo=_zone())


def _sales_select(orders: QuerySet[Order]) -> QuerySet:
    member = Q(member__isnull=False)
    return (
        orders.annotate(local_day=_local_day())
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
    bucket = TruncMonth(_local_day(), output_field=DateField()) if monthly else _local_day()
    return (
        orders.filter(member__isnull=False)
        .annotate(bucket=bucket)
        .values("bucket", "member_id", "channel", "store_id")
        .annotate(n=Count("pk", filter=sale_q()), revenue=Coalesce(net_revenue(), Value(0)))
        .order_by()
    )


def insert_select(model, columns: Iterable[str], select: QuerySet) -> int:
    """INSERT INTO model's table (columns) SELECT …: the rows never pass through Python."""
    sql, params = select.query.sql_with_params()
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({names}) {sql}", params)
        return cursor.rowcount


def sales_days_rewrite(days: Iterable[date]) -> int:
    """Recompute the sales rollup of these days from the orders. Returns the cells written."""
    written = 0
    for chunk in chunked(sorted(set(days)), DAYS_CHUNK):
        SalesDaily.objects.filter(day__in=chunk).delete()
        written += insert_select(
            SalesDaily, SALES_COLUMNS, _sales_select(Order.objects.filter(_days_q(chunk)))
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
    table = connection.ops.quote_name(MemberActivityDaily._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in DAILY_ACTIVITY_COLUMNS + PREVIOUS)
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
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({names}) {select}", params)
        return cursor.rowcount


def _changes_fold(changes: list[OrderChange]) -> None:
    """The feed's handler: recompute the days and the members' months these changes touch."""
    placed = dict(
        Order.objects.filter(pk__in={change.order_id for change in changes}).values_list(
            "pk", "placed_at"
        )
    )
    zone = _zone()
    days = {at.astimezone(zone).date() for at in placed.values()}
    members = {
        member_id
        for change in changes
        for member_id in (change.member_id, change.old_member_id)
        if member_id
    }
    sales_days_rewrite(days)
    if members:
        activity_rewrite(member_ids=members)


def orders_refresh() -> int:
    """Fold every order change since the last refresh into the rollups. Returns the changes."""
    return order_changes_drain(consumer=CONSUMER, handler=_changes_fold, batch_size=FEED_BATCH)


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


def table_empty(model) -> None:
    """Delete every row of a rollup (TRUNCATE on PostgreSQL: no dead rows left to vacuum)."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {table}")
        else:
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (our table name)


ROLLUPS.register(Rollup(name="orders", refresh=orders_refresh, rebuild=orders_rebuild, order=10))
