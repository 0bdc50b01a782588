"""coupon_use: a coupon is used once; expired, cancelled and unknown codes are refused."""

from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty.models import Coupon, PointsAccount, Reward
from loyalty.services.coupons import CouponRefused, coupon_use
from loyalty.services.ledger import accounts_ensure
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _coupon(**kw) -> Coupon:
    member = MemberFactory()
    account = PointsAccount.objects.get(pk=accounts_ensure(member_ids=[member.pk])[member.pk])
    reward = Reward.objects.create(name="咖啡券", points_price=100, discount_twd=100)
    fields = {"code": "ABCD2345WXYZ", "expires_at": timezone.now() + timedelta(days=3)}
    return Coupon.objects.create(reward=reward, account=account, **{**fields, **kw})


def test_a_coupon_is_used_once_whatever_spelling_the_cashier_types():
    _coupon()
    used = coupon_use(code="abcd-2345 wxyz", via=Coupon.UsedVia.TILL, order_no="POS-1")
    assert (used.status, used.used_order_no) == (Coupon.Status.USED, "POS-1")
    with pytest.raises(CouponRefused) as refusal:
        coupon_use(code="ABCD2345WXYZ", via=Coupon.UsedVia.PAGE)
    assert refusal.value.reason == "used"


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"expires_at": timezone.now() - timedelta(minutes=1)}, "expired"),
        ({"status": Coupon.Status.VOID}, "void"),
    ],
)
def test_expired_and_cancelled_coupons_are_refused(fields, reason):
    _coupon(**fields)
    with pytest.raises(CouponRefused) as refusal:
        coupon_use(code="ABCD2345WXYZ", via=Coupon.UsedVia.TILL)
    assert refusal.value.reason == reason
    assert Coupon.objects.get().status != Coupon.Status.USED


def test_an_unknown_code_is_refused():
    with pytest.raises(CouponRefused) as refusal:
        coupon_use(code="NOPE", via=Coupon.UsedVia.TILL)
    assert refusal.value.reason == "unknown"
