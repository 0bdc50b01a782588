"""reward_redeem: points for a coupon, once per key, never more than the member has or the
stock holds; holds at the till count against what is available."""

import re
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from loyalty.models import Coupon, PointsHold, PointsTransaction, Reward
from loyalty.services.coupons import coupon_code_normalise
from loyalty.services.ledger import InsufficientPoints
from loyalty.services.rewards import (
    CODE_ALPHABET,
    RewardUnavailable,
    coupon_code_display,
    coupon_expires_at,
    reward_redeem,
)
from tests.loyalty.rewards_helpers import member_with_points, reward

pytestmark = pytest.mark.django_db
PAGE = PointsTransaction.Source.PAGE


def test_redeeming_takes_the_points_once_and_issues_a_coupon():
    member, account = member_with_points(250)
    latte = reward(stock=5, coupon_valid_days=30)
    coupon = reward_redeem(
        member_id=member.pk, reward_id=latte.pk, source=PAGE, idempotency_key="k1"
    )
    account.refresh_from_db()
    latte.refresh_from_db()
    assert account.balance == 150
    assert (latte.stock, latte.issued_count) == (4, 1)
    entry = PointsTransaction.objects.get(kind=PointsTransaction.Kind.REDEEM)
    assert (entry.points, entry.reward_id, entry.coupon_id) == (-100, latte.pk, coupon.pk)
    assert coupon.status == Coupon.Status.ISSUED
    assert coupon.expires_at == coupon_expires_at(issued_at=coupon.issued_at, valid_days=30)
    assert account.balance == account.transactions.aggregate(s=Sum("points"))["s"]


def test_the_same_key_twice_returns_the_same_coupon_and_takes_nothing_more():
    member, account = member_with_points(250)
    latte = reward(stock=5)
    first = reward_redeem(member_id=member.pk, reward_id=latte.pk, source=PAGE, idempotency_key="k")
    again = reward_redeem(
        account_id=account.pk, reward_id=latte.pk, source=PAGE, idempotency_key="k"
    )
    account.refresh_from_db()
    latte.refresh_from_db()
    assert again.pk == first.pk
    assert (account.balance, latte.stock, Coupon.objects.count()) == (150, 4, 1)


def test_not_enough_points_is_refused_and_changes_nothing():
    member, account = member_with_points(99)
    latte = reward(stock=5)
    with pytest.raises(InsufficientPoints) as refusal:
        reward_redeem(member_id=member.pk, reward_id=latte.pk, source=PAGE, idempotency_key="k")
    assert (refusal.value.balance, refusal.value.wanted) == (99, 100)
    latte.refresh_from_db()
    account.refresh_from_db()
    assert (latte.stock, account.balance, Coupon.objects.count()) == (5, 99, 0)


def test_points_held_at_the_till_are_not_available():
    member, account = member_with_points(150)
    PointsHold.objects.create(
        account=account,
        points=60,
        discount_twd=60,
        channel="store",
        expires_at=timezone.now() + timedelta(minutes=10),
    )
    with pytest.raises(InsufficientPoints) as refusal:
        reward_redeem(member_id=member.pk, reward_id=reward().pk, source=PAGE, idempotency_key="k")
    assert refusal.value.balance == 90


def test_an_expired_hold_no_longer_counts():
    member, account = member_with_points(150)
    PointsHold.objects.create(
        account=account,
        points=60,
        discount_twd=60,
        channel="store",
        expires_at=timezone.now() - timedelta(minutes=1),
    )
    coupon = reward_redeem(
        member_id=member.pk, reward_id=reward().pk, source=PAGE, idempotency_key="k"
    )
    assert coupon.pk


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"is_active": False}, "inactive"),
        ({"available_from": timezone.now() + timedelta(days=1)}, "not_started"),
        ({"available_until": timezone.now() - timedelta(days=1)}, "ended"),
        ({"stock": 0}, "out_of_stock"),
    ],
)
def test_a_reward_outside_its_window_or_stock_is_refused(fields, reason):
    member, account = member_with_points(500)
    item = reward(**fields)
    with pytest.raises(RewardUnavailable) as refusal:
        reward_redeem(member_id=member.pk, reward_id=item.pk, source=PAGE, idempotency_key="k")
    assert refusal.value.reason == reason
    account.refresh_from_db()
    assert account.balance == 500


def test_stock_runs_out_and_unlimited_stock_stays_unlimited():
    member, _account = member_with_points(1000)
    last_one = reward(stock=1)
    unlimited = reward(name="購物金 100 元", stock=None)
    reward_redeem(member_id=member.pk, reward_id=last_one.pk, source=PAGE, idempotency_key="a")
    with pytest.raises(RewardUnavailable):
        reward_redeem(member_id=member.pk, reward_id=last_one.pk, source=PAGE, idempotency_key="b")
    for key in ("c", "d"):
        reward_redeem(member_id=member.pk, reward_id=unlimited.pk, source=PAGE, idempotency_key=key)
    unlimited.refresh_from_db()
    assert (unlimited.stock, unlimited.issued_count) == (None, 2)
    assert Reward.objects.get(pk=last_one.pk).stock == 0


def test_coupon_codes_are_unique_unguessable_and_free_of_look_alikes():
    member, _account = member_with_points(100_000)
    item = reward(points_price=1)
    codes = [
        reward_redeem(
            member_id=member.pk, reward_id=item.pk, source=PAGE, idempotency_key=str(i)
        ).code
        for i in range(200)
    ]
    assert len(set(codes)) == 200
    assert all(re.fullmatch(f"[{CODE_ALPHABET}]{{12}}", code) for code in codes)
    assert not set("01OI") & set("".join(codes))
    shown = coupon_code_display(codes[0])
    assert len(shown) == 14 and coupon_code_normalise(shown.lower()) == codes[0]


def test_a_code_drawn_twice_is_drawn_again(monkeypatch):
    member, _account = member_with_points(1000)
    item = reward(points_price=1)
    first = reward_redeem(member_id=member.pk, reward_id=item.pk, source=PAGE, idempotency_key="1")
    draws = iter([first.code, "ZZZZ2222ZZZZ"])
    monkeypatch.setattr("loyalty.services.rewards.coupon_code_new", lambda: next(draws))
    second = reward_redeem(member_id=member.pk, reward_id=item.pk, source=PAGE, idempotency_key="2")
    assert second.code == "ZZZZ2222ZZZZ"


def test_a_coupon_is_valid_through_the_end_of_its_last_day_in_taipei():
    issued = timezone.make_aware(timezone.datetime(2026, 12, 7, 23, 30))
    expires = timezone.localtime(coupon_expires_at(issued_at=issued, valid_days=30))
    assert (expires.date().isoformat(), expires.hour, expires.minute) == ("2027-01-07", 0, 0)
