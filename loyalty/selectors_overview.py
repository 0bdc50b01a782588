"""The programme at a glance (/loyalty/) and a member's points history: reads only, aggregates.

Every figure of the overview is an aggregate the database computes over an index; no query
reads rows one by one, and none grows with the number of members but the tier distribution,
which is an index-only scan of (tier, balance):
- the points that moved in a period, per kind: one range scan of the ledger's (kind, at) index,
  which also holds the points (an index-only scan on PostgreSQL);
- the points outstanding at the period's end: today's balances (Σ of (tier, balance)) less what
  the ledger moved after the period (the balance equals the ledger sum, DESIGN.md §4), so a
  period in the past needs no replay of the ledger;
- the breakage forecast (THE METHOD): of the points that left members' accounts in the 12 months
  up to the period's end by being redeemed or by expiring, the share that expired. That share
  is the breakage rate; the points outstanding × their value in NT$ is the liability, and the
  liability × (1 − breakage) is what the outstanding points are expected to cost. Without a
  redemption or an expiry in those 12 months there is no rate to observe: the forecast then
  assumes every point will be used (breakage 0), the prudent figure.
- tier movements: TierChange in the period grouped by (from, to): at most tiers² rows.
- top rewards: coupons issued in the period grouped by reward, over the (issued_at, reward)
  index.

At 1M accounts and 10M entries the range scans are bounded by the period; a year's period reads
a year of entries. Should that ever be too slow, the rollup to add is one row per (Taipei day,
kind) with the points' sum, written by the nightly job: the flows, the chart and the breakage
then read at most 365 × kinds rows (bench/loyalty_overview.py measures the plain aggregates).

A member's history is read newest first by keyset on the (account, seq) unique index, filtered
by kind and Taipei days; a page is one query however long the history.
"""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.core import signing
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate, TruncMonth, TruncWeek
from django.utils import timezone

from loyalty.models import Coupon, PointsAccount, PointsTransaction, Programme, Tier, TierChange

Kind = PointsTransaction.Kind
BREAKAGE_WINDOW_YEARS = 1
TOP_REWARDS = 10
HISTORY_PAGE_SIZE = 50
# A chart of a long period groups its days into weeks, a very long one into months, so it
# never draws more than about a hundred bars per series.
DAILY_UP_TO_DAYS = 92
WEEKLY_UP_TO_DAYS = 731


@dataclass(frozen=True)
class Period:
    """Taipei days from `start` to `end`, both included."""

    start: date
    end: date

    @property
    def start_at(self) -> datetime:
        return _day_start(self.start)

    @property
    def end_at(self) -> datetime:
        """The first instant after the period (the next day's midnight in Taipei)."""
        return _day_start(self.end + timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def default_period(*, today: date | None = None, days: int = 30) -> Period:
    """The last `days` Taipei days, today included."""
    today = today or timezone.localdate()
    return Period(start=today - timedelta(days=days - 1), end=today)


@dataclass(frozen=True)
class Flows:
    """Points that moved in a period (all positive numbers but `other`, which is signed)."""

    issued: int = 0  # earned, and added by hand
    redeemed: int = 0
    expired: int = 0
    other: int = 0  # reversed for returns, taken off by hand (and the net of transfers: 0)


@dataclass(frozen=True)
class Breakage:
    """The observed breakage rate and the forecast it gives (see the module docstring)."""

    since: date
    until: date
    redeemed: int
    expired: int
    rate: float | None  # None: nothing redeemed or expired in the window

    @property
    def rate_used(self) -> float:
        return self.rate if self.rate is not None else 0.0

    @property
    def percent(self) -> float | None:
        return self.rate * 100 if self.rate is not None else None


@dataclass(frozen=True)
class Liability:
    """What the points outstanding are worth and are expected to cost (THE METHOD above):
    liability = points × their value in NT$; expected cost = liability × (1 − breakage)."""

    outstanding: int
    point_value_twd: int
    breakage: Breakage

    @property
    def liability_twd(self) -> int:
        return self.outstanding * self.point_value_twd

    @property
    def expected_cost_twd(self) -> int:
        return round(self.liability_twd * (1 - self.breakage.rate_used))

    @property
    def expected_breakage_twd(self) -> int:
        return self.liability_twd - self.expected_cost_twd


@dataclass(frozen=True)
class TierRow:
    tier: Tier | None  # None: accounts not placed in a tier yet
    accounts: int
    points: int
    upgrades: int  # moves into this tier from a lower one (or from none) in the period
    downgrades: int  # moves into this tier from a higher one in the period

    def with_total(self, total: int) -> "TierRowShare":
        return TierRowShare(row=self, share=self.accounts / total if total else 0.0)


@dataclass(frozen=True)
class TierRowShare:
    row: TierRow
    share: float

    @property
    def percent(self) -> float:
        return self.share * 100


@dataclass(frozen=True)
class RewardRow:
    reward_id: int
    name: str
    points_price: int
    issued: int
    used: int

    @property
    def used_percent(self) -> float:
        return self.used * 100 / self.issued if self.issued else 0.0


@dataclass(frozen=True)
class SeriesPoint:
    bucket: date
    issued: int
    redeemed: int
    expired: int


@dataclass(frozen=True)
class ProgrammeOverview:
    period: Period
    point_value_twd: int
    flows: Flows
    outstanding: int  # points outstanding at the end of the period
    opening: int  # points outstanding at its start
    breakage: Breakage
    tiers: list[TierRowShare]
    accounts: int
    rewards: list[RewardRow]
    series: list[SeriesPoint] = field(default_factory=list)
    series_unit: str = "day"  # day, week or month

    @property
    def liability(self) -> Liability:
        return Liability(self.outstanding, self.point_value_twd, self.breakage)

    @property
    def liability_twd(self) -> int:
        return self.liability.liability_twd

    @property
    def expected_cost_twd(self) -> int:
        return self.liability.expected_cost_twd

    @property
    def expected_breakage_twd(self) -> int:
        return self.liability.expected_breakage_twd

    @property
    def upgrades(self) -> int:
        return sum(row.row.upgrades for row in self.tiers)

    @property
    def downgrades(self) -> int:
        return sum(row.row.downgrades for row in self.tiers)


def _ledger_in(start_at: datetime, end_at: datetime | None = None) -> QuerySet:
    # Naming every kind lets PostgreSQL range-scan the (kind, at) index once per kind.
    entries = PointsTransaction.objects.filter(kind__in=Kind.values, at__gte=start_at)
    return entries.filter(at__lt=end_at) if end_at is not None else entries


def flows_from_sums(*, credit: Mapping[str, int], debit: Mapping[str, int]) -> Flows:
    """THE rule of what counts as issued, redeemed, expired and other, from the ledger's sums
    of positive (`credit`) and negative (`debit`, signed) points per kind. The overview applies
    it to the ledger, the KPI pages to their daily rollup of the same sums."""
    credit, debit = defaultdict(int, credit), defaultdict(int, debit)
    return Flows(
        issued=credit[Kind.EARN] + credit[Kind.ADJUST],
        redeemed=-debit[Kind.REDEEM],
        expired=-debit[Kind.EXPIRE],
        other=debit[Kind.ADJUST]
        + credit[Kind.REVERSE]
        + debit[Kind.REVERSE]
        + credit[Kind.TRANSFER]
        + debit[Kind.TRANSFER],
    )


def period_flows(*, period: Period) -> Flows:
    """The points issued, redeemed, expired and otherwise moved in the period (one query)."""
    rows = (
        _ledger_in(period.start_at, period.end_at)
        .values("kind")
        .annotate(
            credit=Sum("points", filter=Q(points__gt=0)),
            debit=Sum("points", filter=Q(points__lt=0)),
        )
        .order_by()
    )
    return flows_from_sums(
        credit={row["kind"]: row["credit"] or 0 for row in rows},
        debit={row["kind"]: row["debit"] or 0 for row in rows},
    )


def points_moved_since(*, at: datetime) -> int:
    """The net points the ledger moved from `at` on (one query; 0 for a moment in the future)."""
    return _ledger_in(at).aggregate(total=Sum("points"))["total"] or 0


def breakage_window(*, until: date) -> Period:
    """The 12 months ending with the day `until` (included) whose redemptions and expiries
    give the breakage rate."""
    return Period(start=_years_before(until, BREAKAGE_WINDOW_YEARS) + timedelta(days=1), end=until)


def breakage_of(*, window: Period, redeemed: int, expired: int) -> Breakage:
    """THE breakage rule: of the points that left accounts in the window by being redeemed or
    by expiring (both positive), the share that expired (None when none left)."""
    left = redeemed + expired
    return Breakage(
        since=window.start,
        until=window.end,
        redeemed=redeemed,
        expired=expired,
        rate=expired / left if left else None,
    )


def breakage_observed(*, until: date) -> Breakage:
    """The breakage rate over the 12 months ending with the day `until` (included)."""
    window = breakage_window(until=until)
    sums = dict(
        PointsTransaction.objects.filter(
            kind__in=[Kind.REDEEM, Kind.EXPIRE], at__gte=window.start_at, at__lt=window.end_at
        )
        .values("kind")
        .annotate(total=Sum("points"))
        .order_by()
        .values_list("kind", "total")
    )
    return breakage_of(
        window=window,
        redeemed=-(sums.get(Kind.REDEEM) or 0),
        expired=-(sums.get(Kind.EXPIRE) or 0),
    )


TierMoves = dict[int | None, int]


def tier_moves(*, period: Period, rank: dict[int, int]) -> tuple[TierMoves, TierMoves]:
    """The moves in the period into each tier (by id; None: out of every tier) from a lower
    one (upgrades) and from a higher one (downgrades); `rank` is {tier id: rank}, a move from
    no tier counts as from below every tier (one query over the tier changes' `at` index)."""
    upgrades: TierMoves = defaultdict(int)
    downgrades: TierMoves = defaultdict(int)
    moves = (
        TierChange.objects.filter(at__gte=period.start_at, at__lt=period.end_at)
        .values("from_tier", "to_tier")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for move in moves:
        before = rank.get(move["from_tier"], -1)
        after = rank.get(move["to_tier"], -1)
        if after > before:
            upgrades[move["to_tier"]] += move["n"]
        elif after < before:
            downgrades[move["to_tier"]] += move["n"]
    return upgrades, downgrades


TiersHeld = dict[int | None, tuple[int, int]]  # tier id (None: no tier) → (accounts, points)


def tiers_held() -> TiersHeld:
    """The accounts in each tier now and the points they hold (one grouped scan of every
    account: the KPI rollups keep its result rather than run it per page view)."""
    return {
        row["tier"]: (row["accounts"], row["points"] or 0)
        for row in PointsAccount.objects.values("tier")
        .annotate(accounts=Count("pk"), points=Sum("balance"))
        .order_by()
    }


def tier_rows(
    *, period: Period, held: TiersHeld | None = None
) -> tuple[list[TierRowShare], int, int]:
    """The tiers' accounts and points now (`held`: as tiers_held() gave them, read here when
    not given), and their movements in the period; with the number of accounts and the points
    outstanding (4 queries whatever the number of accounts)."""
    tiers = list(Tier.objects.order_by("rank"))
    rank = {tier.pk: tier.rank for tier in tiers}
    held = tiers_held() if held is None else held
    upgrades, downgrades = tier_moves(period=period, rank=rank)
    rows = [
        TierRow(
            tier=tier,
            accounts=held.get(tier.pk, (0, 0))[0],
            points=held.get(tier.pk, (0, 0))[1],
            upgrades=upgrades[tier.pk],
            downgrades=downgrades[tier.pk],
        )
        for tier in tiers
    ]
    if None in held:
        untiered_accounts, untiered_points = held[None]
        rows.insert(
            0,
            TierRow(
                tier=None,
                accounts=untiered_accounts,
                points=untiered_points,
                upgrades=0,
                downgrades=downgrades[None],
            ),
        )
    accounts = sum(row.accounts for row in rows)
    outstanding_now = sum(row.points for row in rows)
    return [row.with_total(accounts) for row in rows], accounts, outstanding_now


def top_rewards(*, period: Period, limit: int = TOP_REWARDS) -> list[RewardRow]:
    """The rewards with the most coupons issued in the period, and how many of those are used."""
    rows = (
        Coupon.objects.filter(issued_at__gte=period.start_at, issued_at__lt=period.end_at)
        .values("reward", "reward__name", "reward__points_price")
        .annotate(issued=Count("pk"), used=Count("pk", filter=Q(status=Coupon.Status.USED)))
        .order_by("-issued", "reward")[:limit]
    )
    return [
        RewardRow(
            reward_id=row["reward"],
            name=row["reward__name"],
            points_price=row["reward__points_price"],
            issued=row["issued"],
            used=row["used"],
        )
        for row in rows
    ]


def _series_unit(period: Period) -> str:
    if period.days <= DAILY_UP_TO_DAYS:
        return "day"
    return "week" if period.days <= WEEKLY_UP_TO_DAYS else "month"


def period_series(*, period: Period) -> tuple[list[SeriesPoint], str]:
    """Points issued, redeemed and expired per Taipei day (week, month for long periods)."""
    unit = _series_unit(period)
    trunc = {"day": TruncDate, "week": TruncWeek, "month": TruncMonth}[unit]
    rows = (
        _ledger_in(period.start_at, period.end_at)
        .filter(kind__in=[Kind.EARN, Kind.ADJUST, Kind.REDEEM, Kind.EXPIRE])
        .annotate(bucket=trunc("at", tzinfo=timezone.get_default_timezone()))
        .values("bucket", "kind")
        .annotate(
            credit=Sum("points", filter=Q(points__gt=0)),
            debit=Sum("points", filter=Q(points__lt=0)),
        )
        # No ORDER BY: PostgreSQL then hashes the few (bucket, kind) groups instead of sorting
        # every entry of the period; the buckets are sorted below.
        .order_by()
    )
    buckets: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        bucket = row["bucket"]
        bucket = bucket.date() if isinstance(bucket, datetime) else bucket
        figures = buckets[bucket]
        if row["kind"] in (Kind.EARN, Kind.ADJUST):
            figures["issued"] += row["credit"] or 0
        elif row["kind"] == Kind.REDEEM:
            figures["redeemed"] -= row["debit"] or 0
        else:
            figures["expired"] -= row["debit"] or 0
    series = [
        SeriesPoint(
            bucket=bucket,
            issued=figures["issued"],
            redeemed=figures["redeemed"],
            expired=figures["expired"],
        )
        for bucket, figures in sorted(buckets.items())
    ]
    return series, unit


def programme_overview(*, period: Period) -> ProgrammeOverview:
    """Everything /loyalty/ shows for a period (a fixed number of aggregate queries)."""
    programme = Programme.current()
    flows = period_flows(period=period)
    tiers, accounts, outstanding_now = tier_rows(period=period)
    # The balances now, less what moved after the period: the points outstanding at its end.
    outstanding = outstanding_now - points_moved_since(at=period.end_at)
    net = flows.issued - flows.redeemed - flows.expired + flows.other
    series, unit = period_series(period=period)
    return ProgrammeOverview(
        period=period,
        point_value_twd=programme.point_value_twd,
        flows=flows,
        outstanding=outstanding,
        opening=outstanding - net,
        breakage=breakage_observed(until=min(period.end, timezone.localdate())),
        tiers=tiers,
        accounts=accounts,
        rewards=top_rewards(period=period),
        series=series,
        series_unit=unit,
    )


# --- A member's points history -----------------------------------------------------------------


@dataclass(frozen=True)
class HistoryFilters:
    kind: str = ""
    start: date | None = None
    end: date | None = None  # inclusive


@dataclass(frozen=True)
class HistoryPage:
    entries: list[PointsTransaction]
    next_cursor: str | None


class InvalidHistoryCursor(ValueError):
    pass


_CURSOR_SIGNER = signing.Signer(salt="loyalty.points-history-cursor")


def points_account_of(*, member_id: int) -> PointsAccount | None:
    """The member's points account with its tier, or None before their first points."""
    return PointsAccount.objects.select_related("tier").filter(member_id=member_id).first()


def points_history(*, account_id: int, filters: HistoryFilters) -> QuerySet[PointsTransaction]:
    """The account's entries matching the filters, oldest first, with what the rows show."""
    entries = PointsTransaction.objects.filter(account_id=account_id)
    if filters.kind:
        entries = entries.filter(kind=filters.kind)
    if filters.start:
        entries = entries.filter(at__gte=_day_start(filters.start))
    if filters.end:
        entries = entries.filter(at__lt=_day_start(filters.end + timedelta(days=1)))
    return entries.select_related("order", "reward", "coupon", "actor").order_by("seq")


def points_history_page(
    *,
    account_id: int,
    filters: HistoryFilters,
    after: str = "",
    size: int = HISTORY_PAGE_SIZE,
) -> HistoryPage:
    """One page of the history, newest first, and the cursor of the next (older) page.
    Raises InvalidHistoryCursor for a cursor this function did not hand out."""
    entries = points_history(account_id=account_id, filters=filters).order_by("-seq")
    if after:
        try:
            seq = int(_CURSOR_SIGNER.unsign(after))
        except (signing.BadSignature, ValueError) as exc:
            raise InvalidHistoryCursor(after) from exc
        entries = entries.filter(seq__lt=seq)
    rows = list(entries[: size + 1])
    next_cursor = _CURSOR_SIGNER.sign(str(rows[size - 1].seq)) if len(rows) > size else None
    return HistoryPage(entries=rows[:size], next_cursor=next_cursor)
