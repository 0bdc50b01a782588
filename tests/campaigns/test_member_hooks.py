"""Deliveries follow crm's members: merges, their undo, erasure (crm.hooks)."""

import pytest

from campaigns.models import Campaign, Delivery, Suppression
from crm.services.erasure import member_forget
from crm.services.merges import MergePair, member_unmerge, members_merge
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _delivery(campaign, member, status=Delivery.Status.SENT):
    from django.utils import timezone

    return Delivery.objects.create(
        campaign=campaign,
        member=member,
        channel="line",
        status=status,
        sent_at=timezone.now() if status == Delivery.Status.SENT else None,
    )


def test_merge_moves_deliveries_except_a_campaign_both_got_and_undo_moves_them_back():
    survivor, merged = MemberFactory(), MemberFactory()
    both = Campaign.objects.create(name="both")
    only_merged = Campaign.objects.create(name="only merged")
    _delivery(both, survivor)
    kept = _delivery(both, merged)
    moved = _delivery(only_merged, merged)
    Suppression.objects.create(member=merged, channel="line", reason="line_blocked")

    (log,) = members_merge(
        pairs=[MergePair(survivor_id=survivor.pk, merged_id=merged.pk, matched_keys=["manual"])]
    )

    moved.refresh_from_db()
    kept.refresh_from_db()
    assert moved.member_id == survivor.pk
    assert kept.member_id == merged.pk  # one delivery per member and campaign
    assert Suppression.objects.get().member_id == survivor.pk

    member_unmerge(merge_log=log)
    moved.refresh_from_db()
    assert moved.member_id == merged.pk


def test_erasure_ends_waiting_deliveries(alice):
    member = MemberFactory()
    campaign = Campaign.objects.create(name="c")
    waiting = _delivery(campaign, member, status=Delivery.Status.PENDING)
    member_forget(member=member, actor=alice, reason="PDPA request #12")
    waiting.refresh_from_db()
    assert (waiting.status, waiting.reason) == ("suppressed", "member_erased")
