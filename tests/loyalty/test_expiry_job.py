"""The nightly expiry writes one EXPIRE entry per account and day for what the shared FIFO rule
says has expired; a rerun (or a second worker) writes nothing."""

import threading
from datetime import date

import pytest
from django.db import connection
from django.db.models import Sum

from loyalty.models import PointsAccount, PointsTransaction
from loyalty.services.expiry import points_expire
from loyalty.services.ledger import Entry, accounts_ensure, entries_post
from tests.factories import MemberFactory

EARN = PointsTransaction.Kind.EARN
REDEEM = PointsTransaction.Kind.REDEEM
SOURCE = PointsTransaction.Source.ORDER
TODAY = date(2026, 6, 1)


def _account_with(*entries) -> int:
    member = MemberFactory()
    account_id = accounts_ensure(member_ids=[member.pk])[member.pk]
    entries_post(
        entries=[
            Entry(account_id, kind, points, f"{account_id}:{n}", SOURCE, expires_on=day)
            for n, (kind, points, day) in enumerate(entries)
        ]
    )
    return account_id


@pytest.mark.django_db
def test_expires_the_oldest_lots_left_after_spending_once_per_day():
    spent = _account_with(
        (EARN, 100, date(2026, 5, 1)),
        (EARN, 50, date(2026, 7, 1)),
        (REDEEM, -30, None),
    )
    untouched = _account_with((EARN, 40, date(2026, 9, 1)))
    never = _account_with((EARN, 10, None))

    assert points_expire(today=TODAY, batch_size=2) == 70

    entry = PointsTransaction.objects.get(kind="expire")
    assert (entry.account_id, entry.points, entry.idempotency_key) == (
        spent,
        -70,
        f"expire:{spent}:2026-06-01",
    )
    assert entry.source == "nightly"
    balances = dict(PointsAccount.objects.values_list("pk", "balance"))
    assert balances == {spent: 50, untouched: 40, never: 10}
    # A rerun the same day, and the next day, expire nothing more.
    assert points_expire(today=TODAY) == 0
    assert points_expire(today=date(2026, 6, 2)) == 0
    assert PointsTransaction.objects.filter(kind="expire").count() == 1
    for account in PointsAccount.objects.all():
        total = account.transactions.aggregate(total=Sum("points"))["total"]
        assert account.balance == total


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_expire_once():
    if connection.vendor != "postgresql":
        pytest.skip("two writers at once need PostgreSQL (SQLite serialises them)")
    ids = [_account_with((EARN, 100, date(2026, 5, 1))) for _ in range(20)]
    results, errors = [], []

    def run():
        try:
            results.append(points_expire(today=TODAY, batch_size=7))
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(results) == 2_000
    assert PointsTransaction.objects.filter(kind="expire").count() == len(ids)
    assert not PointsAccount.objects.filter(balance__gt=0).exists()
