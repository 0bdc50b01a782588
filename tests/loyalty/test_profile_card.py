"""The points card on the member's 360° profile: figures right, few queries, no personal data."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.profile_cards import profile_cards_for
from loyalty.expiry import expiring_points
from loyalty.models import PointsHold, PointsTransaction
from loyalty.selectors_profile import points_card
from tests.factories import MemberFactory
from tests.loyalty.crmcards_data import account_of, coupon, earn, post, reward, set_tier, today_plus

pytestmark = pytest.mark.django_db

REDEEM = PointsTransaction.Kind.REDEEM


def _hold(account, points: int, *, minutes: int, status=PointsHold.Status.HELD) -> PointsHold:
    return PointsHold.objects.create(
        account=account,
        points=points,
        discount_twd=points,
        status=status,
        expires_at=timezone.now() + timedelta(minutes=minutes),
        channel="store",
    )


@pytest.fixture
def member_with_points():
    """1,000 points: 300 due in 10 days, 200 in 45, 500 in 200 days; 100 redeemed (taken from
    the first lot: 200 of it left); 150 held at a till now, 80 in a hold that timed out."""
    member = MemberFactory(name="王小美")
    account = account_of(member)
    earn(account, 300, "e1", expires_in_days=10)
    earn(account, 200, "e2", expires_in_days=45)
    earn(account, 500, "e3", expires_in_days=200)
    post(account, REDEEM, -100, "r1")
    _hold(account, 150, minutes=10)
    _hold(account, 80, minutes=-1)  # past its time: not held any more
    _hold(account, 60, minutes=10, status=PointsHold.Status.RELEASED)
    set_tier(account, "銀卡", 12_000)
    return member, account


def test_member_without_an_account_gets_no_card():
    member = MemberFactory()

    assert points_card(member_id=member.pk, member_no=member.member_no) is None
    # The wallet card stays (every member may add the card to a wallet); the points card goes.
    assert [r.card.name for r in profile_cards_for(member)] == ["wallet"]


def test_card_figures(member_with_points):
    member, account = member_with_points

    card = points_card(member_id=member.pk, member_no=member.member_no)

    assert card.balance == 900
    assert card.held == 150 and card.available == 750
    assert card.tier.name == "銀卡"
    assert card.expiring == {30: 200, 60: 400}
    assert card.expiring[30] == expiring_points(account=account, on=today_plus(30))
    assert (card.next_expiry_on, card.next_expiry_points) == (today_plus(10), 200)
    assert card.history_url == f"/loyalty/members/{member.member_no}/points/"


def test_tier_progress_to_the_next_tier(member_with_points):
    member, account = member_with_points

    progress = points_card(member_id=member.pk, member_no=member.member_no).progress

    # 銀卡 from NT$10,000, 金卡 from NT$30,000: NT$12,000 is 10% of the way.
    assert progress.next_tier.name == "金卡"
    assert progress.to_go_twd == 18_000
    assert progress.percent == 10
    set_tier(account, "白金", 90_000)
    top = points_card(member_id=member.pk, member_no=member.member_no).progress
    assert top.next_tier is None and top.to_go_twd == 0
    set_tier(account, None, 2_000)
    untiered = points_card(member_id=member.pk, member_no=member.member_no).progress
    assert untiered.next_tier.name == "銀卡" and untiered.to_go_twd == 8_000


def test_next_expiry_follows_first_in_first_out():
    member = MemberFactory()
    account = account_of(member)
    earn(account, 100, "a", expires_in_days=5)
    earn(account, 100, "b", expires_in_days=20)
    earn(account, 50, "c", expires_in_days=None)  # never expires
    post(account, REDEEM, -130, "spend")  # all of the first lot and 30 of the second

    card = points_card(member_id=member.pk, member_no=member.member_no)

    on = today_plus(20)
    assert (card.next_expiry_on, card.next_expiry_points) == (on, 70)
    assert card.next_expiry_points == expiring_points(account=account, on=on) - expiring_points(
        account=account, on=on - timedelta(days=1)
    )
    post(account, REDEEM, -100, "spend-more")  # the dated lots are gone: nothing expires
    card = points_card(member_id=member.pk, member_no=member.member_no)
    assert card.next_expiry_on is None and card.expiring == {30: 0, 60: 0}


def test_coupons_unused_first_and_counted(member_with_points):
    member, account = member_with_points
    gift = reward("生日禮")
    coupon(account, gift, "USEDCODE0001", used=True)
    coupon(account, gift, "OLDCODE00002", days_valid=-1)  # past its date, not yet marked
    coupon(account, gift, "OPENCODE0003", issued_at=timezone.now() - timedelta(days=3))
    coupon(account, reward("咖啡"), "OPENCODE0004")

    card = points_card(member_id=member.pk, member_no=member.member_no)

    assert (card.coupons_count, card.coupons_unused) == (4, 2)
    assert [c.unused for c in card.coupons] == [True, True, False]
    assert card.coupons[0].reward_name == "咖啡"
    assert all("CODE" not in c.code_masked for c in card.coupons)


def test_card_queries_do_not_grow_with_history(django_assert_max_num_queries):
    member = MemberFactory()
    account = account_of(member)
    earn(account, 10, "first", expires_in_days=40)
    coupon(account, reward(), "ONLYCODE0001")
    with django_assert_max_num_queries(5):
        points_card(member_id=member.pk, member_no=member.member_no)
    for n in range(40):
        earn(account, 10, f"more-{n}", expires_in_days=40 + n)
        coupon(account, reward(f"r{n}"), f"MANYCODE{n:04d}")
    with django_assert_max_num_queries(5):
        card = points_card(member_id=member.pk, member_no=member.member_no)
    assert card.coupons_count == 41 and len(card.coupons) == 3


def test_profile_page_shows_the_card_without_personal_data_or_codes(login_as, member_with_points):
    member, account = member_with_points
    coupon(account, reward("咖啡"), "SECRETCODE77")

    page = login_as("carol").get(f"/members/{member.member_no}/").content.decode()

    assert 'data-card="loyalty"' in page and 'data-testid="points-card"' in page
    assert 'data-testid="points-balance">900<' in page
    assert 'data-testid="points-available">750<' in page
    assert "銀卡" in page and "#94a3b8" in page  # the tier in its colour
    assert "NT$18,000" in page and "金卡" in page
    assert f"/loyalty/members/{member.member_no}/points/" in page
    assert "SECRETCODE77" not in page
    assert "王小美" not in page  # an Analyst sees the name masked, the card adds none


def test_profile_page_of_a_member_without_points_has_no_card(login_as):
    member = MemberFactory()

    page = login_as("bob").get(f"/members/{member.member_no}/").content.decode()

    assert 'data-testid="points-card"' not in page
