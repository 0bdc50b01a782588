"""Demo rewards and coupons for `seed_demo`: a catalogue with Chinese names, and coupons
redeemed by members who have points (some used at a till or by a marketer, some unused, one
expired).

It runs after the demo's points exist (the programme's demo gives the members their balances)
and goes through the real services: `reward_redeem` takes the points and the stock, `coupon_use`
marks coupons used, `coupons_expire` expires the one issued long ago. Deterministic (one
random.Random(seed), members taken in balance order) and safe to run again: rewards are found
by name, and a database that holds the demo's redemptions already (their keys start "demo:") gets
no more, so a second run issues nothing.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from crm.models import Store
from loyalty.models import Coupon, PointsAccount, PointsTransaction, Reward
from loyalty.services.coupons import CouponRefused, coupon_use
from loyalty.services.ledger import InsufficientPoints
from loyalty.services.rewards import (
    KEY_PREFIX,
    RewardUnavailable,
    coupons_expire,
    reward_redeem,
    reward_unavailable_reason,
)

DEFAULT_SEED = 12
DEFAULT_COUPONS = 24
USED_SHARE = 0.5  # of the coupons redeemed, about half are used already

# name, description, points, coupon value NT$ (0: a gift), stock (None: unlimited), valid days
CATALOGUE = (
    ("免運券", "官網與 App 訂單免運費一次", 60, 80, None, 14),
    ("購物金 NT$100", "全台門市、官網與 App 結帳折抵 NT$100", 100, 100, None, 30),
    ("品牌帆布袋", "門市領取，數量有限", 300, 0, 200, 30),
    ("生日禮：保濕面膜組", "壽星限定的保濕面膜 5 片裝", 250, 0, 100, 30),
    ("購物金 NT$500", "單筆消費滿 NT$1,500 可折抵 NT$500", 480, 500, None, 60),
    ("週年慶限定：不鏽鋼保溫瓶", "週年慶期間限定兌換", 800, 0, 50, 30),
)
RETIRED = ("夏季涼感扇", "已下架的夏季贈品", 150, 0, 0, 30)
WINDOW_REWARD = "週年慶限定：不鏽鋼保溫瓶"  # offered from a week ago to a month from now
EXPIRED_REWARD = "免運券"
DEMO_KEY = f"{KEY_PREFIX}demo:"  # the demo's redemptions' ledger keys start so


@dataclass(frozen=True)
class RewardsDemoResult:
    rewards: int
    coupons: int
    used: int
    expired: int


def rewards_seed_demo(
    *,
    seed: int = DEFAULT_SEED,
    coupons: int = DEFAULT_COUPONS,
    now: datetime | None = None,
) -> RewardsDemoResult:
    """Create the demo catalogue (where missing) and redeem up to `coupons` rewards for the
    members with the most points: about half used (at a till with an order number, or by a
    marketer), the rest unused, and one issued long enough ago to have expired."""
    now = now or timezone.now()
    rng = random.Random(seed)  # noqa: S311 (demo data, repeatable)
    rewards = _catalogue(now=now)
    if PointsTransaction.objects.filter(idempotency_key__startswith=DEMO_KEY).exists():
        return RewardsDemoResult(rewards=len(rewards), coupons=0, used=0, expired=0)
    offered = [reward for reward in rewards if reward.is_active]
    cheapest = min(reward.points_price for reward in offered)
    accounts = list(
        PointsAccount.objects.filter(balance__gte=cheapest, member__status="active")
        .order_by("-balance", "pk")
        .values_list("pk", "balance")[:coupons]
    )
    stores = list(Store.objects.order_by("code").values_list("pk", flat=True)[:20])
    issued: list[Coupon] = []
    for n, (account_id, balance) in enumerate(accounts):
        # The first coupon was issued three weeks ago: valid 14 days, so it has expired.
        at = now - timedelta(days=21) if n == 0 else now - timedelta(days=rng.randint(0, 12))
        affordable = [
            reward
            for reward in offered
            if reward.points_price <= balance and not reward_unavailable_reason(reward, at=at)
        ]
        reward = next(r for r in offered if r.name == EXPIRED_REWARD) if n == 0 else None
        reward = reward or rng.choice(affordable)
        try:
            coupon = reward_redeem(
                account_id=account_id,
                reward_id=reward.pk,
                source=PointsTransaction.Source.DEMO,
                idempotency_key=f"demo:{account_id}",
                at=at,
            )
        except (InsufficientPoints, RewardUnavailable):
            continue  # points held at a till, or the stock ran out: the next member
        issued.append(coupon)
    used = 0
    for coupon in issued[1:]:
        if rng.random() >= USED_SHARE or coupon.status != Coupon.Status.ISSUED:
            continue
        at_till = rng.random() < 0.7
        try:
            coupon_use(
                code=coupon.code,
                via=Coupon.UsedVia.TILL if at_till else Coupon.UsedVia.PAGE,
                order_no=f"POS-{coupon.issued_at:%Y%m%d}-{coupon.pk:05d}" if at_till else "",
                store_id=rng.choice(stores) if stores and at_till else None,
                at=min(coupon.issued_at + timedelta(days=rng.randint(0, 5)), now),
            )
        except CouponRefused:
            continue
        used += 1
    expired = coupons_expire(now=now)
    return RewardsDemoResult(rewards=len(rewards), coupons=len(issued), used=used, expired=expired)


def _catalogue(*, now: datetime) -> list[Reward]:
    rewards = []
    for name, description, points, value, stock, days in (*CATALOGUE, RETIRED):
        window = (now - timedelta(days=7), now + timedelta(days=30))
        reward, _created = Reward.objects.get_or_create(
            name=name,
            defaults={
                "description": description,
                "points_price": points,
                "discount_twd": value,
                "stock": stock,
                "coupon_valid_days": days,
                "is_active": name != RETIRED[0],
                "available_from": window[0] if name == WINDOW_REWARD else None,
                "available_until": window[1] if name == WINDOW_REWARD else None,
            },
        )
        rewards.append(reward)
    return rewards
