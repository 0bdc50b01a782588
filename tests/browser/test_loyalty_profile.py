"""Loyalty in crm's pages, in the browser: the points card and timeline on the profile, the
member list filtered by tier, and a segment with a tier rule counting live."""

import re

import pytest
from playwright.sync_api import expect

from loyalty.models import PointsTransaction
from tests.factories import MemberFactory
from tests.loyalty.crmcards_data import (
    account_of,
    coupon,
    default_tiers,
    earn,
    post,
    reward,
    set_tier,
    tier,
)

pytestmark = pytest.mark.browser


def settled(page) -> None:
    """Wait until htmx has swapped and wired the last response."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )
    page.wait_for_timeout(50)


@pytest.fixture
def programme(transactional_db):
    """Two 金卡 members (one with points history), one 銀卡, one without an account."""
    default_tiers()
    gold = [MemberFactory(member_no=f"G{n:07d}") for n in range(2)]
    silver = MemberFactory(member_no="V0000001")
    MemberFactory(member_no="X0000001")
    for member in gold:
        set_tier(account_of(member), "金卡", 40_000)
    set_tier(account_of(silver), "銀卡", 12_000)
    account = account_of(gold[0])
    earn(account, 800, "b-earn", expires_in_days=20, order_no="S900")
    post(account, PointsTransaction.Kind.REDEEM, -300, "b-redeem", source="till")
    coupon(account, reward("咖啡"), "BROWSERCODE1")
    return gold[0]


def test_profile_shows_the_points_card_and_timeline(browser_login, live_server, programme):
    page = browser_login("bob")
    page.goto(f"{live_server.url}/members/{programme.member_no}/")

    card = page.locator("[data-testid=points-card]")
    expect(card).to_be_visible()
    expect(card.locator("[data-testid=points-balance]")).to_have_text("500")
    expect(card.locator("[data-testid=points-tier]")).to_contain_text("金卡")
    expect(card.locator("[data-testid=points-expiring-30]")).to_have_text("500")
    expect(card.locator("[data-testid=points-coupon]")).to_have_count(1)
    # The progress bar's width is set by app.js from data-width (no inline style: CSP).
    bar = card.locator(".progress-bar")
    expect(bar).to_have_attribute("data-width", "20")  # 金卡 30k → 白金 80k, at 40k
    assert bar.evaluate("el => el.style.width") == "20%"
    expect(page.locator("[data-testid=timeline-entry][data-kind=points]")).to_have_count(2)
    expect(page.locator("[data-testid=timeline-entry][data-kind=coupon]")).to_have_count(1)


def test_member_list_filtered_by_tier(browser_login, live_server, programme):
    page = browser_login("bob")
    page.goto(f"{live_server.url}/members/")
    expect(page.locator("[data-testid=member-row]")).to_have_count(4)

    page.select_option("#id_tier", str(tier("金卡").pk))

    expect(page.locator("[data-testid=member-row]")).to_have_count(2)
    expect(page).to_have_url(re.compile(rf"/members/\?.*tier={tier('金卡').pk}"))
    page.reload()  # the URL alone brings the filtered list back
    expect(page.locator("[data-testid=member-row]")).to_have_count(2)
    expect(page.locator("#id_tier")).to_have_value(str(tier("金卡").pk))


def test_a_segment_with_a_tier_rule_counts(browser_login, live_server, programme):
    page = browser_login("bob")
    page.goto(f"{live_server.url}/segments/new/")
    count = page.locator("[data-testid=segment-count]")
    expect(count).to_have_attribute("data-count", "4")

    page.click("[data-testid=add-rule]")
    expect(page.locator("[data-testid=segment-rule]")).to_have_count(1)
    settled(page)
    page.select_option("#n_0-rule", "tier")
    settled(page)
    page.select_option("#n_0-value", str(tier("銀卡").pk))
    expect(count).to_have_attribute("data-count", "1")
    settled(page)
    page.select_option("#n_0-operator", "is_not")
    expect(count).to_have_attribute("data-count", "3")  # the no-account member included
