"""Reads of the rewards catalogue and coupon pages (loyalty.views_rewards)."""

from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from loyalty.models import Coupon, PointsAccount, Reward
from loyalty.services.coupons import coupon_code_normalise
from loyalty.services.rewards import points_held


def rewards_catalogue(*, status: str = "") -> QuerySet[Reward]:
    """The catalogue for the list page: active first, cheapest first (the model's order)."""
    rewards = Reward.objects.all()
    if status == "active":
        rewards = rewards.filter(is_active=True)
    elif status == "inactive":
        rewards = rewards.filter(is_active=False)
    return rewards.order_by("-is_active", "points_price", "name", "pk")


def rewards_redeemable(*, at: datetime | None = None) -> QuerySet[Reward]:
    """The rewards a member can be given now: active, inside their window, with stock left
    (reward_redeem decides again under its locks)."""
    at = at or timezone.now()
    return (
        Reward.objects.filter(is_active=True)
        .filter(Q(available_from__isnull=True) | Q(available_from__lte=at))
        .filter(Q(available_until__isnull=True) | Q(available_until__gt=at))
        .filter(Q(stock__isnull=True) | Q(stock__gt=0))
        .order_by("points_price", "name", "pk")
    )


def coupon_by_code(*, code: str) -> Coupon | None:
    """The coupon with this code in any spelling (lower case, dashes, spaces), with what its
    page shows."""
    normal = coupon_code_normalise(code)
    if not normal:
        return None
    return (
        Coupon.objects.select_related(
            "reward", "account__member", "account__tier", "used_store", "used_by", "voided_by"
        )
        .filter(code=normal)
        .first()
    )


def coupons_recent(*, status: str = "") -> QuerySet[Coupon]:
    """Coupons newest first, for the lookup page's table (paged by the view)."""
    coupons = Coupon.objects.select_related("reward", "account__member")
    if status in Coupon.Status.values:
        coupons = coupons.filter(status=status)
    return coupons.order_by("-issued_at", "-pk")


def points_available(*, account: PointsAccount | None) -> int:
    """What a member can spend now: the balance minus the points held at the till."""
    if account is None:
        return 0
    return max(account.balance - points_held(account_id=account.pk, at=timezone.now()), 0)
