"""Wallet-card holders per month: who held a card when, and the holders' active months.

A member holds a card from the Taipei day of their first card added to the day of their last
card removed when none is left (the rule of WalletDaily's members' rows, which now read the
spans from here). WalletPass keeps each card's current state only, with no feed of changes,
so the refresh compares the spans the cards give now with the kept ones (WalletHolding) in
one query, writes the members whose span changed and marks the months a change can move:
from the earliest day any changed span started or stopped (old or new) to this month. A card
added today marks this month only.

The holders' months (WalletHoldersMonthly) are recomputed for the months marked here and for
those the orders rollup marked (their activity changed), from the monthly activity and the
spans: a member-month is a holder's when the member held a card at the month's end (for this
month: holds one now). Rebuild recomputes both tables whole.
"""

from datetime import date

from django.db import connection
from django.db.models import (
    Case,
    DateField,
    IntegerField,
    Max,
    Min,
    Q,
    QuerySet,
    When,
)
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from crm.bulk import chunked
from loyalty.models import WalletPass
from omnichannel.kpis.bulk import as_date, insert_select, local_zone, table_empty
from omnichannel.kpis.filters import months_between
from omnichannel.kpis.models import MemberActivityMonthly, WalletHoldersMonthly, WalletHolding
from omnichannel.kpis.registry import ROLLUPS, Rollup
from omnichannel.kpis.rollups_orders import kpi_months_mark, kpi_months_take
from omnichannel.kpis.selectors_loyalty import holders_per_month

HOLDERS_CONSUMER = "holders"  # its KpiDirtyMonth rows
HOLDING_COLUMNS = ("member_id", "from_day", "to_day", "from_month", "to_month")
HOLDERS_COLUMNS = ("month", "members", "orders")
MONTHS_CHUNK = 12
IDS_CHUNK = 5_000


def holdings_now() -> QuerySet:
    """Each member's span as the cards tell it now (one grouped scan of WalletPass), in
    HOLDING_COLUMNS' order."""
    zone = local_zone()
    holding = Max(Case(When(installed=True, then=1), default=0, output_field=IntegerField()))
    stopped = Q(holding=0, last_removed_at__isnull=False)
    return (
        WalletPass.objects.filter(installed_at__isnull=False)
        .values("member_id")
        .annotate(first_at=Min("installed_at"), last_removed_at=Max("removed_at"), holding=holding)
        .annotate(
            from_day=TruncDate("first_at", tzinfo=zone),
            to_day=Case(
                When(stopped, then=TruncDate("last_removed_at", tzinfo=zone)),
                output_field=DateField(),
            ),
            from_month=TruncMonth("first_at", tzinfo=zone, output_field=DateField()),
            to_month=Case(
                When(
                    stopped,
                    then=TruncMonth("last_removed_at", tzinfo=zone, output_field=DateField()),
                ),
                output_field=DateField(),
            ),
        )
        .values(*HOLDING_COLUMNS)
        .order_by()
    )


def _changed_spans() -> list[tuple]:
    """The members whose span now differs from the kept one, or who have none kept: rows of
    HOLDING_COLUMNS' values followed by the kept from_day and to_day (None when none)."""
    now_sql, params = holdings_now().query.sql_with_params()
    table = connection.ops.quote_name(WalletHolding._meta.db_table)
    never = connection.ops.adapt_datefield_value(date.max)
    sql = (
        "SELECT n.member_id, n.from_day, n.to_day, n.from_month, n.to_month, "  # noqa: S608
        f"h.from_day, h.to_day FROM ({now_sql}) n "
        f"LEFT JOIN {table} h ON h.member_id = n.member_id "
        "WHERE h.id IS NULL OR h.from_day <> n.from_day "
        "OR COALESCE(h.to_day, %s) <> COALESCE(n.to_day, %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, (*params, never, never))
        return [(row[0], *map(as_date, row[1:])) for row in cursor.fetchall()]


def holdings_refresh() -> int:
    """Write the spans that changed since the last run, mark the months they can move.
    Returns the members written or dropped."""
    changed = _changed_spans()
    gone = list(
        WalletHolding.objects.exclude(
            member_id__in=WalletPass.objects.filter(installed_at__isnull=False).values("member_id")
        ).values_list("member_id", "from_day")
    )
    if not changed and not gone:
        return 0
    ids = [row[0] for row in changed] + [member_id for member_id, _from_day in gone]
    for chunk in chunked(ids, IDS_CHUNK):
        WalletHolding.objects.filter(member_id__in=chunk)._raw_delete(WalletHolding.objects.db)
    WalletHolding.objects.bulk_create(
        (WalletHolding(**dict(zip(HOLDING_COLUMNS, row[:5], strict=True))) for row in changed),
        batch_size=IDS_CHUNK,
    )
    # Before the earliest day a span (old or new) started or stopped, no one's status moved.
    days = [day for row in changed for day in (row[1], row[2], row[5], row[6]) if day]
    days += [from_day for _member_id, from_day in gone]
    kpi_months_mark(months_between(min(days), timezone.localdate()), consumers=(HOLDERS_CONSUMER,))
    return len(ids)


def holdings_rebuild() -> int:
    table_empty(WalletHolding)
    return insert_select(WalletHolding, HOLDING_COLUMNS, holdings_now())


def holders_months_rewrite(months) -> int:
    written = 0
    for chunk in chunked(sorted(set(months)), MONTHS_CHUNK):
        WalletHoldersMonthly.objects.filter(month__in=chunk).delete()
        rows = MemberActivityMonthly.objects.filter(month__in=chunk)
        written += insert_select(WalletHoldersMonthly, HOLDERS_COLUMNS, holders_per_month(rows))
    return written


def holders_refresh() -> int:
    """Recompute the months whose spans or activity changed since the last run."""
    return holders_months_rewrite(kpi_months_take(HOLDERS_CONSUMER))


def holders_rebuild() -> int:
    kpi_months_take(HOLDERS_CONSUMER)  # all are recomputed now
    table_empty(WalletHoldersMonthly)
    rows = MemberActivityMonthly.objects.all()
    return insert_select(WalletHoldersMonthly, HOLDERS_COLUMNS, holders_per_month(rows))


# Before the wallet rollup (order 31), whose members' rows read the spans; the holders' months
# after the orders rollup (order 10) and the spans.
ROLLUPS.register(
    Rollup(name="holdings", refresh=holdings_refresh, rebuild=holdings_rebuild, order=29)
)
ROLLUPS.register(Rollup(name="holders", refresh=holders_refresh, rebuild=holders_rebuild, order=33))
