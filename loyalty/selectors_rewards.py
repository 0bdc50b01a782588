"""Reads of the rewards catalogue and coupon pages (loyalty.views_rewards)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from loyalty.models import Coupon, Reward
from loyalty.services.coupons import coupon_code_normalise


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
    (reward_redeem decides again under its locks); not a job's gift (the birthday gift is
    given by its job, never bought)."""
    at = at or timezone.now()
    return (
        Reward.objects.filter(is_active=True, purpose="")
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


@dataclass(frozen=True)
class CouponPage:
    object_list: list[Coupon]
    next_before: int | None  # the `before` of the next (older) page; None on the last one
    is_first: bool


def coupons_page(*, status: str = "", before: str = "", size: int) -> CouponPage:
    """Coupons newest first (by issue, i.e. by id), `size` at a time by keyset: `before` is the
    id the previous page ended on (no COUNT, no OFFSET: a million coupons page like ten)."""
    coupons = Coupon.objects.select_related("reward", "account__member")
    if status in Coupon.Status.values:
        coupons = coupons.filter(status=status)
    after = int(before) if before.isdigit() else None
    if after is not None:
        coupons = coupons.filter(pk__lt=after)
    rows = list(coupons.order_by("-pk")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return CouponPage(
        object_list=rows, next_before=rows[-1].pk if more else None, is_first=after is None
    )
