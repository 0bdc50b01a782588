"""The first-in-first-out expiry rule (loyalty.expiry), checked by hand."""

from datetime import date

import pytest

from loyalty.expiry import expiring_points
from loyalty.models import PointsAccount, PointsTransaction
from loyalty.services.ledger import Entry, accounts_ensure, entries_post
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
Kind = PointsTransaction.Kind
SOURCE = PointsTransaction.Source.ORDER


def _account() -> PointsAccount:
    member = MemberFactory()
    return PointsAccount.objects.get(pk=accounts_ensure(member_ids=[member.pk])[member.pk])


def test_debits_take_the_oldest_lots_first():
    account = _account()
    entries_post(
        entries=[
            Entry(account.pk, Kind.EARN, 100, "e1", SOURCE, expires_on=date(2027, 1, 31)),
            Entry(account.pk, Kind.EARN, 50, "e2", SOURCE, expires_on=date(2027, 3, 31)),
            Entry(account.pk, Kind.ADJUST, 20, "a1", SOURCE),  # never expires
            Entry(account.pk, Kind.REDEEM, -70, "r1", SOURCE),
        ]
    )
    assert expiring_points(account=account, on=date(2027, 1, 30)) == 0
    assert expiring_points(account=account, on=date(2027, 1, 31)) == 30  # 100 − 70
    assert expiring_points(account=account, on=date(2027, 3, 31)) == 80  # 150 − 70
    assert expiring_points(account=account, on=date(2099, 1, 1)) == 80  # the 20 never expire


def test_expired_points_count_as_taken():
    account = _account()
    entries_post(
        entries=[
            Entry(account.pk, Kind.EARN, 100, "e1", SOURCE, expires_on=date(2027, 1, 31)),
            Entry(account.pk, Kind.EARN, 50, "e2", SOURCE, expires_on=date(2027, 3, 31)),
            Entry(account.pk, Kind.EXPIRE, -100, "x1", SOURCE),
        ]
    )
    assert expiring_points(account=account, on=date(2027, 1, 31)) == 0
    assert expiring_points(account=account, on=date(2027, 3, 31)) == 50
