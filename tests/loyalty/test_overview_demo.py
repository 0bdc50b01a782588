"""The demo's living programme: points from the demo orders, expiry, tiers, adjustments."""

from datetime import timedelta

import pytest
from django.db.models import F, OuterRef, Subquery, Sum
from django.utils import timezone

from crm.demo import demo_seed
from crm.models import Order
from loyalty.demo import _with_expiry, demo_loyalty_seed
from loyalty.models import PointsAccount, PointsTransaction, TierChange
from loyalty.selectors_overview import default_period, programme_overview
from loyalty.services.ledger import Entry
from omnichannel.models import AuditEvent

pytestmark = pytest.mark.django_db
Kind = PointsTransaction.Kind


@pytest.fixture
def programme():
    demo_seed(members=300, seed=7)
    return demo_loyalty_seed()


def test_the_demo_brand_gets_a_living_programme(programme):
    assert programme is not None and programme.accounts > 100
    kinds = set(PointsTransaction.objects.values_list("kind", flat=True).distinct())
    assert {Kind.EARN, Kind.EXPIRE, Kind.ADJUST} <= kinds
    assert programme.expired > 0 and programme.adjusted >= 3
    tiers = set(PointsAccount.objects.values_list("tier__rank", flat=True).distinct())
    assert len(tiers) >= 3
    assert TierChange.objects.exists()


def test_every_balance_equals_its_ledger_and_entries_run_in_time_order(programme):
    ledger_sum = Subquery(
        PointsTransaction.objects.filter(account=OuterRef("pk"))
        .values("account")
        .annotate(total=Sum("points"))
        .values("total")[:1]
    )
    wrong = PointsAccount.objects.annotate(total=ledger_sum).exclude(balance=F("total"))
    assert not wrong.exists()
    account = PointsAccount.objects.filter(entries__gte=4).first()
    times = list(account.transactions.order_by("seq").values_list("at", flat=True))
    assert times == sorted(times)


def test_points_are_earned_once_per_order_under_the_consumers_key(programme):
    earned = PointsTransaction.objects.filter(kind=Kind.EARN)
    sample = earned.first()

    assert sample.idempotency_key == f"earn:order:{sample.order_id}"
    assert earned.values("order").distinct().count() == earned.count()
    assert not Order.objects.filter(
        status=Order.Status.CANCELLED, pk__in=earned.values("order")
    ).exists()
    assert demo_loyalty_seed() is None  # a second run writes nothing


def test_adjustments_carry_a_reason_and_are_audited(programme):
    adjustments = PointsTransaction.objects.filter(kind=Kind.ADJUST)

    assert all(entry.reason for entry in adjustments)
    assert AuditEvent.objects.filter(action="points.adjusted").count() == adjustments.count()


def test_the_overview_shows_the_demo_programme(programme):
    figures = programme_overview(period=default_period(days=365))

    assert figures.flows.issued > 0 and figures.flows.expired > 0
    assert figures.outstanding == sum(PointsAccount.objects.values_list("balance", flat=True))
    assert figures.breakage.rate is not None


def test_expiry_takes_what_is_left_of_the_lots_first_in_first_out():
    now = timezone.now()
    day = timezone.localdate() - timedelta(days=10)
    at = timezone.make_aware(
        timezone.datetime.combine(day - timedelta(days=400), timezone.datetime.min.time())
    )
    moves = [
        Entry(1, Kind.EARN, 100, "earn:1", "order", expires_on=day, at=at),
        Entry(1, Kind.REVERSE, -30, "reverse:2", "order", at=at + timedelta(days=1)),
        Entry(1, Kind.EARN, 50, "earn:3", "order", expires_on=day + timedelta(days=30), at=now),
    ]

    out = _with_expiry(1, moves, today=timezone.localdate())

    assert [(e.kind, e.points) for e in out] == [
        (Kind.EARN, 100),
        (Kind.REVERSE, -30),
        (Kind.EXPIRE, -70),
        (Kind.EARN, 50),
    ]
