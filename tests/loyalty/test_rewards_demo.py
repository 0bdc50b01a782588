"""The demo catalogue and coupons: issued through the real services, some used, some unused,
one expired; a second run adds nothing."""

import pytest
from django.db.models import Count, Sum

from loyalty.demo import rewards_seed_demo
from loyalty.models import Coupon, PointsAccount, Reward
from tests.loyalty.rewards_helpers import member_with_points

pytestmark = pytest.mark.django_db


def test_the_demo_gives_a_catalogue_and_coupons_in_every_state_and_runs_twice_as_once():
    for points in (2_000, 1_500, 900, 700, 500, 400, 300, 30):
        member_with_points(points)
    first = rewards_seed_demo(coupons=7)
    again = rewards_seed_demo(coupons=7)
    assert Reward.objects.count() == 7 and Reward.objects.filter(is_active=False).count() == 1
    statuses = dict(Coupon.objects.values_list("status").annotate(n=Count("pk")))
    assert first.coupons == Coupon.objects.count() == 7
    assert statuses.get("expired") == 1 and statuses.get("used", 0) >= 1
    assert statuses.get("issued", 0) >= 1
    assert (again.coupons, again.used, again.expired) == (0, 0, 0)
    for account in PointsAccount.objects.all():
        assert account.balance == (account.transactions.aggregate(s=Sum("points"))["s"] or 0)
