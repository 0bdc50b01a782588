"""Points, coupons and tier changes on the member's 360° timeline, paged with everything else."""

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from crm.models import Touchpoint
from crm.timeline import timeline_page
from loyalty.models import PointsTransaction, TierChange
from tests.factories import MemberFactory, UserFactory
from tests.loyalty.crmcards_data import account_of, coupon, earn, post, reward, tier

pytestmark = pytest.mark.django_db
Kind = PointsTransaction.Kind


def _history(member):
    """One entry of every kind, a minute apart, and touchpoints in between."""
    start = timezone.now() - timedelta(hours=2)
    at = [start + timedelta(minutes=n) for n in range(20)]
    account = account_of(member)
    other = account_of(MemberFactory())
    earn(account, 500, "earn", expires_in_days=300, at=at[0], order_no="S100")
    post(account, Kind.REDEEM, -120, "redeem", at=at[1], source="till", order_no="S101")
    post(account, Kind.EXPIRE, -30, "expire", at=at[2], source="nightly")
    marketer = UserFactory(username="bob-the-marketer")
    post(
        account,
        Kind.ADJUST,
        40,
        "adjust",
        at=at[3],
        source="page",
        reason="Goodwill: late delivery",
        actor_id=marketer.pk,
    )
    post(account, Kind.REVERSE, -50, "reverse", at=at[4], order_no="S100")
    post(account, Kind.TRANSFER, 25, "transfer", at=at[5], source="merge", counterpart_id=other.pk)
    gift = reward("生日禮")
    coupon(account, gift, "TLCODE000001", issued_at=at[6])
    used = coupon(account, gift, "TLCODE000002", issued_at=at[7], used=True, used_via="till")
    used.used_at = at[8]
    used.save(update_fields=["used_at"])
    TierChange.objects.create(
        account=account,
        from_tier=tier("一般"),
        to_tier=tier("銀卡"),
        reason=TierChange.Reason.ORDER,
        spend_12m_twd=12_000,
        at=at[9],
    )
    for n in range(10, 20):
        Touchpoint.objects.create(member=member, channel="web", kind="page_view", at=at[n])
    return account


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def test_every_loyalty_entry_is_on_the_timeline():
    member = MemberFactory()
    _history(member)

    entries = timeline_page(member_id=member.pk, page_size=50).entries
    loyalty = [e for e in entries if e.kind in ("points", "coupon", "coupon_used", "tier")]
    titles = [e.title for e in reversed(loyalty)]  # oldest first

    assert titles == [
        "Earned 500 points",
        "Redeemed 120 points",
        "30 points expired",
        "Adjusted by hand: +40 points",
        "Reversed: 50 points",
        "25 points moved in from a merge",
        "Coupon issued: 生日禮",
        "Coupon issued: 生日禮",
        "Coupon used: 生日禮",
        "Tier up: 一般 → 銀卡",
    ]
    adjust = next(e for e in loyalty if e.title.startswith("Adjusted"))
    assert "Reason: Goodwill: late delivery" in adjust.detail
    assert "By bob-the-marketer" in adjust.detail
    assert "Balance after: 390" in adjust.detail
    earned = loyalty[-1]
    assert "Order S100" in earned.detail
    assert all("TLCODE" not in e.detail for e in loyalty)  # coupon codes are masked


def test_paging_keeps_every_entry_once_in_order():
    member = MemberFactory()
    _history(member)
    everything = timeline_page(member_id=member.pk, page_size=100).entries

    seen, before = [], None
    while True:
        page = timeline_page(member_id=member.pk, before=before, page_size=3)
        seen.extend(page.entries)
        if page.next_cursor is None:
            break
        before = page.next_cursor

    assert [e.cursor for e in seen] == [e.cursor for e in everything]
    assert len(seen) == 20


def test_no_account_no_entries_and_another_members_points_stay_theirs():
    member, other = MemberFactory(), MemberFactory()
    _history(other)

    assert timeline_page(member_id=member.pk).entries == []


def test_profile_page_shows_points_on_the_timeline(login_as):
    member = MemberFactory()
    _history(member)

    page = login_as("bob").get(f"/members/{member.member_no}/").content.decode()

    assert 'data-kind="points"' in page and 'data-kind="tier"' in page
    assert "Goodwill: late delivery" in page
