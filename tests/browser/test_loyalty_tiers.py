"""A marketer edits the tiers on /loyalty/tiers/ with htmx: a mistake comes back beside the
field with what was typed, a fix saves and re-checks members; an analyst only reads."""

import pytest
from playwright.sync_api import expect

from loyalty.models import Programme, Tier
from tests.loyalty.tiers_defaults import tiers_default_ensure

pytestmark = pytest.mark.browser


def test_marketer_edits_tiers_and_analyst_reads(browser_login, live_server):
    tiers_default_ensure()
    page = browser_login("bob")
    page.goto(f"{live_server.url}/loyalty/tiers/")
    rows = page.locator("[data-testid=tier-row]")
    expect(rows).to_have_count(5)  # four tiers and the empty row to add one

    # Two tiers with one name: the error comes back, the typing stays.
    rows.nth(2).locator("[data-testid=tier-name]").fill("銀卡")
    rows.nth(2).locator("[data-testid=tier-threshold]").fill("25000")
    page.fill("[data-testid=grace-days]", "45")
    page.click("[data-testid=tiers-save]")
    expect(page.locator(".invalid-feedback").first).to_contain_text("兩個等級不能同名")
    expect(rows.nth(2).locator("[data-testid=tier-threshold]")).to_have_value("25000")
    expect(page.locator("[data-testid=grace-days]")).to_have_value("45")

    # Fixed, and a new tier in the empty row.
    rows.nth(2).locator("[data-testid=tier-name]").fill("金卡")
    rows.nth(4).locator("[data-testid=tier-name]").fill("鑽石")
    rows.nth(4).locator("[data-testid=tier-threshold]").fill("200000")
    rows.nth(4).locator("[data-testid=tier-multiplier]").fill("3")
    page.click("[data-testid=tiers-save]")
    expect(page.locator(".alert-success")).to_contain_text("等級已儲存")
    expect(page.locator("[data-testid=tier-row]")).to_have_count(6)
    assert Tier.objects.get(name="金卡").threshold_twd == 25_000
    assert Tier.objects.get(name="鑽石").rank == 4
    assert Programme.current().downgrade_grace_days == 45

    page.context.clear_cookies()
    page = browser_login("carol")
    page.goto(f"{live_server.url}/loyalty/tiers/")
    expect(page.locator("[data-testid=tier-name]").first).to_be_disabled()
    expect(page.locator("[data-testid=tiers-save]")).to_have_count(0)
