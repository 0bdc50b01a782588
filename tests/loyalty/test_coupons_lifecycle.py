"""A redeemed coupon: used once, expired by the nightly job (twice = once), cancelled by a
marketer with a reason (points and stock given back)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty.models import Coupon, PointsTransaction
from loyalty.services.coupons import CouponRefused, coupon_use
from loyalty.services.rewards import (
    CouponNotVoidable,
    coupon_void,
    coupons_expire,
    reward_redeem,
)
from loyalty.tasks import coupons_expire_task
from tests.loyalty.rewards_helpers import member_with_points, reward

pytestmark = pytest.mark.django_db
PAGE = PointsTransaction.Source.PAGE


def _coupon(*, days_ago: int = 0, key: str = "k", points: int = 500, item=None) -> Coupon:
    member, _account = member_with_points(points)
    return reward_redeem(
        member_id=member.pk,
        reward_id=(item or reward(coupon_valid_days=7, stock=10)).pk,
        source=PAGE,
        idempotency_key=key,
        at=timezone.now() - timedelta(days=days_ago),
    )


def test_a_redeemed_coupon_is_used_once():
    coupon = _coupon()
    coupon_use(code=coupon.code.lower(), via=Coupon.UsedVia.PAGE, order_no="W-1")
    with pytest.raises(CouponRefused) as refusal:
        coupon_use(code=coupon.code, via=Coupon.UsedVia.TILL)
    assert refusal.value.reason == "used"


def test_the_expiry_job_marks_only_unused_coupons_past_expiry_and_twice_is_once():
    stale = _coupon(days_ago=30, key="stale")
    fresh = _coupon(key="fresh")
    used = _coupon(days_ago=30, key="used")
    Coupon.objects.filter(pk=used.pk).update(
        status=Coupon.Status.USED, used_at=timezone.now() - timedelta(days=29)
    )
    assert coupons_expire() == 1
    assert coupons_expire_task.apply().get() == 0  # the beat task, run again: nothing more
    statuses = dict(Coupon.objects.values_list("pk", "status"))
    assert statuses == {
        stale.pk: Coupon.Status.EXPIRED,
        fresh.pk: Coupon.Status.ISSUED,
        used.pk: Coupon.Status.USED,
    }


def test_the_expiry_job_works_in_chunks(monkeypatch):
    monkeypatch.setattr("loyalty.services.rewards.EXPIRE_CHUNK", 2)
    item = reward(coupon_valid_days=1, stock=None, points_price=1)
    member, _account = member_with_points(10)
    for i in range(5):
        reward_redeem(
            member_id=member.pk,
            reward_id=item.pk,
            source=PAGE,
            idempotency_key=str(i),
            at=timezone.now() - timedelta(days=5),
        )
    assert coupons_expire() == 5
    assert not Coupon.objects.filter(status=Coupon.Status.ISSUED).exists()


def test_cancelling_gives_points_and_stock_back_and_keeps_the_reason(bob):
    item = reward(stock=3)
    coupon = _coupon(item=item, points=100)
    result = coupon_void(coupon_id=coupon.pk, reason="會員要求取消", actor_id=bob.pk)
    coupon.refresh_from_db()
    item.refresh_from_db()
    assert (coupon.status, coupon.void_reason, coupon.voided_by_id) == (
        "void",
        "會員要求取消",
        bob.pk,
    )
    assert result.points_returned == 100 and item.stock == 3
    account = coupon.account
    account.refresh_from_db()
    assert account.balance == 100
    reverse = account.transactions.get(kind=PointsTransaction.Kind.REVERSE)
    assert reverse.points == 100 and reverse.expires_on is not None
    with pytest.raises(CouponRefused):
        coupon_use(code=coupon.code, via=Coupon.UsedVia.TILL)


def test_a_used_coupon_cannot_be_cancelled_and_a_reason_is_required(bob):
    coupon = _coupon()
    with pytest.raises(ValueError):
        coupon_void(coupon_id=coupon.pk, reason="  ", actor_id=bob.pk)
    coupon_use(code=coupon.code, via=Coupon.UsedVia.PAGE)
    with pytest.raises(CouponNotVoidable):
        coupon_void(coupon_id=coupon.pk, reason="錯誤", actor_id=bob.pk)
