"""Loyalty figures read from the points and wallet rollups and from loyalty's small tables
(tiers, tier changes, coupons), never from the ledger per request.

Every rule is loyalty's own (loyalty.selectors_overview): what counts as issued, redeemed and
expired (`flows_from_sums`), the breakage rate and its 12-month window (`breakage_window`,
`breakage_of`), the liability and its forecast (`Liability`), the tier table (`tier_rows`) and
the coupons per reward (`top_rewards`). This module only feeds them the rollups' sums.

The points outstanding at a day's end are the sum of every ledger entry up to that day (a
balance equals its ledger sum, DESIGN.md §4): the rollup's rows up to the day, at most a few
thousand however large the ledger.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from crm.models import Member
from loyalty.models import Programme, Tier, WalletPass
from loyalty.selectors_overview import (
    Breakage,
    Flows,
    Liability,
    Period,
    RewardRow,
    TierRowShare,
    breakage_of,
    breakage_window,
    flows_from_sums,
    tier_moves,
    tier_rows,
    top_rewards,
)
from omnichannel.kpis.filters import KpiFilters
from omnichannel.kpis.models import (
    MemberActivityMonthly,
    OmoMonthly,
    PointsDaily,
    RollupWatermark,
    SegmentMonthly,
    TierAccountsNow,
    WalletDaily,
    WalletHoldersMonthly,
    WalletHolding,
)

ALL_REWARDS = 1_000  # rewards are a short list; the coupon table shows them all
PLATFORMS = tuple(WalletPass.Platform)


def _period(filters: KpiFilters) -> Period:
    return Period(start=filters.start, end=filters.end)


def _sums(rows) -> Flows:
    credit: dict[str, int] = defaultdict(int)
    debit: dict[str, int] = defaultdict(int)
    for row in rows:
        credit[row["kind"]] += row["credit_sum"] or 0
        debit[row["kind"]] += row["debit_sum"] or 0
    return flows_from_sums(credit=credit, debit=debit)


def _points(start: date | None, end: date):
    rows = PointsDaily.objects.filter(day__lte=end)
    return rows.filter(day__gte=start) if start is not None else rows


def points_flows(filters: KpiFilters) -> Flows:
    """Points issued, redeemed, expired and otherwise moved in the period (loyalty's rule)."""
    rows = (
        _points(filters.start, filters.end)
        .values("kind")
        .annotate(credit_sum=Sum("credit"), debit_sum=Sum("debit"))
        .order_by()
    )
    return _sums(rows)


@dataclass(frozen=True)
class DayPoints:
    day: date
    flows: Flows
    outstanding: int  # points outstanding at the day's end


def points_per_day(filters: KpiFilters) -> list[DayPoints]:
    """Each day of the period (today at most) with its flows and the points outstanding."""
    last = min(filters.end, timezone.localdate())
    if last < filters.start:
        return []
    opening = points_outstanding(filters.start - timedelta(days=1))
    by_day: dict[date, list[dict]] = defaultdict(list)
    for row in (
        _points(filters.start, last)
        .values("day", "kind")
        .annotate(credit_sum=Sum("credit"), debit_sum=Sum("debit"))
        .order_by()
    ):
        by_day[row["day"]].append(row)
    days, day, balance = [], filters.start, opening
    while day <= last:
        rows = by_day.get(day, [])
        balance += sum((row["credit_sum"] or 0) + (row["debit_sum"] or 0) for row in rows)
        days.append(DayPoints(day=day, flows=_sums(rows), outstanding=balance))
        day += timedelta(days=1)
    return days


def points_outstanding(day: date) -> int:
    """The points outstanding at the end of the Taipei day."""
    total = _points(None, day).aggregate(total=Sum("credit") + Sum("debit"))["total"]
    return total or 0


def points_breakage(*, until: date) -> Breakage:
    """Loyalty's breakage rate over its 12-month window ending `until`, from the rollup."""
    window = breakage_window(until=until)
    flows = points_flows(KpiFilters(start=window.start, end=window.end))
    return breakage_of(window=window, redeemed=flows.redeemed, expired=flows.expired)


def points_liability(filters: KpiFilters) -> Liability:
    """The points outstanding at the period's end (today for a period still running), what
    they are worth in NT$ and expected to cost (loyalty's method)."""
    until = min(filters.end, timezone.localdate())
    return Liability(
        outstanding=points_outstanding(until),
        point_value_twd=Programme.current().point_value_twd,
        breakage=points_breakage(until=until),
    )


def tiers(filters: KpiFilters) -> list[TierRowShare]:
    """Members per tier as of the last refresh (counted live before the first) and the moves
    into each tier in the period (loyalty's table)."""
    held = {row.tier_id: (row.accounts, row.points) for row in TierAccountsNow.objects.all()}
    rows, _accounts, _points_now = tier_rows(period=_period(filters), held=held or None)
    return rows


def tier_moves_total(filters: KpiFilters) -> tuple[int, int]:
    """Upgrades and downgrades in the period (without the tiers' member counts)."""
    rank = dict(Tier.objects.values_list("pk", "rank"))
    upgrades, downgrades = tier_moves(period=_period(filters), rank=rank)
    return sum(upgrades.values()), sum(downgrades.values())


def coupons_by_reward(filters: KpiFilters) -> list[RewardRow]:
    """Coupons issued in the period per reward and how many of them are used."""
    return top_rewards(period=_period(filters), limit=ALL_REWARDS)


@dataclass(frozen=True)
class WalletDay:
    day: date
    platform: str  # "" for members with a card in any wallet
    added: int
    removed: int
    in_wallets: int  # at the day's end


def wallet_per_day(filters: KpiFilters) -> list[WalletDay]:
    """Cards added, removed and in wallets per day and platform, and members holding one."""
    last = min(filters.end, timezone.localdate())
    if last < filters.start:
        return []
    before = dict(
        WalletDaily.objects.filter(day__lt=filters.start)
        .values("platform")
        .annotate(net=Sum("added") - Sum("removed"))
        .order_by()
        .values_list("platform", "net")
    )
    moves = {
        (row["day"], row["platform"]): row
        for row in WalletDaily.objects.filter(day__gte=filters.start, day__lte=last)
        .values("day", "platform")
        .annotate(added_sum=Sum("added"), removed_sum=Sum("removed"))
        .order_by()
    }
    days = []
    for platform in ("", *PLATFORMS):
        held, day = before.get(platform) or 0, filters.start
        while day <= last:
            row = moves.get((day, platform), {})
            added, removed = row.get("added_sum") or 0, row.get("removed_sum") or 0
            held += added - removed
            days.append(WalletDay(day, platform, added, removed, held))
            day += timedelta(days=1)
    return days


@dataclass(frozen=True)
class WalletTotals:
    holders: int  # members with a card in a wallet at the period's end
    members: int  # members now (merged ones not counted)
    added: int  # cards added in the period
    removed: int

    @property
    def adoption_percent(self) -> float | None:
        return self.holders * 100 / self.members if self.members else None


MEMBERS_MARK = "kpis.members"


def members_count_live() -> int:
    """Members now (merged ones are tombstones, not counted): a count of the member table,
    for the wallet rollup (every refresh), not for a page."""
    return Member.objects.exclude(status=Member.Status.MERGED).count()


def members_count() -> int:
    """Members (merged ones are tombstones, not counted) as of the last wallet refresh: one
    row read (RollupWatermark "kpis.members", written by rollups_loyalty's wallet rollup),
    not a count of every member per request. Before the first refresh, counted live."""
    mark = RollupWatermark.objects.filter(name=MEMBERS_MARK).values_list("last_id", flat=True)
    known = mark.first()
    return members_count_live() if known is None else known


def wallet_totals(filters: KpiFilters, *, members: int | None = None) -> WalletTotals:
    """Holders at the period's end, cards added and removed in it; `members` when known."""
    last = min(filters.end, timezone.localdate())
    holders = WalletDaily.objects.filter(platform="", day__lte=last).aggregate(
        n=Sum("added") - Sum("removed")
    )["n"]
    moved = WalletDaily.objects.filter(
        ~Q(platform=""), day__gte=filters.start, day__lte=last
    ).aggregate(added=Sum("added"), removed=Sum("removed"))
    return WalletTotals(
        holders=holders or 0,
        members=members_count() if members is None else members,
        added=moved["added"] or 0,
        removed=moved["removed"] or 0,
    )


@dataclass(frozen=True)
class Frequency:
    """Orders per active member per month: orders / member-months with an order."""

    member_months: int
    orders: int

    @property
    def per_member_month(self) -> float | None:
        return self.orders / self.member_months if self.member_months else None


@dataclass(frozen=True)
class HoldersFrequency:
    holders: Frequency
    others: Frequency

    @property
    def ratio(self) -> float | None:
        """How many times as often holders buy as the others (None without both)."""
        mine, theirs = self.holders.per_member_month, self.others.per_member_month
        return mine / theirs if mine is not None and theirs else None


def holders_per_month(rows: QuerySet[MemberActivityMonthly]) -> QuerySet:
    """Per month of these activity rows: the active members who held a wallet card at its end
    (WalletHolding) and their orders (columns month, members, orders_sum). The one rule of who
    counts as a holder: the rollup (WalletHoldersMonthly) and a segment's figure both use it."""
    held = WalletHolding.objects.filter(
        Q(to_month__isnull=True) | Q(to_month__gt=OuterRef("month")),
        member_id=OuterRef("member_id"),
        from_month__lte=OuterRef("month"),
    )
    return _active_per_month(rows.filter(Exists(held)))


def _active_per_month(rows: QuerySet[MemberActivityMonthly]) -> QuerySet:
    """Per month: the active members of these rows and their orders (columns month, members,
    orders_sum)."""
    return (
        rows.filter(orders__gt=0)
        .values("month")
        .annotate(members=Count("member_id", distinct=True), orders_sum=Sum("orders"))
        .order_by()
    )


def _frequency(per_month) -> Frequency:
    months = list(per_month)
    return Frequency(
        member_months=sum(month["members"] for month in months),
        orders=sum(month["orders_sum"] or 0 for month in months),
    )


def holders_frequency(filters: KpiFilters) -> HoldersFrequency:
    """Purchase frequency of the members who held a wallet card at a month's end (this month:
    now) against the other active members, over the period's calendar months (the segment
    narrows both). Kept per month: the holders' (WalletHoldersMonthly) and everyone's (the OMO
    rollup: its three kinds are every member active in the month, its orders all of theirs);
    for a segment, both from its kept months (the same rules), or its members' monthly
    activity."""
    if filters.segment is None:
        sums = WalletHoldersMonthly.objects.filter(month__in=filters.months).aggregate(
            members_sum=Sum("members"), orders_sum=Sum("orders")
        )
        mine = Frequency(member_months=sums["members_sum"] or 0, orders=sums["orders_sum"] or 0)
        sums = OmoMonthly.objects.filter(month__in=filters.months, store_id__isnull=True).aggregate(
            members_sum=Sum("members"), orders_sum=Sum("orders")
        )
        everyone = Frequency(member_months=sums["members_sum"] or 0, orders=sums["orders_sum"] or 0)
    elif filters.segment_figures_cover():  # its kept months (segment_figures.py)
        kept = SegmentMonthly.objects.filter(
            segment_id=filters.segment_snapshot, month__in=filters.months
        )
        sums = kept.aggregate(
            holders_members=Sum("members", filter=Q(kind=SegmentMonthly.HOLDERS)),
            holders_orders=Sum("orders", filter=Q(kind=SegmentMonthly.HOLDERS)),
            members_sum=Sum("members", filter=~Q(kind=SegmentMonthly.HOLDERS)),
            orders_sum=Sum("orders", filter=~Q(kind=SegmentMonthly.HOLDERS)),
        )
        mine = Frequency(
            member_months=sums["holders_members"] or 0, orders=sums["holders_orders"] or 0
        )
        everyone = Frequency(member_months=sums["members_sum"] or 0, orders=sums["orders_sum"] or 0)
    else:
        rows = MemberActivityMonthly.objects.filter(month__in=filters.months).filter(
            filters.member_q()
        )
        mine = _frequency(holders_per_month(rows))
        everyone = _frequency(_active_per_month(rows))
    return HoldersFrequency(
        holders=mine,
        others=Frequency(
            member_months=everyone.member_months - mine.member_months,
            orders=everyone.orders - mine.orders,
        ),
    )
