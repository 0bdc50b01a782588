"""A marketer edits an earn rule on /loyalty/rules/: the preview shows what the draft would have
earned last month without a reload, a validation error keeps what was typed, and the saved rule
is listed. An analyst reads the rules with no form."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from crm.services.orders import OrderIn, orders_upsert
from loyalty.models import EarnRule
from loyalty.services.earning import last_month
from tests.factories import MemberFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def last_month_sales(transactional_db):
    start, _end = last_month(timezone.localdate())
    at = datetime.combine(start + timedelta(days=2), time(12), tzinfo=ZoneInfo("Asia/Taipei"))
    member = MemberFactory()
    orders_upsert(
        orders=[
            OrderIn(
                channel="web", external_no="W-1", amount_twd=1000, placed_at=at, status="placed"
            ),
            OrderIn(
                channel="app", external_no="A-1", amount_twd=500, placed_at=at, status="placed"
            ),
        ],
        member_ids=[member.pk, member.pk],
    )
    return EarnRule.objects.create(name="網購加倍", kind="channel", channel="web", multiplier=2)


def test_edit_a_rule_see_the_preview_and_keep_input_on_an_error(
    browser_login, live_server, last_month_sales
):
    page = browser_login("bob")
    page.goto(f"{live_server.url}/loyalty/rules/")
    expect(page.locator("[data-testid=rule-row]")).to_have_count(1)
    page.click("[data-testid=rule-edit]")
    page.evaluate("window.sameDocument = true")

    # Draft ×3 on the web: last month 10 × 2 + 5 = 25 points now, 10 × 3 + 5 = 35 drafted.
    page.fill("[data-testid=field-multiplier]", "3")
    page.click("[data-testid=rule-preview]")
    expect(page.locator("[data-testid=preview-current]")).to_have_text("25")
    expect(page.locator("[data-testid=preview-draft]")).to_have_text("35")
    expect(page.locator("[data-testid=preview-members]")).to_have_text("1")
    assert page.evaluate("window.sameDocument") is True

    # A channel rule with no channel: the error, and the name and multiplier as typed.
    page.fill("[data-testid=field-name]", "網購三倍")
    page.select_option("[data-testid=field-channel]", "")
    page.click("[data-testid=rule-save]")
    expect(page.locator("[data-testid=error-channel]")).to_be_visible()
    expect(page.locator("[data-testid=field-name]")).to_have_value("網購三倍")
    expect(page.locator("[data-testid=field-multiplier]")).to_have_value("3")
    assert page.evaluate("window.sameDocument") is True

    page.select_option("[data-testid=field-channel]", "web")
    page.click("[data-testid=rule-save]")
    page.wait_for_url(f"{live_server.url}/loyalty/rules/")
    expect(page.locator("[data-testid=rule-row]")).to_contain_text("網購三倍")
    rule = EarnRule.objects.get()
    assert (rule.name, rule.multiplier) == ("網購三倍", 3)


def test_an_analyst_reads_the_rules_without_a_form(browser_login, live_server, last_month_sales):
    page = browser_login("carol")
    page.goto(f"{live_server.url}/loyalty/rules/")
    expect(page.locator("[data-testid=rule-row]")).to_have_count(1)
    expect(page.locator("[data-testid=rule-form]")).to_have_count(0)
    expect(page.locator("[data-testid=terms-form]")).to_have_count(0)
