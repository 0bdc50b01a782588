"""Who gets an unused-points reminder (loyalty.reminders): expiring soon, or idle and rich."""

from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from loyalty.models import PointsAccount, PointsTransaction
from loyalty.reminders import points_reminder_due, points_reminder_period
from loyalty.services.ledger import Entry, accounts_ensure, entries_post
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
Kind = PointsTransaction.Kind
SOURCE = PointsTransaction.Source.ORDER
DAY = date(2026, 12, 7)


def _account(points: int, *, expires_on: date | None, opened_days_ago: int = 365) -> int:
    member = MemberFactory()
    account_id = accounts_ensure(member_ids=[member.pk])[member.pk]
    opened = timezone.make_aware(datetime(2026, 12, 7)) - timedelta(days=opened_days_ago)
    PointsAccount.objects.filter(pk=account_id).update(created_at=opened)
    entries_post(
        entries=[
            Entry(account_id, Kind.EARN, points, f"e{account_id}", SOURCE, expires_on=expires_on)
        ]
    )
    return member.pk


def _due() -> set[int]:
    return set(points_reminder_due(day=DAY).values_list("member_id", flat=True))


@pytest.fixture(autouse=True)
def _rules(settings):
    settings.LOYALTY_REMINDER_EXPIRY_DAYS = 30
    settings.LOYALTY_REMINDER_MIN_POINTS = 500
    settings.LOYALTY_REMINDER_IDLE_DAYS = 90


def test_points_expiring_within_the_window_are_due():
    soon = _account(40, expires_on=DAY + timedelta(days=30))
    later = _account(40, expires_on=DAY + timedelta(days=31), opened_days_ago=10)
    assert soon in _due()
    assert later not in _due()


def test_a_rich_idle_member_is_due_but_not_a_new_one_nor_a_recent_redeemer():
    idle = _account(600, expires_on=None)
    new = _account(600, expires_on=None, opened_days_ago=30)
    poor = _account(499, expires_on=None)
    redeemer = _account(600, expires_on=None)
    PointsAccount.objects.filter(member_id=redeemer).update(
        last_redeemed_at=timezone.make_aware(datetime(2026, 11, 1))
    )
    due = _due()
    assert idle in due
    assert not {new, poor, redeemer} & due


def test_the_period_is_the_month():
    assert points_reminder_period(day=DAY) == "2026-12"
