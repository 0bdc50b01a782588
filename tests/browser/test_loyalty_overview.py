"""The programme overview and a member's points history in Chromium: figures and chart, the
period filter, the history filter, an adjustment refused with the input kept then made, and the
analyst's masked, read-only view."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from crm.models import Member
from loyalty.models import PointsAccount, Tier, TierChange
from tests.loyalty.overview_data import Kind, account_for, post, taipei, tiers_ensure

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

TODAY = timezone.localdate()


@pytest.fixture
def programme(transactional_db):
    tiers_ensure()
    member = Member.objects.create(member_no="M0000042", name="陳美玲")
    account = account_for(member, tier_rank=1)
    post(account, Kind.EARN, 1_200, taipei(TODAY - timedelta(days=60)))
    post(account, Kind.EARN, 800, taipei(TODAY - timedelta(days=3)))
    post(account, Kind.REDEEM, -300, taipei(TODAY - timedelta(days=2)))
    post(account, Kind.EXPIRE, -100, taipei(TODAY - timedelta(days=1)))
    TierChange.objects.create(
        account=account,
        from_tier=Tier.objects.get(rank=0),
        to_tier=Tier.objects.get(rank=1),
        reason=TierChange.Reason.ORDER,
        spend_12m_twd=12_000,
        at=taipei(TODAY - timedelta(days=3)),
    )
    return account


def test_the_overview_shows_the_figures_and_the_chart(browser_login, live_server, programme):
    page = browser_login("bob")
    page.locator("nav[data-testid=nav]").get_by_role("link", name="會員點數").or_(
        page.locator("nav[data-testid=nav] a[href='/loyalty/']")
    ).first.click()

    expect(page.locator("[data-testid=figure-issued]")).to_have_text("800")
    expect(page.locator("[data-testid=figure-redeemed]")).to_have_text("300")
    expect(page.locator("[data-testid=figure-expired]")).to_have_text("100")
    expect(page.locator("[data-testid=figure-outstanding]")).to_have_text("1,600")
    expect(page.locator("[data-testid=figure-liability]")).to_have_text("NT$1,600")
    expect(page.locator("[data-testid=breakage-method]")).to_be_visible()
    expect(page.locator("[data-testid=overview-chart]")).to_have_attribute("data-drawn", "true")
    expect(
        page.locator("[data-testid=tier-row][data-tier='1'] [data-testid=tier-upgrades]")
    ).to_have_text("+1")
    expect(page.locator("[data-testid=loyalty-tabs]")).to_be_visible()


def test_the_period_filter_changes_the_figures_and_the_url(browser_login, live_server, programme):
    page = browser_login("bob")
    page.goto(f"{live_server.url}/loyalty/")
    expect(page.locator("[data-testid=figure-issued]")).to_have_text("800")

    page.locator("[data-testid=period-presets] a").nth(3).click()  # the last 365 days

    expect(page.locator("[data-testid=figure-issued]")).to_have_text("2,000")
    assert "start=" in page.url
    # A period that ends before it starts is said beside the field; the figures stay shown.
    wrong_end = (TODAY - timedelta(days=400)).isoformat()
    page.fill("#id_end", wrong_end)
    page.locator("#id_end").dispatch_event("change")
    expect(page.locator("[data-testid=period-error]")).to_be_visible()
    expect(page.locator("#id_end")).to_have_value(wrong_end)
    expect(page.locator("[data-testid=figure-issued]")).to_be_visible()


def test_history_filter_and_an_adjustment_refused_then_made(browser_login, live_server, programme):
    page = browser_login("bob")
    page.goto(f"{live_server.url}/loyalty/members/M0000042/points/")
    rows = page.locator("[data-testid=history-row]")
    expect(rows).to_have_count(4)

    page.select_option("#id_kind", "earn")
    expect(rows).to_have_count(2)
    assert "kind=earn" in page.url

    page.fill("#id_points", "-5000")
    page.fill("#id_reason", "重複累點更正")
    page.click("[data-testid=adjust-submit]")

    expect(page.locator("[data-testid=adjust-error]")).to_contain_text("1600")
    expect(page.locator("#id_points")).to_have_value("-5000")
    expect(page.locator("#id_reason")).to_have_value("重複累點更正")

    page.fill("#id_points", "-50")
    page.click("[data-testid=adjust-submit]")

    expect(page.locator("[data-testid=balance]")).to_have_text("1,550")
    expect(page.locator("[data-testid=history-row]").first).to_contain_text("重複累點更正")
    assert PointsAccount.objects.get(pk=programme.pk).balance == 1_550


def test_the_analyst_sees_the_name_masked_and_no_adjust_form(browser_login, live_server, programme):
    page = browser_login("carol")
    page.goto(f"{live_server.url}/loyalty/members/M0000042/points/")

    expect(page.locator("[data-testid=member-name]")).not_to_contain_text("陳美玲")
    expect(page.locator("[data-testid=member-name]")).to_contain_text("陳")
    expect(page.locator("[data-testid=history-row]")).to_have_count(4)
    expect(page.locator("[data-testid=adjust-form]")).to_have_count(0)
