"""Members / OMO figures, read from the rollups (new members per day, members' monthly
activity, cohorts), MemberStats and the nightly customer-value summaries; never from orders.

Member-grained OMO and retention figures count whole calendar months: the period's months
(KpiFilters.months), compared with as many whole months before (KpiFilters.previous_months).
Active members are the Channels page's (selectors_sales.sales_totals: members with an order on
a day of the period), so every "Active members" figure is the same.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from django.db import connection
from django.db.models import Count, Sum

from crm.models import MemberStats
from omnichannel.channels import ONLINE_SALES_CHANNELS
from omnichannel.kpis.bulk import add_months, as_date
from omnichannel.kpis.filters import KpiFilters, month_start
from omnichannel.kpis.models import (
    ClvModelRun,
    CohortMonthly,
    MemberValueSummary,
    NewMembersDaily,
    OmoMonthly,
    SegmentCohortMonthly,
    SegmentMonthly,
)
from omnichannel.kpis.rollups_members import omo_select_sql, segment_cohorts_sql

ONLINE = [channel.value for channel in ONLINE_SALES_CHANNELS]
COHORT_MONTHS = 12  # cohorts shown, and months since the first purchase


# New members ------------------------------------------------------------------------------


def new_members_per_day(filters: KpiFilters) -> list[tuple[date, str, int]]:
    """(day, acquisition channel, members who joined) for the period; the channel filter is
    the acquisition channel, the store the home store. With a segment the members are counted
    from its snapshot's rows (SegmentSnapshotMember: joined day, channel, home store)."""
    if filters.segment is not None:
        members = filters.segment_rows().filter(
            joined_day__gte=filters.start, joined_day__lte=filters.end
        )
        if filters.store is not None:
            members = members.filter(home_store_id=filters.store.pk)
        if filters.channel:
            members = members.filter(acquisition_channel=filters.channel)
        rows = (
            members.values("joined_day", "acquisition_channel")
            .annotate(n=Count("member_id"))
            .order_by("joined_day", "acquisition_channel")
        )
        return [(row["joined_day"], row["acquisition_channel"], row["n"]) for row in rows]
    rows = NewMembersDaily.objects.filter(day__gte=filters.start, day__lte=filters.end)
    if filters.store is not None:
        rows = rows.filter(store_id=filters.store.pk)
    if filters.channel:
        rows = rows.filter(acquisition_channel=filters.channel)
    rows = (
        rows.values("day", "acquisition_channel")
        .annotate(n=Sum("members"))
        .filter(n__gt=0)
        .order_by("day", "acquisition_channel")
    )
    return [(row["day"], row["acquisition_channel"], row["n"]) for row in rows]


def new_members_total(filters: KpiFilters) -> int:
    return sum(n for _day, _channel, n in new_members_per_day(filters))


# Active members and OMO ---------------------------------------------------------------------


@dataclass(frozen=True)
class BuyerGroup:
    """Members of one kind in the period's months, their orders and net revenue."""

    members: int
    orders: int
    revenue_twd: int

    @property
    def spend_per_member(self) -> float | None:
        return self.revenue_twd / self.members if self.members else None

    @property
    def orders_per_member(self) -> float | None:
        return self.orders / self.members if self.members else None


@dataclass(frozen=True)
class OmoFigures:
    """Active member-months split by where the member bought that month: both online and in
    store (OMO), only in store, only online (any of the online sales channels)."""

    omo: BuyerGroup
    store_only: BuyerGroup
    online_only: BuyerGroup

    @property
    def active(self) -> int:
        return self.omo.members + self.store_only.members + self.online_only.members

    @property
    def single(self) -> BuyerGroup:
        return BuyerGroup(
            self.store_only.members + self.online_only.members,
            self.store_only.orders + self.online_only.orders,
            self.store_only.revenue_twd + self.online_only.revenue_twd,
        )

    @property
    def omo_share(self) -> float | None:
        """OMO members as a percentage (0–100) of active members."""
        return self.omo.members * 100 / self.active if self.active else None

    @property
    def spend_premium(self) -> float | None:
        """OMO members' spend per member ÷ single-channel members' (×)."""
        omo, single = self.omo.spend_per_member, self.single.spend_per_member
        return omo / single if omo is not None and single else None

    @property
    def frequency_premium(self) -> float | None:
        omo, single = self.omo.orders_per_member, self.single.orders_per_member
        return omo / single if omo is not None and single else None


def omo_figures(filters: KpiFilters) -> OmoFigures:
    """Active members per calendar month of the period, by where they bought that month,
    summed over the months (member-months: a member active in two months counts in each).
    From the OMO rollup, or a segment's kept months; without them (or at a store) a segment
    classifies its members' activity on the fly. A store
    narrows to the members who bought at that store that month (their online purchases still
    count: that is what OMO is); the channel filter does not apply (OMO is across channels)."""
    if filters.segment is None or filters.segment_figures_cover():
        if filters.segment is not None:  # its kept months (omnichannel/kpis/segment_figures.py)
            rows = SegmentMonthly.objects.filter(
                segment_id=filters.segment_snapshot, month__in=filters.months
            ).exclude(kind=SegmentMonthly.HOLDERS)
        elif filters.store is not None:
            rows = OmoMonthly.objects.filter(month__in=filters.months, store_id=filters.store.pk)
        else:
            rows = OmoMonthly.objects.filter(month__in=filters.months, store_id__isnull=True)
        sums = {
            row["kind"]: BuyerGroup(row["m"], row["n"], row["revenue"])
            for row in rows.values("kind")
            .annotate(m=Sum("members"), n=Sum("orders"), revenue=Sum("revenue_twd"))
            .order_by()
        }
        empty = BuyerGroup(0, 0, 0)
        return OmoFigures(
            omo=sums.get(OmoMonthly.Kind.OMO, empty),
            store_only=sums.get(OmoMonthly.Kind.STORE_ONLY, empty),
            online_only=sums.get(OmoMonthly.Kind.ONLINE_ONLY, empty),
        )
    return _omo_live(filters)


def _omo_live(filters: KpiFilters) -> OmoFigures:
    """The OMO split of a segment's members, classified on the fly by the very SELECT the OMO
    rollup writes (rollups_members.omo_select_sql: one KPI rule, "bought both online and in
    store in the same month"), over the period's months and the segment's activity rows."""
    adapt = connection.ops.adapt_datefield_value
    marks = ", ".join(["%s"] * len(filters.months))
    where, params = [f"a.month IN ({marks})"], [adapt(month) for month in filters.months]
    members = filters.segment_members()
    if members is not None:
        sql, segment_params = members.query.sql_with_params()
        where.append(f"a.member_id IN ({sql})")
        params.extend(segment_params)
    everyone, stores = omo_select_sql(" AND ".join(where))
    if filters.store is None:
        query, query_params = everyone, params
    else:
        query = f"SELECT * FROM ({stores}) o WHERE o.store_id = %s"  # noqa: S608
        query_params = [*params, *params, filters.store.pk]
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    with connection.cursor() as cursor:
        cursor.execute(query, query_params)
        for _month, _store, kind, members_n, orders, revenue in cursor:
            total = sums[kind]
            total[0] += members_n
            total[1] += int(orders or 0)
            total[2] += int(revenue or 0)
    return OmoFigures(
        omo=BuyerGroup(*sums[OmoMonthly.Kind.OMO.value]),
        store_only=BuyerGroup(*sums[OmoMonthly.Kind.STORE_ONLY.value]),
        online_only=BuyerGroup(*sums[OmoMonthly.Kind.ONLINE_ONLY.value]),
    )


# Cohort retention ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortRow:
    cohort: date
    size: int  # members active in their first-purchase month
    members: list[int]  # active members k months after (k = 0 …), up to the period's end
    revenue_twd: list[int]

    def retained(self, k: int) -> float | None:
        """Percentage of the cohort active k months after its first purchase."""
        if k >= len(self.members) or not self.size:
            return None
        return self.members[k] * 100 / self.size


def cohort_retention(filters: KpiFilters) -> list[CohortRow]:
    """The COHORT_MONTHS first-purchase months up to the period's end month, each with its
    active members per month since, up to that month. Read from the cohort rollup (its store
    cells for a store); a segment's from its kept cells when they end at that month
    (omnichannel/kpis/segment_figures.py), else from its members' activity on the fly (bounded
    by those months)."""
    last = month_start(filters.end)
    first = add_months(last, -(COHORT_MONTHS - 1))
    if (
        filters.segment is not None
        and filters.store is None
        and filters.segment_figures_month == last
    ):
        rows = SegmentCohortMonthly.objects.filter(
            segment_id=filters.segment_snapshot, cohort__gte=first, month__gte=first
        ).values_list("cohort", "month", "members", "revenue_twd")
    elif filters.segment is None:
        rows = CohortMonthly.objects.filter(
            cohort__gte=first,
            cohort__lte=last,
            month__gte=first,
            month__lte=last,
            store_id=filters.store.pk if filters.store else None,
        ).values_list("cohort", "month", "members", "revenue_twd")
    else:
        rows = _cohorts_live(filters, first, last)
    cells: dict[date, dict[date, tuple[int, int]]] = defaultdict(dict)
    for cohort, month, members, revenue in rows:
        cells[as_date(cohort)][as_date(month)] = (members, revenue)
    result = []
    cohort = first
    while cohort <= last:
        span = (last.year - cohort.year) * 12 + last.month - cohort.month + 1
        months = [cells[cohort].get(add_months(cohort, k), (0, 0)) for k in range(span)]
        if months[0][0]:
            result.append(
                CohortRow(
                    cohort=cohort,
                    size=months[0][0],
                    members=[members for members, _revenue in months],
                    revenue_twd=[revenue for _members, revenue in months],
                )
            )
        cohort = add_months(cohort, 1)
    return result


def _cohorts_live(filters: KpiFilters, first: date, last: date) -> list[tuple]:
    """A segment's cohorts: the rollup's SELECT over the segment's activity rows, each
    member's cohort read from the segment's snapshot."""
    query, params = segment_cohorts_sql(
        segment_snapshot=filters.segment_snapshot,
        first=first,
        last=last,
        store_id=filters.store.pk if filters.store else None,
    )
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return [
            (cohort, month, members, revenue)
            for cohort, month, _store, members, _orders, revenue in cursor
        ]


# Customer value and RFM (the nightly fit's summaries) --------------------------------------


def clv_last_run() -> ClvModelRun | None:
    return (
        ClvModelRun.objects.filter(status=ClvModelRun.Status.DONE).order_by("-finished_at").first()
    )


@dataclass(frozen=True)
class ValueRow:
    key: str
    members: int
    buyers: int
    revenue_twd: int
    predicted_clv_12m_twd: int
    predicted_purchases_12m: float

    @property
    def historic_clv(self) -> float | None:
        """Net revenue to date per member of the group."""
        return self.revenue_twd / self.members if self.members else None

    @property
    def historic_clv_per_buyer(self) -> float | None:
        return self.revenue_twd / self.buyers if self.buyers else None

    @property
    def predicted_clv(self) -> float | None:
        """Predicted net revenue of the next 12 months per member who has bought."""
        return self.predicted_clv_12m_twd / self.buyers if self.buyers else None


def value_summary(run: ClvModelRun, dimension: str) -> list[ValueRow]:
    rows = MemberValueSummary.objects.filter(run_id=run.pk, dimension=dimension).order_by("key")
    return [
        ValueRow(
            row.key,
            row.members,
            row.buyers,
            row.revenue_twd,
            row.predicted_clv_12m_twd,
            row.predicted_purchases_12m,
        )
        for row in rows
    ]


def rfm_grid(filters: KpiFilters, run: ClvModelRun | None) -> dict[tuple[int, int], tuple]:
    """(R, F) → (members, net revenue of the last 365 days) of members with RFM scores: from
    the nightly summary, or from MemberStats for a segment (its members only)."""
    if filters.segment is None and run is not None:
        return {
            (int(row.key[0]), int(row.key[2])): (row.members, row.revenue_365d_twd)
            for row in MemberValueSummary.objects.filter(
                run_id=run.pk, dimension=MemberValueSummary.Dimension.RFM
            )
        }
    # A segment's scores as of its snapshot; everyone's, before the first nightly fit.
    rows = MemberStats.objects.all() if filters.segment is None else filters.segment_rows()
    rows = (
        rows.filter(rfm_recency__isnull=False)
        .values("rfm_recency", "rfm_frequency")
        .annotate(n=Count("member_id"), revenue=Sum("spend_365d_twd"))
        .order_by()
    )
    return {
        (row["rfm_recency"], row["rfm_frequency"]): (row["n"], row["revenue"] or 0) for row in rows
    }
