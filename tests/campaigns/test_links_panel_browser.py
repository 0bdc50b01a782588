"""The builder's links panel in a browser: the marketer sees the links of the saved content,
leaves one untracked and gives the other a tag a click puts on the member; the choices hold
after a reload."""

import pytest
from playwright.sync_api import expect

from campaigns.models import TrackedLink
from campaigns.services import campaign_save
from crm.models import Segment, Tag
from crm.segments.definition import EMPTY_DEFINITION

pytestmark = pytest.mark.browser

EMAIL = {
    "subject": "週年慶",
    "text": "週年慶 https://shop.example.com/sale",
    "html": '<p><a href="https://shop.example.com/sale">選購</a> '
    '<a href="https://shop.example.com/faq">常見問題</a></p>',
}


def settled(page) -> None:
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )
    page.wait_for_timeout(50)


def test_the_marketer_untracks_a_link_and_tags_another(browser_login, live_server):
    Tag.objects.create(name="週年慶有興趣")
    campaign = campaign_save(
        name="週年慶",
        segment=Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION),
        channels=["email"],
        contents={"email": EMAIL},
    )
    sale = TrackedLink.objects.get(campaign=campaign, url="https://shop.example.com/sale")
    faq = TrackedLink.objects.get(campaign=campaign, url="https://shop.example.com/faq")
    page = browser_login("bob")

    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/edit/")
    panel = page.get_by_test_id("links-panel")
    expect(panel).to_be_visible()  # loaded by htmx under the builder
    expect(panel).to_contain_text("https://shop.example.com/sale")
    expect(panel).to_contain_text("https://shop.example.com/faq")
    expect(page.get_by_test_id(f"link-tracked-{faq.pk}")).to_be_checked()

    page.get_by_test_id(f"link-tracked-{faq.pk}").uncheck()
    page.get_by_test_id(f"link-tags-{sale.pk}").select_option(label="週年慶有興趣")
    page.get_by_test_id("links-save").click()
    settled(page)

    expect(page.get_by_test_id("links-saved")).to_be_visible()
    faq.refresh_from_db()
    assert not faq.tracked
    assert list(sale.tags.values_list("name", flat=True)) == ["週年慶有興趣"]
    page.reload()
    expect(page.get_by_test_id(f"link-tracked-{faq.pk}")).not_to_be_checked()
    expect(page.get_by_test_id(f"link-tracked-{sale.pk}")).to_be_checked()
