"""Sales figures read from the order rollups (never from orders): per day and sales channel,
per channel over a period, and active members (members with a sale on a day of the period)."""

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Q, Sum

from omnichannel.channels import SALES_CHANNELS
from omnichannel.kpis.filters import KpiFilters
from omnichannel.kpis.models import MemberActivityDaily, SalesDaily


@dataclass(frozen=True)
class SalesTotals:
    orders: int
    revenue_twd: int
    active_members: int  # members with a sale on a day of the period

    @property
    def average_order_twd(self) -> float | None:
        return self.revenue_twd / self.orders if self.orders else None


def _sales(filters: KpiFilters):
    rows = SalesDaily.objects.filter(day__gte=filters.start, day__lte=filters.end)
    if filters.store is not None:
        rows = rows.filter(store_id=filters.store.pk)
    if filters.sales_channel:
        rows = rows.filter(channel=filters.sales_channel)
    return rows


def _activity(filters: KpiFilters, *, per_channel: bool = False):
    """The members active in the period in the filters' scope, one row each (per channel when
    `per_channel`): the period's active rows whose previous active day in that scope is before
    the period (MemberActivityDaily), so they count without DISTINCT."""
    if filters.store is not None:
        previous = "previous_day_store"
    elif filters.sales_channel or per_channel:
        previous = "previous_day_channel"
    else:
        previous = "previous_day"
    rows = MemberActivityDaily.objects.filter(
        Q(**{f"{previous}__isnull": True}) | Q(**{f"{previous}__lt": filters.start}),
        day__gte=filters.start,
        day__lte=filters.end,
        orders__gt=0,
    )
    if filters.store is not None:
        rows = rows.filter(store_id=filters.store.pk)
    if filters.sales_channel:
        rows = rows.filter(channel=filters.sales_channel)
    elif per_channel:
        # The channel scope's index leads with the channel: naming every channel lets
        # PostgreSQL descend it once per channel to the period instead of reading all of it
        # (bench/kpi_pages.py: 30 days 385 ms -> 80 ms).
        rows = rows.filter(channel__in=SALES_CHANNELS)
    return rows.filter(filters.member_q())


@dataclass(frozen=True)
class ActiveMembers:
    total: int
    per_channel: dict[str, int]


def active_members(filters: KpiFilters) -> ActiveMembers:
    """The members active in the period, in all and per sales channel. Without a store or a
    channel narrowing them, both in one pass over the period's active rows (the any-channel
    index carries the channel and its previous day too): a year with a segment read them
    twice, hashing the segment each time. Otherwise each scope's own count."""
    if filters.store is not None or filters.sales_channel:
        return ActiveMembers(total=_activity(filters).count(), per_channel=_per_channel(filters))
    start = filters.start
    rows = list(
        MemberActivityDaily.objects.filter(day__gte=start, day__lte=filters.end, orders__gt=0)
        .filter(filters.member_q())
        .values("channel")
        .annotate(
            in_channel=Count(
                "member_id",
                filter=Q(previous_day_channel__isnull=True) | Q(previous_day_channel__lt=start),
            ),
            in_any=Count(
                "member_id", filter=Q(previous_day__isnull=True) | Q(previous_day__lt=start)
            ),
        )
        .order_by()
    )
    return ActiveMembers(
        total=sum(row["in_any"] for row in rows),
        per_channel={row["channel"]: row["in_channel"] for row in rows},
    )


def _per_channel(filters: KpiFilters) -> dict[str, int]:
    return dict(
        _activity(filters, per_channel=True)
        .values("channel")
        .annotate(n=Count("member_id"))  # in the index: an index-only scan
        .order_by()
        .values_list("channel", "n")
    )


def sales_totals(filters: KpiFilters, *, active: ActiveMembers | None = None) -> SalesTotals:
    """Orders, net revenue and active members; `active` when the caller has them already."""
    totals = _sales(filters).aggregate(orders=Sum("orders"), revenue=Sum("revenue_twd"))
    members = active.total if active is not None else _activity(filters).count()
    return SalesTotals(
        orders=totals["orders"] or 0, revenue_twd=totals["revenue"] or 0, active_members=members
    )


@dataclass(frozen=True)
class ChannelSales:
    channel: str
    orders: int
    revenue_twd: int
    active_members: int

    @property
    def average_order_twd(self) -> float | None:
        return self.revenue_twd / self.orders if self.orders else None


def sales_by_channel(
    filters: KpiFilters, *, active: ActiveMembers | None = None
) -> list[ChannelSales]:
    """One row per sales channel (all of them, in the vocabulary's order); `active` when the
    caller has them already."""
    sums = {
        row["channel"]: row
        for row in _sales(filters)
        .values("channel")
        .annotate(orders_sum=Sum("orders"), revenue=Sum("revenue_twd"))
        .order_by()
    }
    per_channel = active.per_channel if active is not None else _per_channel(filters)
    channels = [filters.sales_channel] if filters.sales_channel else list(SALES_CHANNELS)
    return [
        ChannelSales(
            channel=channel,
            orders=sums.get(channel, {}).get("orders_sum") or 0,
            revenue_twd=sums.get(channel, {}).get("revenue") or 0,
            active_members=per_channel.get(channel, 0),
        )
        for channel in channels
    ]


@dataclass(frozen=True)
class DaySales:
    day: date
    channel: str
    orders: int
    revenue_twd: int


def sales_per_day(filters: KpiFilters) -> list[DaySales]:
    """Orders and net revenue per day and sales channel (days without sales left out)."""
    rows = (
        _sales(filters)
        .values("day", "channel")
        .annotate(orders_sum=Sum("orders"), revenue=Sum("revenue_twd"))
        .filter(Q(orders_sum__gt=0) | ~Q(revenue=0))
        .order_by("day", "channel")
    )
    return [DaySales(row["day"], row["channel"], row["orders_sum"], row["revenue"]) for row in rows]
