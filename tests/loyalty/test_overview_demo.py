"""The demo's living programme: points from the demo orders, expiry, tiers, adjustments."""

import pytest
from django.db.models import F, OuterRef, Subquery, Sum

from crm.demo import demo_seed
from crm.models import Order
from loyalty.demo import demo_loyalty_seed
from loyalty.models import PointsAccount, PointsTransaction, TierChange
from loyalty.selectors_overview import default_period, programme_overview
from omnichannel.models import AuditEvent
from tests.loyalty.tiers_defaults import tiers_default_ensure

# The demo's points come through crm's order-change feed, whose consumers read only what other
# transactions committed on PostgreSQL (docs/design-notes.md): the seed must commit.
pytestmark = pytest.mark.django_db(transaction=True)
Kind = PointsTransaction.Kind


@pytest.fixture
def programme():
    tiers_default_ensure()  # a transactional test's flush took migration 0002's tiers
    demo_seed(members=300, seed=7)
    return demo_loyalty_seed()


def test_the_demo_brand_gets_a_living_programme(programme):
    assert programme is not None and programme.accounts > 100 and programme.coupons > 0
    kinds = set(PointsTransaction.objects.values_list("kind", flat=True).distinct())
    assert {Kind.EARN, Kind.EXPIRE, Kind.ADJUST} <= kinds
    assert programme.expired > 0 and programme.adjusted >= 3
    tiers = set(PointsAccount.objects.values_list("tier__rank", flat=True).distinct())
    assert len(tiers) >= 3
    assert TierChange.objects.exists()


def test_every_balance_equals_its_ledger(programme):
    ledger_sum = Subquery(
        PointsTransaction.objects.filter(account=OuterRef("pk"))
        .values("account")
        .annotate(total=Sum("points"))
        .values("total")[:1]
    )
    wrong = PointsAccount.objects.annotate(total=ledger_sum).exclude(balance=F("total"))
    assert not wrong.exists()


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
