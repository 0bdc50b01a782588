"""The demo's living programme for `make run` (`manage.py seed_demo_loyalty`, after seed_demo and
seed_demo_campaigns): the demo brand's members hold points from their orders, sit in tiers,
have lost some points to expiry and had a few adjusted by hand.

What comes from where:
- Points from orders: `demo_points_seed` earns every demo order's points with the one earn rule
  (loyalty.earning.points_for) and posts them through the ledger (entries_post, key
  "earn:order:<id>", the key the earning consumer uses, so the consumer finds them earned and
  never earns them twice); a return takes back the points of what it returned
  ("reverse:order:<id>", clamped to what is left). THIS IS THE STAND-IN for the earning
  consumer (loyalty.services.earning), which reads crm's order-change feed: once it is merged,
  the demo drains the consumer instead and this function goes.
- Expiry: each account's stream is posted in time order, and on each day its earned points
  expire (Programme.expiry_months after the order) the FIFO rule of loyalty.expiry writes what
  is left of them, as the nightly job would have on that day ("expire:<account>:<day>").
- Tiers: `demo_tiers_place` places each member by their 12-month net spend against the tiers'
  thresholds and records how they got there (an upgrade dated at the order that lifted them; a
  downgrade, after the grace period, for members who spent more the year before). It stands in
  for the tier re-evaluation job the same way.
- Manual adjustments: a few members, through points_adjust (reason, audited, on the timeline).
- Rewards and redeemed coupons: the rewards part's rewards_seed_demo (wired in at the merge).

Deterministic: draws come from random.Random(seed) and dates follow the orders'.
"""

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from django.db.models import Max, Q, Sum
from django.utils import timezone

from crm.models import Member, Order
from loyalty.demo_rewards import rewards_seed_demo
from loyalty.earning import earn_context, points_for
from loyalty.models import PointsAccount, PointsTransaction, Programme, Tier, TierChange
from loyalty.services.adjustments import credit_expiry_day, points_adjust
from loyalty.services.ledger import Entry, InsufficientPoints, accounts_ensure, entries_post

MEMBER_CHUNK = 1_000
ADJUSTED_SHARE = 0.01
ADJUSTED_MAX = 40
NIGHTLY_AT = time(0, 30)  # when the demo's nightly expiry "ran" on a day (Taipei)
Kind = PointsTransaction.Kind
Source = PointsTransaction.Source

DEMO_ADJUST_REASONS_PLUS = (
    "門市系統斷線，補登消費點數",
    "客訴補償：宅配延遲",
    "會員生日禮遇加贈",
    "活動贈點（週年慶問卷）",
)
DEMO_ADJUST_REASONS_MINUS = (
    "重複累點更正",
    "退貨未扣點，人工扣回",
)


@dataclass(frozen=True)
class DemoLoyalty:
    accounts: int
    earned: int
    expired: int
    adjusted: int
    tiered: int


def demo_loyalty_seed(*, seed: int = 12, now: datetime | None = None) -> DemoLoyalty | None:
    """Give the demo brand its programme once; None when the ledger holds entries already (or
    there are no orders to earn on)."""
    if PointsTransaction.objects.exists() or not Order.objects.exists():
        return None
    now = now or timezone.now()
    rng = random.Random(seed)  # noqa: S311 (demo data, repeatable)
    earned = expired = accounts = 0
    for member_ids in _member_chunks():
        written = demo_points_seed(member_ids=member_ids, now=now)
        accounts += len({entry.account_id for entry in written})
        earned += sum(e.points for e in written if e.kind == Kind.EARN)
        expired -= sum(e.points for e in written if e.kind == Kind.EXPIRE)
    tiered = demo_tiers_place(now=now)
    adjusted = _demo_adjustments(rng=rng)
    rewards_seed_demo(seed=seed, now=now)
    return DemoLoyalty(
        accounts=accounts, earned=earned, expired=expired, adjusted=adjusted, tiered=tiered
    )


def _member_chunks() -> Iterator[list[int]]:
    """Active members with orders, MEMBER_CHUNK at a time, by keyset on the pk."""
    last = 0
    while True:
        ids = list(
            Member.objects.filter(status=Member.Status.ACTIVE, pk__gt=last)
            .order_by("pk")
            .values_list("pk", flat=True)[:MEMBER_CHUNK]
        )
        if not ids:
            return
        yield ids
        last = ids[-1]


def _taipei_day(at: datetime) -> date:
    return timezone.localtime(at).date()


def _nightly(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, NIGHTLY_AT))


def demo_points_seed(*, member_ids: list[int], now: datetime) -> list[PointsTransaction]:
    """Earn these members' orders' points, reverse their returns' and expire what lapsed, in
    time order per account (the earning consumer's and the nightly expiry's stand-in: see the
    module docstring). Returns the entries written."""
    programme = Programme.current()
    context = earn_context(programme=programme)
    months = programme.expiry_months
    orders = list(
        Order.objects.filter(member_id__in=member_ids, placed_at__lte=now)
        .exclude(status=Order.Status.CANCELLED)
        .order_by("member_id", "placed_at", "pk")
        .values_list(
            "pk", "member_id", "channel", "store_id", "amount_twd", "placed_at", "returns_order_id"
        )
    )
    if not orders:
        return []
    accounts = accounts_ensure(member_ids={order[1] for order in orders})
    earned_by_order: dict[int, tuple[int, int]] = {}  # order → (points, amount)
    entries: list[Entry] = []
    stream: dict[int, list[Entry]] = defaultdict(list)
    for pk, member_id, channel, store_id, amount, placed_at, returns_id in orders:
        account_id = accounts[member_id]
        if amount > 0 and returns_id is None:
            points = points_for(
                context=context,
                net_twd=amount,
                channel=channel,
                store_id=store_id,
                placed_at=placed_at,
            )
            if points <= 0:
                continue
            earned_by_order[pk] = (points, amount)
            expires_on = credit_expiry_day(_taipei_day(placed_at), months) if months else None
            stream[account_id].append(
                Entry(
                    account_id=account_id,
                    kind=Kind.EARN,
                    points=points,
                    idempotency_key=f"earn:order:{pk}",
                    source=Source.ORDER,
                    expires_on=expires_on,
                    order_id=pk,
                    at=placed_at,
                )
            )
        elif amount < 0 and returns_id in earned_by_order:
            # A return takes back the share of the sale's points its amount is of the sale.
            sale_points, sale_amount = earned_by_order[returns_id]
            back = min(sale_points, sale_points * -amount // sale_amount)
            if back > 0:
                stream[account_id].append(
                    Entry(
                        account_id=account_id,
                        kind=Kind.REVERSE,
                        points=-back,
                        idempotency_key=f"reverse:order:{pk}",
                        source=Source.ORDER,
                        order_id=pk,
                        reason="退貨扣回點數",
                        at=placed_at,
                    )
                )
    today = _taipei_day(now)
    for account_id, moves in stream.items():
        entries.extend(_with_expiry(account_id, moves, today=today))
    return entries_post(entries=entries, clamp_debits=True)


def _with_expiry(account_id: int, moves: list[Entry], *, today: date) -> list[Entry]:
    """The account's moves in time order with the nightly expiry of every day a lot expired
    (up to today), each taking what loyalty.expiry's FIFO rule says is left of the lots due:
    max(0, Σ credits expiring on or before the day − Σ debits so far)."""
    due_days = sorted(
        {m.expires_on for m in moves if m.expires_on is not None and m.expires_on <= today}
    )
    timeline = sorted(moves, key=lambda m: m.at)
    out: list[Entry] = []
    credits_by_day: dict[date, int] = defaultdict(int)
    debits = balance = 0
    index = 0
    for day in due_days:
        night = _nightly(day)
        while index < len(timeline) and timeline[index].at < night:
            move = timeline[index]
            index += 1
            points = max(move.points, -balance)  # a reversal takes at most what is left
            if points == 0:
                continue
            balance += points
            if points > 0:
                credits_by_day[move.expires_on] += points
            else:
                debits -= points
            out.append(move if points == move.points else _replaced(move, points))
        due = sum(points for expiry, points in credits_by_day.items() if expiry <= day)
        lapsing = min(max(0, due - debits), balance)
        if lapsing:
            balance -= lapsing
            debits += lapsing
            out.append(
                Entry(
                    account_id=account_id,
                    kind=Kind.EXPIRE,
                    points=-lapsing,
                    idempotency_key=f"expire:{account_id}:{day.isoformat()}",
                    source=Source.NIGHTLY,
                    at=night,
                )
            )
    for move in timeline[index:]:
        points = max(move.points, -balance)
        if points == 0:
            continue
        balance += points
        out.append(move if points == move.points else _replaced(move, points))
    return out


def _replaced(move: Entry, points: int) -> Entry:
    return replace(move, points=points)


def demo_tiers_place(*, now: datetime) -> int:
    """Place every account in the tier its 12-month net spend reaches, with the move recorded
    (the tier re-evaluation's stand-in: see the module docstring). Returns the accounts above
    the entry tier."""
    tiers = list(Tier.objects.order_by("threshold_twd"))
    if not tiers:
        return 0
    grace = timedelta(days=Programme.current().downgrade_grace_days)
    year, two_years = now - timedelta(days=365), now - timedelta(days=730)
    placed = 0
    sales = Q(orders__status=Order.Status.PLACED)
    for accounts in _account_chunks():
        member_ids = [account.member_id for account in accounts]
        spend = {
            pk: (recent or 0, earlier or 0)
            for pk, recent, earlier in Member.objects.filter(pk__in=member_ids)
            .annotate(
                recent=Sum("orders__amount_twd", filter=sales & Q(orders__placed_at__gt=year)),
                earlier=Sum(
                    "orders__amount_twd",
                    filter=sales & Q(orders__placed_at__gt=two_years, orders__placed_at__lte=year),
                ),
            )
            .values_list("pk", "recent", "earlier")
        }
        last_order = dict(
            Order.objects.filter(member_id__in=member_ids, placed_at__gt=year)
            .values("member_id")
            .annotate(last=Max("placed_at"))
            .values_list("member_id", "last")
            .order_by()
        )
        changes = []
        for account in accounts:
            recent, earlier = spend.get(account.member_id, (0, 0))
            tier = _tier_for(tiers, recent)
            account.tier = tier
            account.spend_12m_twd = recent
            account.spend_12m_at = now
            account.tier_since = now
            had = _tier_for(tiers, earlier)
            if had.rank > tier.rank:
                # Spent more the year before: kept the higher tier through the grace period.
                at = min(now, year + grace)
                changes.append(_change(account, had, tier, TierChange.Reason.GRACE_ENDED, at))
                account.tier_since = at
            elif tier.rank > tiers[0].rank:
                at = last_order.get(account.member_id) or now
                changes.append(_change(account, tiers[0], tier, TierChange.Reason.ORDER, at))
                account.tier_since = at
            if tier.rank > tiers[0].rank:
                placed += 1
        PointsAccount.objects.bulk_update(
            accounts, ["tier", "tier_since", "spend_12m_twd", "spend_12m_at"]
        )
        TierChange.objects.bulk_create(changes)
    return placed


def _account_chunks() -> Iterator[list[PointsAccount]]:
    last = 0
    while True:
        accounts = list(PointsAccount.objects.filter(pk__gt=last).order_by("pk")[:MEMBER_CHUNK])
        if not accounts:
            return
        yield accounts
        last = accounts[-1].pk


def _tier_for(tiers: list[Tier], spend: int) -> Tier:
    return [tier for tier in tiers if tier.threshold_twd <= max(spend, 0)][-1]


def _change(account, from_tier, to_tier, reason, at) -> TierChange:
    return TierChange(
        account=account,
        from_tier=from_tier,
        to_tier=to_tier,
        reason=reason,
        spend_12m_twd=account.spend_12m_twd,
        at=at,
    )


def _demo_adjustments(*, rng: random.Random) -> int:
    """A few adjustments by hand, through points_adjust (reason, audit, timeline)."""
    candidates = list(
        PointsAccount.objects.filter(balance__gt=0)
        .order_by("pk")
        .values_list("member_id", "balance")[:5_000]
    )
    if not candidates:
        return 0
    count = min(ADJUSTED_MAX, max(3, int(len(candidates) * ADJUSTED_SHARE)))
    chosen = rng.sample(candidates, min(count, len(candidates)))
    members = Member.objects.in_bulk([member_id for member_id, _ in chosen])
    adjusted = 0
    for n, (member_id, balance) in enumerate(chosen):
        if n % 3 == 2:
            points = -min(balance, rng.choice((20, 50, 100)))
            reason = rng.choice(DEMO_ADJUST_REASONS_MINUS)
        else:
            points = rng.choice((50, 100, 200, 300))
            reason = rng.choice(DEMO_ADJUST_REASONS_PLUS)
        try:
            points_adjust(
                member=members[member_id],
                points=points,
                reason=reason,
                actor_id=None,
                idempotency_key=f"demo:{member_id}",
                source=Source.DEMO,
            )
        except InsufficientPoints:
            continue
        adjusted += 1
    return adjusted
