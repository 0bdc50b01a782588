"""Issue 13, in the browser: the add-to-wallet page on an iPhone and on an Android phone (the
right button, its address right, no console error, nothing fetched off the test server), on a
desktop (both buttons and the QR code), and the wallet card on the member's profile."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core import signing
from playwright.sync_api import expect

from loyalty.services.wallet import wallet_pass_added, wallet_pass_issue, wallet_pass_removed
from loyalty.wallet.links import wallet_link_token
from tests.factories import MemberFactory
from tests.loyalty.crmcards_data import account_of, default_tiers, earn, set_tier
from tests.loyalty.wallet_add_data import ANDROID, IPHONE

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
TAIPEI = ZoneInfo("Asia/Taipei")


@pytest.fixture
def console_errors(page):
    """Every console error the page logs (the shared page fixture fails on policy errors)."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


@pytest.fixture
def member(transactional_db):
    default_tiers()
    member = MemberFactory(member_no="M00012345", name="陳美玲")
    account = account_of(member)
    earn(account, 1_280, "wb-earn", expires_in_days=None)
    set_tier(account, "金卡", 40_000)
    return member


def open_page(page, live_server, member, query: str = "") -> str:
    path = f"/wallet/add/{wallet_link_token(member_id=member.pk)}/"
    page.goto(f"{live_server.url}{path}{query}")
    return path


def check_no_trouble(console_errors, offsite_requests) -> None:
    assert console_errors == []
    assert offsite_requests == []


@pytest.mark.browser_context_args(user_agent=IPHONE, viewport=PHONE, is_mobile=True)
def test_an_iphone_gets_the_apple_wallet_button(
    page, live_server, member, console_errors, offsite_requests
):
    path = open_page(page, live_server, member)

    button = page.locator("[data-testid=wallet-add-apple]")
    expect(button).to_be_visible()
    expect(button).to_have_text("加入 Apple 錢包")
    expect(button).to_have_attribute("href", f"{path}apple.pkpass")
    expect(page.locator("[data-testid=wallet-add-google]")).to_have_count(0)
    expect(page.locator("[data-testid=wallet-qr]")).to_have_count(0)
    expect(page.locator("[data-testid=wallet-points]")).to_have_text("1,280")
    expect(page.locator("[data-testid=wallet-member-no]")).to_have_text("••••2345")
    expect(page.locator("body")).not_to_contain_text("陳美玲")
    # The button fits the phone's width (mobile-first: nothing to scroll sideways).
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    check_no_trouble(console_errors, offsite_requests)


@pytest.mark.browser_context_args(user_agent=ANDROID, viewport=PHONE, is_mobile=True)
def test_an_android_phone_gets_the_google_wallet_button(
    page, live_server, member, console_errors, offsite_requests
):
    path = open_page(page, live_server, member)

    button = page.locator("[data-testid=wallet-add-google]")
    expect(button).to_be_visible()
    expect(button).to_have_text("儲存至 Google 錢包")
    expect(button).to_have_attribute("href", f"{path}google")
    expect(page.locator("[data-testid=wallet-add-apple]")).to_have_count(0)

    # A wrong guess costs one tap: both wallets are a link away.
    page.click("[data-testid=wallet-show-all]")
    expect(page.locator("[data-testid=wallet-add-apple]")).to_be_visible()
    check_no_trouble(console_errors, offsite_requests)


def test_a_desktop_gets_both_buttons_and_the_qr_code(
    page, live_server, member, console_errors, offsite_requests
):
    open_page(page, live_server, member)

    expect(page.locator("[data-testid=wallet-add-apple]")).to_be_visible()
    expect(page.locator("[data-testid=wallet-add-google]")).to_be_visible()
    qr = page.locator("[data-testid=wallet-qr] svg")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 120  # big enough for a phone's camera
    check_no_trouble(console_errors, offsite_requests)


@pytest.mark.browser_context_args(user_agent=IPHONE, viewport=PHONE, is_mobile=True)
def test_an_expired_link_says_so(page, live_server, member, settings, offsite_requests):
    from tests.loyalty.wallet_add_data import old_token

    response = page.goto(f"{live_server.url}/wallet/add/{old_token(member, days=400)}/")
    assert response is not None and response.status == 410
    expect(page.locator("h1")).to_contain_text("這個連結已過期")
    assert offsite_requests == []


def test_the_profile_shows_the_wallet_status_and_the_link(browser_login, live_server, member):
    apple = wallet_pass_issue(member_id=member.pk, platform="apple")
    google = wallet_pass_issue(member_id=member.pk, platform="google")
    wallet_pass_added(wallet_pass=apple, at=datetime(2026, 11, 2, 10, tzinfo=TAIPEI))
    wallet_pass_added(wallet_pass=google, at=datetime(2026, 11, 3, 10, tzinfo=TAIPEI))
    wallet_pass_removed(wallet_pass=google, at=datetime(2026, 11, 20, 9, tzinfo=TAIPEI))
    page = browser_login("bob")
    page.goto(f"{live_server.url}/members/{member.member_no}/")

    card = page.locator("[data-testid=wallet-card]")
    expect(card).to_be_visible()
    apple_row = card.locator("[data-testid=wallet-status][data-platform=apple]")
    expect(apple_row).to_have_attribute("data-state", "installed")
    expect(apple_row).to_contain_text("2026/11/02")
    google_row = card.locator("[data-testid=wallet-status][data-platform=google]")
    expect(google_row).to_have_attribute("data-state", "removed")
    expect(google_row).to_contain_text("2026/11/20")

    link = card.locator("[data-testid=wallet-link]")
    expect(link).to_be_hidden()  # folded until asked for
    card.locator("[data-testid=wallet-link-panel] summary").click()
    expect(link).to_be_visible()
    assert f"/wallet/add/{signing.b62_encode(member.pk)}:" in link.input_value()
    expect(card.locator("[data-testid=wallet-link-qr] svg")).to_be_visible()

    entries = page.locator("[data-testid=timeline-entry][data-channel=wallet]")
    expect(entries).to_have_count(3)
    expect(entries.first).to_contain_text("Google")


def test_an_analyst_sees_the_status_but_not_the_link(browser_login, live_server, member):
    page = browser_login("carol")
    page.goto(f"{live_server.url}/members/{member.member_no}/")
    card = page.locator("[data-testid=wallet-card]")
    expect(card.locator("[data-testid=wallet-status]")).to_have_count(2)
    expect(card.locator("[data-testid=wallet-status][data-state=never]")).to_have_count(2)
    expect(card.locator("[data-testid=wallet-link-panel]")).to_have_count(0)
