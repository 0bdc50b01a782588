"""Orders earn promptly: crm sends order_changes_written after a feed write commits (crm imports
no other app), loyalty queues one drain of its consumer, coalesced, and a worker earns."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from crm.models import OrderChange
from crm.services.api_keys import api_key_create
from crm.services.orders import OrderIn, orders_upsert
from crm.signals import order_changes_written
from loyalty.apps import EARN_DRAIN_UID
from loyalty.models import PointsTransaction
from loyalty.tasks import earn_drain_request
from tests.conftest import wait_for
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db(transaction=True)

SALE = OrderIn(
    channel="web",
    external_no="W-1",
    amount_twd=1000,
    placed_at=timezone.now() - timedelta(days=1),
    status="placed",
)


@pytest.fixture
def signals_heard():
    """The order_changes_written signals sent, with loyalty's receiver set aside (no task)."""
    heard = []

    def listen(sender, **kwargs):
        heard.append(sender)

    order_changes_written.disconnect(dispatch_uid=EARN_DRAIN_UID)
    order_changes_written.connect(listen, dispatch_uid="test-listen")
    yield heard
    order_changes_written.disconnect(dispatch_uid="test-listen")
    order_changes_written.connect(earn_drain_request, dispatch_uid=EARN_DRAIN_UID)


def test_the_signal_is_sent_once_the_orders_commit_and_never_for_a_rollback(signals_heard):
    with transaction.atomic():
        orders_upsert(orders=[SALE], member_ids=[None])
        assert signals_heard == []  # not before the commit: the consumer would find nothing
    assert signals_heard == [OrderChange]

    orders_upsert(orders=[SALE], member_ids=[None])  # nothing changed: no feed row, no signal
    assert signals_heard == [OrderChange]

    with pytest.raises(RuntimeError), transaction.atomic():
        orders_upsert(orders=[SALE], member_ids=[MemberFactory().pk])
        raise RuntimeError
    assert signals_heard == [OrderChange]


def test_a_merge_feeds_moves_and_signals(signals_heard):
    from crm.services import MergePair, members_merge

    old, new = MemberFactory(), MemberFactory()
    orders_upsert(orders=[SALE], member_ids=[old.pk])
    members_merge(pairs=[MergePair(survivor_id=new.pk, merged_id=old.pk, matched_keys=["manual"])])

    assert len(signals_heard) == 2


def test_drains_are_coalesced_and_a_worker_earns_an_api_order_promptly(celery_worker, alice):
    from django.core.cache import cache

    from loyalty.tasks import _earn_queued_key

    cache.delete(_earn_queued_key())
    _api_key, key = api_key_create(name="POS", channel="store", actor=alice)
    for n in range(3):  # three orders, three commits, three signals: drains queued ≤ 3
        response = Client().post(
            "/api/v1/orders",
            data={
                "channel": "store",
                "external_no": f"TPE01-{n}",
                "amount_twd": 1000,
                "placed_at": (timezone.now() - timedelta(hours=1)).isoformat(),
                "store_code": "TPE01",
                "identifiers": {"pos_card": "a00012345"},
            },
            content_type="application/json",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 201, response.content

    # No earn_consume here: the signal's drain task, run by the worker, earns.
    wait_for(lambda: PointsTransaction.objects.filter(kind="earn").count() == 3)
    assert sum(PointsTransaction.objects.values_list("points", flat=True)) == 30

    # One drain queued (and not started) stands for all: a second request queues nothing.
    cache.delete(_earn_queued_key())
    assert earn_drain_request() is True
    assert earn_drain_request() is False
    wait_for(lambda: cache.get(_earn_queued_key()) is None)  # the worker took it
