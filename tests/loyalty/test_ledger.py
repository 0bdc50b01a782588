"""The ledger's core: entries_post keeps balance == ledger sum, never negative, never twice."""

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Sum

from loyalty.models import PointsAccount, PointsTransaction
from loyalty.services.ledger import Entry, InsufficientPoints, accounts_ensure, entries_post
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

EARN = PointsTransaction.Kind.EARN
REDEEM = PointsTransaction.Kind.REDEEM
SOURCE = PointsTransaction.Source.ORDER


def _account() -> PointsAccount:
    member = MemberFactory()
    return PointsAccount.objects.get(pk=accounts_ensure(member_ids=[member.pk])[member.pk])


def _sum(account: PointsAccount) -> int:
    return account.transactions.aggregate(total=Sum("points"))["total"] or 0


def test_posts_number_entries_and_move_the_balance():
    account = _account()
    entries_post(
        entries=[
            Entry(account.pk, EARN, 120, "earn:1", SOURCE),
            Entry(account.pk, REDEEM, -20, "redeem:1", SOURCE),
            Entry(account.pk, EARN, 5, "earn:2", SOURCE),
        ]
    )
    account.refresh_from_db()
    rows = list(account.transactions.values_list("seq", "points", "balance_after"))
    assert rows == [(1, 120, 120), (2, -20, 100), (3, 5, 105)]
    assert account.balance == 105 == _sum(account)
    assert account.entries == 3
    assert account.last_earned_at is not None and account.last_redeemed_at is not None


def test_a_key_posted_twice_counts_once():
    account = _account()
    first = entries_post(entries=[Entry(account.pk, EARN, 50, "earn:order:7", SOURCE)])
    again = entries_post(
        entries=[
            Entry(account.pk, EARN, 50, "earn:order:7", SOURCE),
            Entry(account.pk, EARN, 50, "earn:order:7", SOURCE),
        ]
    )
    account.refresh_from_db()
    assert len(first) == 1 and again == []
    assert account.balance == 50 == _sum(account)


def test_an_overspend_raises_and_posts_nothing():
    account = _account()
    entries_post(entries=[Entry(account.pk, EARN, 30, "earn:a", SOURCE)])
    with pytest.raises(InsufficientPoints) as refusal:
        entries_post(
            entries=[
                Entry(account.pk, EARN, 10, "earn:b", SOURCE),
                Entry(account.pk, REDEEM, -41, "redeem:a", SOURCE),
            ]
        )
    assert (refusal.value.balance, refusal.value.wanted) == (40, 41)
    account.refresh_from_db()
    assert account.balance == 30 == _sum(account)
    assert account.entries == 1


def test_clamped_debits_take_what_is_left():
    account = _account()
    entries_post(entries=[Entry(account.pk, EARN, 30, "earn:a", SOURCE)])
    entries_post(
        entries=[
            Entry(account.pk, PointsTransaction.Kind.REVERSE, -45, "reverse:a", SOURCE),
            Entry(account.pk, PointsTransaction.Kind.REVERSE, -5, "reverse:b", SOURCE),
        ],
        clamp_debits=True,
    )
    account.refresh_from_db()
    assert account.balance == 0 == _sum(account)
    reversal = account.transactions.get(idempotency_key="reverse:a")
    assert reversal.points == -30 and "45" in reversal.reason
    assert not account.transactions.filter(idempotency_key="reverse:b").exists()


def test_the_database_refuses_a_second_writer_of_the_same_entry_number():
    account = _account()
    entries_post(entries=[Entry(account.pk, EARN, 30, "earn:a", SOURCE)])
    # A writer that skipped the lock and read the account before the post above.
    with pytest.raises(IntegrityError), transaction.atomic():
        PointsTransaction.objects.create(
            account=account,
            seq=1,
            kind=REDEEM,
            points=-30,
            balance_after=0,
            source=SOURCE,
            idempotency_key="redeem:stale",
        )


def test_the_database_refuses_a_negative_balance():
    account = _account()
    with pytest.raises(IntegrityError), transaction.atomic():
        PointsAccount.objects.filter(pk=account.pk).update(balance=-1)
