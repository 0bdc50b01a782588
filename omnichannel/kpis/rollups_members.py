"""The Members page's rollups: new members per Taipei day × acquisition channel × home store,
and cohort retention (first-purchase month × activity month).

New members: the page may not count a million members per request, so joins are counted per
day here. A refresh recomputes the days of the members created since its watermark (their
ids, with a small overlap for ids committed out of order) and of the members merged away or
unmerged since (a merged duplicate is no sign-up).

Cohorts: derived from the members' monthly activity (the orders rollup, run before this one)
and MemberStats.first_purchase_at. A refresh recomputes whole the activity months the orders
rollup rewrote (it marks them, KpiDirtyMonth, in the transaction that advances its feed cursor;
this refresh takes them, later in the same run): no cursor of its own, so no order change can
be seen here before the orders rollup has written it. A rebuild recomputes all. A member's
cohort (first purchase) can move without an order change of that month (a back-dated order, a
merge): every month is marked again nightly after crm's stats rebuild (cohorts_mark_all), so
a cohort is at most a day stale.
"""

from collections.abc import Iterable
from datetime import date, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from crm.bulk import chunked
from crm.models import Member, MergeLog
from omnichannel.channels import ONLINE_SALES_CHANNELS, Channel
from omnichannel.kpis.bulk import (
    DAYS_CHUNK,
    day_start,
    insert_select,
    local_zone,
    table_empty,
)
from omnichannel.kpis.models import (
    CohortMonthly,
    KpiDirtyMonth,
    MemberActivityMonthly,
    NewMembersDaily,
    OmoMonthly,
    RollupWatermark,
)
from omnichannel.kpis.registry import ROLLUPS, Rollup
from omnichannel.kpis.rollups_orders import kpi_months_take

NEW_MEMBERS_MARK = "kpis.new_members"
NEW_MEMBERS_COLUMNS = ("day", "acquisition_channel", "store_id", "members")
ID_OVERLAP = 1_000  # ids read again: a member created earlier may commit after a later one
COHORTS_CONSUMER = "cohorts"  # its KpiDirtyMonth rows
MONTHS_CHUNK = 6


def _counted_members() -> QuerySet[Member]:
    """The members counted as joined: everyone but merged-away duplicates."""
    return Member.objects.exclude(status=Member.Status.MERGED)


def _new_members_select(members: QuerySet[Member]) -> QuerySet:
    return (
        members.annotate(local_day=TruncDate("joined_at", tzinfo=local_zone()))
        .values("local_day", "acquisition_channel", "home_store_id")
        .annotate(n=Count("pk"))
        .order_by()
    )


def new_members_days_rewrite(days: Iterable[date]) -> int:
    """Recompute the new members of these Taipei days (joined_at index ranges)."""
    written = 0
    for chunk in chunked(sorted(set(days)), DAYS_CHUNK):
        joined = Q(pk__in=[])
        for day in chunk:
            joined |= Q(
                joined_at__gte=day_start(day), joined_at__lt=day_start(day + timedelta(days=1))
            )
        NewMembersDaily.objects.filter(day__in=chunk).delete()
        written += insert_select(
            NewMembersDaily,
            NEW_MEMBERS_COLUMNS,
            _new_members_select(_counted_members().filter(joined)),
        )
    return written


def new_members_refresh() -> int:
    """Recompute the days of the members created, merged or unmerged since the last run."""
    mark, _created = RollupWatermark.objects.get_or_create(name=NEW_MEMBERS_MARK)
    now = timezone.now()
    last_id = Member.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    touched = Q(pk__gt=max(mark.last_id - ID_OVERLAP, 0), pk__lte=last_id)
    if mark.last_at is not None:
        merges = MergeLog.objects.filter(Q(at__gte=mark.last_at) | Q(undone_at__gte=mark.last_at))
        touched |= Q(pk__in=merges.values("merged_id"))
    zone = local_zone()
    days = {
        joined.astimezone(zone).date()
        for joined in Member.objects.filter(touched).values_list("joined_at", flat=True)
    }
    written = new_members_days_rewrite(days)
    mark.last_id, mark.last_at = last_id, now
    mark.save(update_fields=["last_id", "last_at", "updated_at"])
    return written


def new_members_rebuild() -> int:
    mark, _created = RollupWatermark.objects.get_or_create(name=NEW_MEMBERS_MARK)
    now = timezone.now()
    last_id = Member.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    table_empty(NewMembersDaily)
    written = insert_select(
        NewMembersDaily, NEW_MEMBERS_COLUMNS, _new_members_select(_counted_members())
    )
    mark.last_id, mark.last_at = last_id, now
    mark.save(update_fields=["last_id", "last_at", "updated_at"])
    return written


def cohort_month_sql(column: str) -> tuple[str, list]:
    """SQL (and its parameters) for the first day of the Taipei month of a datetime column,
    as a date."""
    trunc, params = connection.ops.datetime_trunc_sql("month", column, (), settings.TIME_ZONE)
    sql = f"CAST({trunc} AS date)" if connection.vendor == "postgresql" else f"date({trunc})"
    return sql, list(params)


def cohort_select_sql(
    *, where: str = "", per_store: bool = False, segment_snapshot: int | None = None
) -> tuple[str, list]:
    """first-purchase month × activity month (× store, `per_store`: the members' purchases at
    each store; otherwise NULL, every channel) → members active (orders > 0), orders, net
    revenue, from the members' monthly activity and their cohort: the Taipei month of
    MemberStats.first_purchase_at, or (`segment_snapshot`) the same month as that segment's
    snapshot took it, for its members only. `where` narrows the rows of
    kpis_memberactivitymonthly (alias a); its parameters follow the returned ones."""
    if segment_snapshot is None:
        cohort, params = cohort_month_sql("s.first_purchase_at")
        cohorts = "crm_memberstats s ON s.member_id = a.member_id"
        first = "s.first_purchase_at"
    else:
        cohort, params = "s.first_purchase_month", []
        cohorts = "kpis_segmentsnapshotmember s ON s.member_id = a.member_id AND s.segment_id = %s"
        params.append(segment_snapshot)
        first = "s.first_purchase_month"
    store = "a.store_id" if per_store else "CAST(NULL AS integer)"
    sql = f"""
SELECT {cohort} AS cohort, a.month AS month, {store} AS store_id,
       COUNT(DISTINCT CASE WHEN a.orders > 0 THEN a.member_id END) AS members,
       SUM(a.orders) AS orders, SUM(a.revenue_twd) AS revenue_twd
FROM kpis_memberactivitymonthly a
JOIN {cohorts}
WHERE {first} IS NOT NULL {"AND a.store_id IS NOT NULL" if per_store else ""}
    {("AND " + where) if where else ""}
GROUP BY 1, 2, 3"""  # noqa: S608 (only our SQL is formatted in)
    return sql, params


def segment_cohorts_sql(
    *, segment_snapshot: int, first: date, last: date, store_id: int | None = None
) -> tuple[str, list]:
    """A segment's cohort cells, cohorts and months from `first` to `last` (at a store, when
    given): cohort_select_sql over the segment's activity rows (its columns, alias c), with
    its parameters."""
    adapt = connection.ops.adapt_datefield_value
    where, params = ["a.month >= %s", "a.month <= %s"], [adapt(first), adapt(last)]
    if store_id is not None:
        where.append("a.store_id = %s")
        params.append(store_id)
    select, select_params = cohort_select_sql(
        where=" AND ".join(where), segment_snapshot=segment_snapshot
    )
    sql = f"SELECT * FROM ({select}) c WHERE c.cohort >= %s AND c.cohort <= %s"  # noqa: S608
    return sql, [*select_params, *params, adapt(first), adapt(last)]


def _cohorts_insert(where: str = "", params: Iterable = ()) -> int:
    """Every cohort cell of the activity rows `where` selects: all channels, and each store."""
    written = 0
    for per_store in (False, True):
        select, select_params = cohort_select_sql(where=where, per_store=per_store)
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO kpis_cohortmonthly (cohort, month, store_id, members, orders,"
                " revenue_twd) " + select,
                [*select_params, *params],
            )
            written += cursor.rowcount
    return written


def cohort_months_rewrite(months: Iterable[date]) -> int:
    """Recompute every cohort's figures in these activity months."""
    written = 0
    for chunk in chunked(sorted(set(months)), MONTHS_CHUNK):
        CohortMonthly.objects.filter(month__in=chunk).delete()
        marks = ", ".join(["%s"] * len(chunk))
        values = [connection.ops.adapt_datefield_value(month) for month in chunk]
        written += _cohorts_insert(f"a.month IN ({marks})", values)
    return written


def cohorts_refresh() -> int:
    """Recompute the activity months the orders rollup rewrote since the last run."""
    return cohort_months_rewrite(kpi_months_take(COHORTS_CONSUMER))


def cohorts_mark_all() -> int:
    """Mark every activity month for the cohorts: the next refresh recomputes them all. Nightly
    after crm's rebuild of the members' figures: a cohort is the month of
    MemberStats.first_purchase_at, which a back-dated order, a merge or an import (stats
    refreshed at its end) moves without touching the months the orders rollup marks. The
    input is a rollup, so this costs a cohort rebuild, once a night. Returns months marked."""
    months = MemberActivityMonthly.objects.values_list("month", flat=True).distinct().order_by()
    marked = [KpiDirtyMonth(consumer=COHORTS_CONSUMER, month=month) for month in months]
    KpiDirtyMonth.objects.bulk_create(marked, ignore_conflicts=True)
    return len(marked)


def cohorts_rebuild() -> int:
    kpi_months_take(COHORTS_CONSUMER)  # all are recomputed now
    table_empty(CohortMonthly)
    return _cohorts_insert()


ROLLUPS.register(
    Rollup(
        name="new_members",
        refresh=new_members_refresh,
        rebuild=new_members_rebuild,
        order=15,
    )
)
# After the orders rollup (order 10): the cohorts read the members' monthly activity.
ROLLUPS.register(Rollup(name="cohorts", refresh=cohorts_refresh, rebuild=cohorts_rebuild, order=20))


# OMO per month -----------------------------------------------------------------------------

OMO_CONSUMER = "omo"  # its KpiDirtyMonth rows
_ONLINE_SQL = ", ".join(f"'{channel.value}'" for channel in ONLINE_SALES_CHANNELS)
_PER_MEMBER = f"""
SELECT a.month, a.member_id,
       SUM(CASE WHEN a.channel = '{Channel.STORE.value}' THEN a.orders ELSE 0 END) AS store,
       SUM(CASE WHEN a.channel IN ({_ONLINE_SQL}) THEN a.orders ELSE 0 END) AS online,
       SUM(a.orders) AS n, SUM(a.revenue_twd) AS revenue
FROM kpis_memberactivitymonthly a WHERE {{where}}
GROUP BY a.month, a.member_id"""  # noqa: S608 (only constants are formatted in)
_KIND = f"""CASE WHEN x.store > 0 AND x.online > 0 THEN '{OmoMonthly.Kind.OMO.value}'
    WHEN x.store > 0 THEN '{OmoMonthly.Kind.STORE_ONLY.value}'
    ELSE '{OmoMonthly.Kind.ONLINE_ONLY.value}' END"""
OMO_ALL_SQL = f"""
SELECT x.month AS month, NULL AS store_id, {_KIND} AS kind, COUNT(*) AS members,
       SUM(x.n) AS orders, SUM(x.revenue) AS revenue_twd
FROM ({_PER_MEMBER}) x WHERE x.store > 0 OR x.online > 0
GROUP BY x.month, 3"""  # noqa: S608
# Per store: the members who bought at that store in the month, classified by all they bought.
OMO_STORES_SQL = f"""
SELECT x.month, st.store_id, {_KIND}, COUNT(*), SUM(x.n), SUM(x.revenue)
FROM ({_PER_MEMBER}) x
JOIN (SELECT DISTINCT a.month, a.member_id, a.store_id FROM kpis_memberactivitymonthly a
      WHERE a.store_id IS NOT NULL AND a.orders > 0 AND {{where}}) st
  ON st.month = x.month AND st.member_id = x.member_id
WHERE x.store > 0 OR x.online > 0
GROUP BY x.month, st.store_id, 3"""  # noqa: S608
OMO_COLUMNS = "(month, store_id, kind, members, orders, revenue_twd)"


def omo_select_sql(where: str) -> tuple[str, str]:
    """The all-members and per-store OMO SELECTs over the activity rows matching `where`
    (alias a); the per-store one takes `where`'s parameters twice."""
    return OMO_ALL_SQL.format(where=where), OMO_STORES_SQL.format(where=where)


def _omo_insert(where: str, params: list) -> int:
    everyone, stores = omo_select_sql(where)
    written = 0
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO kpis_omomonthly {OMO_COLUMNS} {everyone}", params)
        written += cursor.rowcount
        cursor.execute(f"INSERT INTO kpis_omomonthly {OMO_COLUMNS} {stores}", params * 2)
        written += cursor.rowcount
    return written


def omo_months_rewrite(months: Iterable[date]) -> int:
    written = 0
    for chunk in chunked(sorted(set(months)), MONTHS_CHUNK):
        OmoMonthly.objects.filter(month__in=chunk).delete()
        marks = ", ".join(["%s"] * len(chunk))
        values = [connection.ops.adapt_datefield_value(month) for month in chunk]
        written += _omo_insert(f"a.month IN ({marks})", values)
    return written


def omo_refresh() -> int:
    """Recompute the activity months the orders rollup rewrote since the last run."""
    return omo_months_rewrite(kpi_months_take(OMO_CONSUMER))


def omo_rebuild() -> int:
    kpi_months_take(OMO_CONSUMER)  # all are recomputed now
    table_empty(OmoMonthly)
    return _omo_insert("1 = 1", [])


ROLLUPS.register(Rollup(name="omo", refresh=omo_refresh, rebuild=omo_rebuild, order=21))
