"""Tiers follow rolling 12-month net spend: upgrades at once, downgrades after the grace period,
every change recorded with its reason; on orders (the feed), nightly, on rule edits."""

from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from crm.services.orders import OrderIn, orders_upsert
from loyalty.models import PointsAccount, Programme, Tier, TierChange
from loyalty.services.ledger import accounts_ensure
from loyalty.services.tiers import (
    tier_decide,
    tiers_consume,
    tiers_evaluate,
    tiers_evaluate_all,
)
from omnichannel.schedule import SCHEDULE
from tests.factories import MemberFactory, OrderFactory
from tests.loyalty.tiers_defaults import tiers_default_ensure

pytestmark = pytest.mark.django_db
Reason = TierChange.Reason


@pytest.fixture
def default_tiers():
    tiers_default_ensure()


def _tier(name: str) -> Tier:
    return Tier.objects.get(name=name)


def _account(member) -> PointsAccount:
    return PointsAccount.objects.get(pk=accounts_ensure(member_ids=[member.pk])[member.pk])


def test_the_rule_upgrades_at_once_and_downgrades_after_grace():
    tiers = list(Tier.objects.order_by("rank"))
    silver, gold = _tier("銀卡"), _tier("金卡")
    now = timezone.now()
    common = {"tiers": tiers, "grace_days": 30, "now": now, "trigger": Reason.NIGHTLY}
    up = tier_decide(tier_id=silver.pk, downgrade_due_at=None, spend_twd=30_000, **common)
    assert (up.tier_id, up.reason) == (gold.pk, Reason.NIGHTLY)
    kept = tier_decide(tier_id=gold.pk, downgrade_due_at=None, spend_twd=12_000, **common)
    assert (kept.tier_id, kept.downgrade_due_at, kept.reason) == (
        gold.pk,
        now + timedelta(days=30),
        None,
    )
    ended = tier_decide(
        tier_id=gold.pk, downgrade_due_at=now - timedelta(seconds=1), spend_twd=12_000, **common
    )
    assert (ended.tier_id, ended.reason) == (silver.pk, Reason.GRACE_ENDED)
    recovered = tier_decide(
        tier_id=gold.pk, downgrade_due_at=now + timedelta(days=3), spend_twd=31_000, **common
    )
    assert (recovered.tier_id, recovered.downgrade_due_at) == (gold.pk, None)


def test_spend_is_crm_net_revenue_of_the_last_365_days():
    member = MemberFactory()
    now = timezone.now()
    OrderFactory(member=member, amount_twd=8_000, placed_at=now - timedelta(days=10))
    OrderFactory(member=member, amount_twd=-1_000, placed_at=now - timedelta(days=5))  # return
    OrderFactory(member=member, amount_twd=5_000, placed_at=now, status="cancelled")
    OrderFactory(member=member, amount_twd=50_000, placed_at=now - timedelta(days=400))
    account = _account(member)

    tiers_evaluate(account_ids=[account.pk], trigger=Reason.ORDER)

    account.refresh_from_db()
    assert account.spend_12m_twd == 7_000
    assert account.tier.name == "一般"


def test_an_upgrade_is_recorded_once_and_a_second_run_writes_nothing():
    member = MemberFactory()
    OrderFactory(member=member, amount_twd=35_000)
    account = _account(member)

    assert tiers_evaluate_all() == 1
    account.refresh_from_db()
    assert account.tier.name == "金卡" and account.tier_since is not None
    change = TierChange.objects.get()
    assert (change.from_tier, change.to_tier.name, change.reason) == (None, "金卡", "nightly")
    stamp = account.updated_at

    assert tiers_evaluate_all() == 0
    account.refresh_from_db()
    assert account.updated_at == stamp  # not even rewritten
    assert TierChange.objects.count() == 1


def test_a_downgrade_waits_for_the_grace_period_and_is_cleared_by_recovery():
    Programme.objects.filter(pk=1).update(downgrade_grace_days=30)
    member = MemberFactory()
    old = OrderFactory(member=member, amount_twd=35_000, placed_at=timezone.now())
    account = _account(member)
    tiers_evaluate_all()
    # A year later the order leaves the window.
    later = timezone.now() + timedelta(days=366)
    tiers_evaluate_all(at=later)
    account.refresh_from_db()
    assert account.tier.name == "金卡"
    assert account.downgrade_due_at == later + timedelta(days=30)
    assert account.spend_12m_twd == 0

    # Spend recovers in time: the due date goes.
    OrderFactory(member=member, amount_twd=40_000, placed_at=later)
    tiers_evaluate_all(at=later + timedelta(days=1))
    account.refresh_from_db()
    assert (account.tier.name, account.downgrade_due_at) == ("金卡", None)

    # It falls again, and the grace ends.
    old.delete()
    later2 = later + timedelta(days=370)
    tiers_evaluate_all(at=later2)
    tiers_evaluate_all(at=later2 + timedelta(days=31))
    account.refresh_from_db()
    assert account.tier.name == "一般"
    assert account.downgrade_due_at is None
    last = TierChange.objects.order_by("-pk").first()
    assert (last.from_tier.name, last.to_tier.name, last.reason) == ("金卡", "一般", "grace_ended")


@pytest.mark.django_db(transaction=True)  # the feed reads committed transactions (PostgreSQL)
def test_the_feed_consumer_gives_new_buyers_an_account_and_their_tier(default_tiers):
    member = MemberFactory()
    sale = OrderIn(
        channel="web",
        external_no="W-1",
        amount_twd=12_000,
        placed_at=timezone.now(),
        status="placed",
    )
    orders_upsert(orders=[sale, replace(sale, external_no="W-2")], member_ids=[member.pk, None])

    assert tiers_consume() == 2
    account = PointsAccount.objects.get(member=member)
    assert (account.tier.name, account.spend_12m_twd) == ("銀卡", 12_000)
    assert TierChange.objects.get().reason == "order"
    assert tiers_consume() == 0


def test_editing_thresholds_re_evaluates_with_reason_rules():
    member = MemberFactory()
    OrderFactory(member=member, amount_twd=12_000)
    account = _account(member)
    tiers_evaluate_all()
    Tier.objects.filter(name="金卡").update(threshold_twd=11_000)

    tiers_evaluate_all(trigger=Reason.RULES)

    account.refresh_from_db()
    assert account.tier.name == "金卡"
    assert TierChange.objects.order_by("-pk").first().reason == "rules"


def test_the_jobs_are_on_the_schedule():
    tasks = {job.task: job for job in SCHEDULE}
    assert tasks["loyalty.tasks.tiers_consume_task"].minute == "*"
    expiry, review = (
        tasks["loyalty.tasks.points_expire_task"],
        tasks["loyalty.tasks.tiers_nightly_task"],
    )
    assert (int(expiry.hour), int(expiry.minute)) < (int(review.hour), int(review.minute))


# Committed between the two reads, as in production: on PostgreSQL the feed is read in
# intervals of committed transactions, and one test transaction would be a single interval.
@pytest.mark.django_db(transaction=True)
def test_the_consumer_re_evaluates_a_member_orders_moved_away_from(alice, default_tiers):
    from crm.services.erasure import member_forget

    member = MemberFactory()
    sale = OrderIn(
        channel="web",
        external_no="W-9",
        amount_twd=12_000,
        placed_at=timezone.now(),
        status="placed",
    )
    orders_upsert(orders=[sale], member_ids=[member.pk])
    tiers_consume()
    member_forget(member=member, actor=alice, reason="PDPA request #3")

    tiers_consume()

    account = PointsAccount.objects.get(member=member)
    assert account.spend_12m_twd == 0
    assert account.tier.name == "銀卡" and account.downgrade_due_at is not None  # grace
