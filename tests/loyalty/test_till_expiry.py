"""Held points survive the nightly expiry: a hold made before midnight commits after it. The
points spared are still due first-in-first-out: the commit consumes them, and if the hold is
released the next night's run expires them (loyalty/services/expiry.py's docstring)."""

from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from loyalty.models import PointsAccount, PointsTransaction
from loyalty.services.expiry import points_expire
from loyalty.services.ledger import Entry, accounts_ensure, entries_post
from loyalty.services.till import hold_commit, hold_create, hold_release
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

EARN = PointsTransaction.Kind.EARN
ORDER = PointsTransaction.Source.ORDER


def _account(*lots: tuple[int, int]) -> PointsAccount:
    """An account with these (points, expiring in days from today) lots."""
    member = MemberFactory()
    account_id = accounts_ensure(member_ids=[member.pk])[member.pk]
    today = timezone.localdate()
    entries_post(
        entries=[
            Entry(
                account_id,
                EARN,
                points,
                f"earn:{member.pk}:{n}",
                ORDER,
                expires_on=today + timedelta(days=days),
            )
            for n, (points, days) in enumerate(lots)
        ]
    )
    return PointsAccount.objects.get(pk=account_id)


def _balance_is_ledger_sum(account: PointsAccount) -> int:
    account.refresh_from_db()
    assert account.balance == account.transactions.aggregate(total=Sum("points"))["total"]
    return account.balance


def test_expiry_spares_held_points_and_the_commit_succeeds():
    account = _account((300, 0), (100, 60))  # 300 expire tonight, 100 in two months
    hold = hold_create(account_id=account.pk, order_amount_twd=1000, points=350, channel="store")

    # Tonight: 300 are due, but only 400 − 350 held = 50 may go.
    assert points_expire(today=timezone.localdate()) == 50
    assert _balance_is_ledger_sum(account) == 350

    committed = hold_commit(hold_id=hold.pk, order_no="S-1")
    assert committed.entry.points == -350
    assert _balance_is_ledger_sum(account) == 0
    # The commit consumed the spared points first-in-first-out: nothing is left to expire.
    assert points_expire(today=timezone.localdate() + timedelta(days=1)) == 0


def test_points_spared_for_a_released_hold_expire_the_next_night():
    account = _account((300, 0), (100, 60))
    hold = hold_create(account_id=account.pk, order_amount_twd=1000, points=200, channel="store")
    assert points_expire(today=timezone.localdate()) == 200  # 400 − 200 held
    hold_release(hold_id=hold.pk)

    assert points_expire(today=timezone.localdate() + timedelta(days=1)) == 100
    assert _balance_is_ledger_sum(account) == 100  # the lot of two months' time, untouched


def test_a_lapsed_hold_spares_nothing():
    account = _account((300, 0))
    hold_create(
        account_id=account.pk,
        order_amount_twd=1000,
        points=300,
        channel="store",
        now=timezone.now() - timedelta(hours=1),  # its 15 minutes are long past
    )
    assert points_expire(today=timezone.localdate()) == 300
    assert _balance_is_ledger_sum(account) == 0
