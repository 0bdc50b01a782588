"""A marketer opens a member's 360° profile: the timeline scrolls, a tag comes and goes, and a
phone typed into the contact form that another member has offers a merge."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from crm.models import Identity, Member, MergeLog, Touchpoint
from crm.timeline import PAGE_SIZE

pytestmark = pytest.mark.browser


@pytest.fixture
def member(transactional_db):
    member = Member.objects.create(member_no="M0000001", name="陳美玲")
    Identity.objects.create(member=member, kind="phone", value="+886912000111")
    now = timezone.now()
    Touchpoint.objects.bulk_create(
        Touchpoint(member=member, channel="web", kind="page_view", at=now - timedelta(hours=i))
        for i in range(PAGE_SIZE * 2 + 3)
    )
    return member


@pytest.fixture
def other_member(transactional_db):
    other = Member.objects.create(member_no="M0000002", name="林大同")
    Identity.objects.create(member=other, kind="phone", value="+886912345678")
    return other


def test_open_a_profile_and_scroll_the_timeline(browser_login, live_server, member):
    page = browser_login("bob")
    page.goto(f"{live_server.url}/members/")
    page.click("[data-testid=member-link]")

    expect(page.locator("[data-testid=member-no]")).to_have_text("M0000001")
    entries = page.locator("[data-testid=timeline-entry]")
    expect(entries).to_have_count(PAGE_SIZE)

    # Scrolling the sentinel into view loads the next pages, until nothing is left.
    for expected in (PAGE_SIZE * 2, PAGE_SIZE * 2 + 3):
        page.locator("[data-testid=timeline-more]").scroll_into_view_if_needed()
        expect(entries).to_have_count(expected)
    expect(page.locator("[data-testid=timeline-more]")).to_have_count(0)


def test_add_and_remove_a_tag(browser_login, live_server, member):
    page = browser_login("bob")
    page.goto(f"{live_server.url}/members/M0000001/")

    page.fill("#tag-name", "VIP 生日月")
    page.click("[data-testid=tag-add]")
    expect(page.locator("[data-testid=tag-name]")).to_have_text(["VIP 生日月"])
    assert list(member.tags.values_list("name", flat=True)) == ["VIP 生日月"]

    page.click("[data-testid=tag-remove]")
    expect(page.locator("[data-testid=no-tags]")).to_be_visible()
    assert not member.tags.exists()


def test_a_phone_of_another_member_offers_a_merge(browser_login, live_server, member, other_member):
    page = browser_login("bob")
    page.goto(f"{live_server.url}/members/M0000001/")
    page.click("[data-testid=edit-contact]")

    page.fill("[data-testid=field-name]", "陳美玲 Mei")
    page.fill("[data-testid=field-phone]", "+886 912 345 678")
    page.click("[data-testid=contact-save]")

    offer = page.locator("[data-testid=merge-offer]")
    expect(offer).to_contain_text("M0000002")
    expect(page.locator("[data-testid=field-name]")).to_have_value("陳美玲 Mei")
    expect(page.locator("[data-testid=field-phone]")).to_have_value("+886 912 345 678")

    page.fill("[data-testid=merge-reason]", "同一支手機，電話確認過")
    page.click("[data-testid=merge-and-save]")

    page.wait_for_url(f"{live_server.url}/members/M0000001/")
    expect(page.locator("[data-testid=member-name]")).to_have_text("陳美玲 Mei")
    expect(page.locator("[data-testid=timeline-entry][data-kind=merge]")).to_have_count(1)
    log = MergeLog.objects.get()
    assert (log.survivor.member_no, log.merged.member_no) == ("M0000001", "M0000002")
