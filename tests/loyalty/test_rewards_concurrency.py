"""Two redemptions at once on PostgreSQL: the last one in stock goes to one member only, and
one member's points are never spent twice. Real sessions, each in its own thread and
connection, released together by a barrier."""

import threading

import pytest
from django.db import connection, connections

from loyalty.models import Coupon, PointsTransaction, Reward
from loyalty.services.ledger import InsufficientPoints
from loyalty.services.rewards import RewardUnavailable, reward_redeem
from tests.loyalty.rewards_helpers import member_with_points, reward

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="SQLite serialises every writer: two concurrent transactions need PostgreSQL",
    ),
]


def _at_once(calls) -> list:
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            outcomes[i] = call()
        except Exception as exc:  # the refusal is the outcome we look at
            outcomes[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_the_last_one_in_stock_goes_to_one_member_only():
    for _round in range(5):
        last_one = reward(stock=1)
        members = [member_with_points(300)[0] for _i in range(2)]
        outcomes = _at_once(
            [
                lambda m=m, item=last_one: reward_redeem(
                    member_id=m.pk,
                    reward_id=item.pk,
                    source=PointsTransaction.Source.PAGE,
                    idempotency_key=f"{item.pk}:{m.pk}",
                )
                for m in members
            ]
        )
        assert sorted(type(o).__name__ for o in outcomes) == ["Coupon", "RewardUnavailable"]
        assert next(o for o in outcomes if isinstance(o, RewardUnavailable)).reason == (
            "out_of_stock"
        )
        last_one.refresh_from_db()
        assert (last_one.stock, last_one.issued_count) == (0, 1)
        assert Coupon.objects.filter(reward=last_one).count() == 1
    assert Reward.objects.filter(stock__lt=0).count() == 0


def test_one_members_points_are_not_spent_twice():
    member, account = member_with_points(150)
    items = [reward(stock=10, points_price=100), reward(stock=10, points_price=100)]
    outcomes = _at_once(
        [
            lambda r=r: reward_redeem(
                member_id=member.pk,
                reward_id=r.pk,
                source=PointsTransaction.Source.PAGE,
                idempotency_key=f"once:{r.pk}",
            )
            for r in items
        ]
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["Coupon", "InsufficientPoints"]
    assert isinstance(next(o for o in outcomes if not isinstance(o, Coupon)), InsufficientPoints)
    account.refresh_from_db()
    assert account.balance == 50
    assert (
        sum(
            Reward.objects.filter(pk__in=[r.pk for r in items]).values_list(
                "issued_count", flat=True
            )
        )
        == 1
    )
