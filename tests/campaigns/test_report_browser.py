"""A marketer reads a campaign's report in the browser, switches between its variants and sees
Plotly draw the chart, under the strict CSP (the `page` fixture fails on any violation)."""

import datetime

import pytest
from playwright.sync_api import expect

from tests.campaigns.factories_report import (
    CampaignFactory,
    FiguresDailyFactory,
    FiguresFactory,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def ab_campaign(transactional_db):
    campaign = CampaignFactory(name="雙十一", variant_split={"A": 50, "B": 50})
    FiguresFactory(
        campaign=campaign,
        variant="A",
        members=1000,
        clicked=90,
        converted=40,
        revenue_online_twd=40_000,
        revenue_sumsq=40_000 * 1_500,
    )
    FiguresFactory(
        campaign=campaign,
        variant="B",
        channel="email",
        members=1000,
        clicked=140,
        converted=60,
        revenue_online_twd=70_000,
        revenue_sumsq=70_000 * 1_500,
    )
    FiguresFactory(
        campaign=campaign,
        held_out=True,
        arm="holdout",
        members=400,
        converted=8,
        revenue_online_twd=8_000,
        revenue_sumsq=8_000 * 1_000,
    )
    for offset, (a, b, holdout) in enumerate([(12, 20, 3), (18, 25, 4), (10, 15, 1)]):
        day = datetime.date(2026, 11, 11) + datetime.timedelta(days=offset)
        FiguresDailyFactory(campaign=campaign, day=day, variant="A", orders=a, revenue_twd=a * 1000)
        FiguresDailyFactory(campaign=campaign, day=day, variant="B", orders=b, revenue_twd=b * 1100)
        FiguresDailyFactory(
            campaign=campaign,
            day=day,
            arm="holdout",
            variant="",
            orders=holdout,
            revenue_twd=holdout * 1000,
        )
    return campaign


def _chart_drawn(page) -> None:
    expect(page.locator("[data-testid=report-chart]")).to_have_attribute("data-drawn", "true")
    expect(page.locator("[data-testid=report-chart] svg.main-svg").first).to_be_visible()


def test_read_the_report_switch_variants_and_see_the_chart(browser_login, live_server, ab_campaign):
    page = browser_login("carol")
    page.goto(f"{live_server.url}/campaigns/{ab_campaign.pk}/")

    report = page.locator("[data-testid=campaign-report]")
    expect(report.locator("[data-testid=report-funnel-variants]")).to_be_visible()
    expect(report.locator("[data-testid=report-lift]")).to_be_visible()
    _chart_drawn(page)
    # Plotly's CSS came from the vendored stylesheet, not an inline <style> (the CSP forbids it).
    assert page.evaluate("() => !document.querySelector('style[id^=\"plotly.js-style\"]')")
    assert page.evaluate(
        "() => getComputedStyle(document.querySelector('.modebar') || document.body).position"
    ) in ("absolute", "static")
    traces = page.evaluate("() => document.querySelector('[data-testid=report-chart]').data.length")
    assert traces == 6  # orders and revenue of A, B and the holdout

    page.click("[data-testid=report-variants] a[data-variant=B]")
    expect(report).to_have_attribute("data-variant", "B")
    expect(page).to_have_url(f"{live_server.url}/campaigns/{ab_campaign.pk}/?variant=B")
    expect(page.locator("[data-testid=report-funnel] thead")).to_contain_text("Email")
    _chart_drawn(page)
    traces = page.evaluate("() => document.querySelector('[data-testid=report-chart]').data.length")
    assert traces == 4  # B and the holdout

    page.click("[data-testid=report-variants] a[data-variant='']")
    expect(page.locator("[data-testid=campaign-report]")).to_have_attribute("data-variant", "")
    _chart_drawn(page)
