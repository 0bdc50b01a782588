"""The add-to-wallet page end to end in the browser, with the two wallets' real downloads: an
iPhone taps "Add to Apple Wallet" and gets the member's signed .pkpass; an Android phone's
"Save to Google Wallet" leads to Google's save page with the member's JWT (followed here by
a request that stops at the redirect: nothing may leave the test server)."""

import pytest
from playwright.sync_api import expect

from loyalty.models import WalletPass
from loyalty.wallet.links import wallet_link_token
from tests.factories import MemberFactory
from tests.loyalty.crmcards_data import account_of, default_tiers, earn
from tests.loyalty.wallet_add_data import ANDROID, IPHONE
from tests.loyalty.wallet_apple_helpers import pkpass_json

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def member(transactional_db):
    default_tiers()
    member = MemberFactory(member_no="M00067890")
    earn(account_of(member), 520, "wbe-earn", expires_in_days=None)
    return member


@pytest.fixture
def console_errors(page):
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


@pytest.mark.browser_context_args(
    user_agent=IPHONE, viewport=PHONE, is_mobile=True, accept_downloads=True
)
def test_an_iphone_adds_the_card_to_apple_wallet(
    page, live_server, member, apple_dev, console_errors, offsite_requests
):
    token = wallet_link_token(member_id=member.pk)
    page.goto(f"{live_server.url}/wallet/add/{token}/")
    button = page.locator("[data-testid=wallet-add-apple]")
    expect(button).to_have_attribute("href", f"/wallet/add/{token}/apple.pkpass")

    with page.expect_download() as download:
        button.click()
    path = download.value.path()
    card = WalletPass.objects.get(member=member, platform=WalletPass.Platform.APPLE)
    assert download.value.suggested_filename.endswith(".pkpass")
    assert pkpass_json(path.read_bytes())["serialNumber"] == card.serial
    assert console_errors == [] and offsite_requests == []


@pytest.mark.browser_context_args(user_agent=ANDROID, viewport=PHONE, is_mobile=True)
def test_an_android_phone_is_sent_to_google_wallet(
    page, live_server, member, google_wallet, console_errors, offsite_requests
):
    token = wallet_link_token(member_id=member.pk)
    page.goto(f"{live_server.url}/wallet/add/{token}/")
    button = page.locator("[data-testid=wallet-add-google]")
    expect(button).to_be_visible()
    href = button.get_attribute("href")
    assert href == f"/wallet/add/{token}/google"

    response = page.request.get(f"{live_server.url}{href}", max_redirects=0)
    assert response.status == 302
    assert response.headers["location"].startswith("https://pay.google.com/gp/v/save/")
    assert WalletPass.objects.filter(member=member, platform="google").exists()
    assert console_errors == [] and offsite_requests == []
