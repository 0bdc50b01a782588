"""Each role logs in through the real form in Chromium and sees the navigation it is allowed."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

ALL_ROLES = ["/", "/members/", "/segments/", "/campaigns/", "/loyalty/", "/kpis/"]
NAVIGATION = {
    "alice": [*ALL_ROLES, "/imports/", "/audit/", "/admin/"],
    "bob": [*ALL_ROLES, "/imports/"],
    "carol": ALL_ROLES,
}


@pytest.mark.parametrize("persona", NAVIGATION)
def test_each_role_sees_the_dashboard_and_its_navigation(browser_login, persona):
    page = browser_login(persona)

    nav = page.locator("nav[data-testid=nav]")
    expect(nav).to_be_visible()
    hrefs = nav.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs == NAVIGATION[persona]
    expect(page.locator("[data-testid=user-menu]")).to_contain_text(persona)


def test_language_switch_turns_the_page_english(browser_login):
    page = browser_login("bob")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hant")

    page.select_option("select[name=language]", "en")
    page.wait_for_load_state("networkidle")

    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("nav[data-testid=nav]")).to_contain_text("Members")


def test_analyst_sees_masked_phone_in_member_list(browser_login, member_with_phone):
    page = browser_login("carol")

    page.goto(page.url + "members/")

    expect(page.locator("#member-results")).to_contain_text("0912-***-678")
    expect(page.locator("#member-results")).not_to_contain_text("0912-345-678")


def test_global_search_finds_a_phone_in_another_spelling(browser_login, member_with_phone):
    page = browser_login("bob")

    page.fill("header input[name=q]", "+886 912 345 678")
    page.press("header input[name=q]", "Enter")

    expect(page.locator("#member-results")).to_contain_text("M0000001")


def test_wrong_password_is_refused_in_the_browser(page, live_server, offsite_requests, bob):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")

    expect(page.locator("input[name=username]")).to_have_value("bob")
    assert page.url.endswith("/accounts/login/")
    assert offsite_requests == []


@pytest.fixture
def member_with_phone(transactional_db):
    from crm.models import Identity, Member

    member = Member.objects.create(member_no="M0000001", name="陳美玲")
    Identity.objects.create(member=member, kind="phone", value="+886912345678")
    return member
