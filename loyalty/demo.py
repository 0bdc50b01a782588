"""The demo's living programme for `make run` (`manage.py seed_demo_loyalty`, after seed_demo and
seed_demo_campaigns), made by the programme's own parts, never by a stand-in:

- Points from orders: the earning consumer drains crm's order-change feed (the demo's orders
  came through crm's order service) AS OF the day of the first demo order, as if the programme
  had run since then: every order earns under the one earn rule, with its own expiry date, and
  returns and cancellations reverse theirs.
- Expiry: the nightly expiry as of today then takes, first in first out, what has lapsed.
- Tiers: the tiers consumer gives every buyer an account and a tier, and the nightly review
  settles the rest (TierChange rows say why).
- Adjustments by hand for a few members, through points_adjust (reason, audit, timeline).
- Rewards and coupons: demo_rewards.rewards_seed_demo (redeemed, used, unused, one expired).
- The beat jobs: the expiry and the tier review above are logged as job runs, and
  `demo_jobs_run` runs the birthday and unused-points jobs once for the demo day (their
  automated messages, run campaigns and coupons), so the loyalty page's Jobs tab and the
  campaigns list show them; a second `make run` runs none again.

Deterministic: draws come from random.Random(seed); a second run writes nothing.
"""

import random
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Min, Sum
from django.utils import timezone

from crm.models import Member, Order
from loyalty.demo_rewards import rewards_seed_demo
from loyalty.models import LoyaltyJob, LoyaltyJobRun, PointsAccount, PointsTransaction, Tier
from loyalty.services.adjustments import points_adjust
from loyalty.services.birthday import birthday_job_run
from loyalty.services.earning import earn_consume
from loyalty.services.expiry import points_expire
from loyalty.services.jobs import loyalty_job_logged
from loyalty.services.ledger import InsufficientPoints
from loyalty.services.points_reminder import points_reminder_job_run
from loyalty.services.tiers import tiers_consume, tiers_evaluate_all

ADJUSTED_SHARE = 0.01
ADJUSTED_MAX = 40
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
    coupons: int


def demo_loyalty_seed(*, seed: int = 12, now: datetime | None = None) -> DemoLoyalty | None:
    """Give the demo brand its programme once; None when the ledger holds entries already (or
    there are no orders to earn on)."""
    if PointsTransaction.objects.exists() or not Order.objects.exists():
        return None
    now = now or timezone.now()
    rng = random.Random(seed)  # noqa: S311 (demo data, repeatable)
    first_order = Order.objects.aggregate(first=Min("placed_at"))["first"]
    earn_consume(as_of=timezone.localdate(first_order))
    today = timezone.localdate(now)
    expired = loyalty_job_logged(
        job=LoyaltyJob.EXPIRY, period=today.isoformat(), work=lambda: points_expire(today=today)
    ).counts.get("changed", 0)
    tiers_consume()
    loyalty_job_logged(
        job=LoyaltyJob.TIERS, period=today.isoformat(), work=lambda: tiers_evaluate_all(at=now)
    )
    adjusted = _demo_adjustments(rng=rng)
    rewards = rewards_seed_demo(seed=seed, now=now)
    entry_rank = Tier.objects.aggregate(lowest=Min("rank"))["lowest"]
    return DemoLoyalty(
        accounts=PointsAccount.objects.count(),
        earned=PointsTransaction.objects.filter(kind=Kind.EARN).aggregate(s=Sum("points"))["s"]
        or 0,
        expired=expired,
        adjusted=adjusted,
        tiered=PointsAccount.objects.filter(tier__rank__gt=entry_rank).count(),
        coupons=rewards.coupons,
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


def demo_jobs_run(*, now: datetime | None = None) -> list[LoyaltyJobRun]:
    """The birthday and unused-points jobs, once each for the demo day (the jobs' own runners:
    their automated messages, coupons, wallet updates and run campaigns). A job that has run
    before is not run again, so a second `make run` adds no run; [] when there are no
    members yet."""
    if not Member.objects.exists():
        return []
    now = now or timezone.now()
    runs = []
    for job, run in (
        (LoyaltyJob.BIRTHDAY, birthday_job_run),
        (LoyaltyJob.POINTS_REMINDER, points_reminder_job_run),
    ):
        if not LoyaltyJobRun.objects.filter(job=job).exists():
            runs.append(run(now=now))
    return runs
