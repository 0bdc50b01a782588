"""Two push jobs at once on PostgreSQL (two beat workers, or beat and a manual run): each card
is claimed by one of them (FOR UPDATE SKIP LOCKED), so each device is pushed once. Real
sessions, each in its own thread and connection, released together by a barrier."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from loyalty.models import PointsTransaction, WalletPass
from loyalty.services.ledger import Entry, accounts_ensure, entries_post
from loyalty.services.wallet_push import wallet_updates_push
from tests.factories import MemberFactory
from tests.loyalty.wallet_push_helpers import (
    apns_running,
    apple_card,
    device_token,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="SQLite serialises every writer: two concurrent transactions need PostgreSQL",
    ),
]
CARDS = 120


@pytest.fixture
def apns(tmp_path, settings):
    yield from apns_running(tmp_path, settings)


def _at_once(calls) -> list:
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            outcomes[i] = call()
        except Exception as exc:  # the test looks at it
            outcomes[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_two_jobs_at_once_push_each_device_once(apns):
    members = MemberFactory.create_batch(CARDS, home_store=None)
    tokens = [device_token() for _ in members]
    for member, token in zip(members, tokens, strict=True):
        apple_card(member, token)
    accounts = accounts_ensure(member_ids=[m.pk for m in members])
    entries_post(  # one batch moves every member's points: every card is marked
        entries=[
            Entry(
                account_id=accounts[m.pk],
                kind=PointsTransaction.Kind.EARN,
                points=10,
                idempotency_key=f"together:{m.pk}",
                source=PointsTransaction.Source.ORDER,
                expires_on=timezone.localdate() + timedelta(days=365),
            )
            for m in members
        ]
    )
    assert WalletPass.objects.filter(changed_at__isnull=False).count() == CARDS

    outcomes = _at_once([lambda: wallet_updates_push(batch_size=10)] * 2)

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert sum(o.cards for o in outcomes) == CARDS
    assert sum(o.sent for o in outcomes) == CARDS
    assert apns.tokens_pushed() == dict.fromkeys(tokens, 1)
    assert not WalletPass.objects.filter(changed_at__isnull=False).exists()
