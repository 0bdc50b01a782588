"""The add-to-wallet page (/wallet/add/<token>/): the device picks the wallet, the page names
nobody, an expired or altered link gets a page that says so, in the visitor's language."""

import re

import pytest
from django.core import signing
from django.urls import reverse

from crm.services import member_merge_by_hand
from loyalty.models import WalletPass
from loyalty.services.wallet import wallet_pass_added, wallet_pass_issue
from loyalty.wallet.devices import ANY, APPLE, GOOGLE, wallet_for_user_agent
from loyalty.wallet.links import wallet_link_token
from tests.factories import MemberFactory
from tests.loyalty.crmcards_data import account_of, earn, set_tier
from tests.loyalty.wallet_add_data import (
    ANDROID,
    DESKTOP_CHROME,
    IPHONE,
    IPHONE_LINE,
    MAC_CHROME,
    MAC_SAFARI,
    old_token,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    member = MemberFactory(member_no="M00012345", name="陳美玲")
    account = account_of(member)
    earn(account, 1_280, "w-earn", expires_in_days=None)
    set_tier(account, "金卡", 40_000)
    return member


def page_url(member) -> str:
    return reverse("wallet:add", args=[wallet_link_token(member_id=member.pk)])


def get(client, url: str, user_agent: str, language: str = "en"):
    return client.get(url, HTTP_USER_AGENT=user_agent, HTTP_ACCEPT_LANGUAGE=language)


@pytest.mark.parametrize(
    ("user_agent", "wallet"),
    [
        (IPHONE, APPLE),
        (IPHONE_LINE, APPLE),
        (MAC_SAFARI, APPLE),
        (ANDROID, GOOGLE),
        (DESKTOP_CHROME, ANY),
        (MAC_CHROME, ANY),
        ("", ANY),
    ],
)
def test_the_device_picks_the_wallet(user_agent, wallet):
    assert wallet_for_user_agent(user_agent) == wallet


def test_an_iphone_gets_apples_button_only(client, member):
    url = page_url(member)
    response = get(client, url, IPHONE)
    html = response.content.decode()
    assert response.status_code == 200
    token = url.split("/")[-2]
    assert f'href="/wallet/add/{token}/apple.pkpass"' in html
    assert 'data-testid="wallet-add-apple"' in html
    assert 'data-testid="wallet-add-google"' not in html
    assert 'data-testid="wallet-qr"' not in html
    assert "Add to Apple Wallet" in html


def test_an_android_phone_gets_googles_button_only(client, member):
    url = page_url(member)
    html = get(client, url, ANDROID).content.decode()
    token = url.split("/")[-2]
    assert f'href="{reverse("wallet:add_google", args=[token])}"' in html
    assert 'data-testid="wallet-add-apple"' not in html
    assert "Save to Google Wallet" in html


def test_a_desktop_gets_both_buttons_and_a_qr_code_of_the_page(client, member, settings):
    settings.OMNICHANNEL_PUBLIC_URL = "https://crm.example.com.tw"
    url = page_url(member)
    html = get(client, url, DESKTOP_CHROME).content.decode()
    assert 'data-testid="wallet-add-apple"' in html and 'data-testid="wallet-add-google"' in html
    svg = re.search(r'<figure class="wallet-qr[^>]*>(<svg.*?</svg>)', html, re.DOTALL)
    assert svg is not None and 'class="qr-code"' in svg.group(1)
    # The code holds this page's public address (decoded by rendering the same one again).
    from loyalty.qr import url_qr_svg

    assert svg.group(1).strip() == url_qr_svg(f"https://crm.example.com.tw{url}").strip()


def test_show_all_offers_both_wallets_on_a_phone(client, member):
    html = get(client, page_url(member) + "?show=all", IPHONE).content.decode()
    assert 'data-testid="wallet-add-google"' in html and 'data-testid="wallet-add-apple"' in html


def test_the_page_names_nobody_and_masks_the_member_number(client, member):
    url = page_url(member)
    html = get(client, url, IPHONE).content.decode()
    assert "陳美玲" not in html
    body = html.split("<main", 1)[1].replace(url.split("/")[-2], "")
    assert "M00012345" not in body.split('data-testid="wallet-add-apple"')[0]
    assert "••••2345" in html
    assert re.search(r'data-testid="wallet-points">1,280<', html)
    assert re.search(r'data-testid="wallet-tier">.*金卡', html)


def test_the_page_says_when_the_card_is_already_in_the_wallet(client, member):
    card = wallet_pass_issue(member_id=member.pk, platform=WalletPass.Platform.APPLE)
    url = page_url(member)
    assert 'data-testid="wallet-installed-apple"' not in get(client, url, IPHONE).content.decode()
    wallet_pass_added(wallet_pass=card)
    html = get(client, url, IPHONE).content.decode()
    assert 'data-testid="wallet-installed-apple"' in html
    assert "Already in your Apple Wallet." in html


def test_an_expired_link_answers_410_with_a_page_that_says_so(client, member, settings):
    settings.WALLET_LINK_MAX_AGE_DAYS = 30
    fresh = reverse("wallet:add", args=[old_token(member, days=29)])
    assert get(client, fresh, IPHONE).status_code == 200
    url = reverse("wallet:add", args=[old_token(member, days=31)])
    response = get(client, url, IPHONE)
    assert response.status_code == 410
    html = response.content.decode()
    assert "This link has expired" in html
    assert 'data-testid="wallet-add-apple"' not in html


@pytest.mark.parametrize(
    "token",
    [
        "{value}",  # no signature
        "{other}:{ts}:{sig}",  # another member's id under this signature
        "{value}:{ts}:{sig}x",  # the signature changed
    ],
)
def test_an_altered_link_answers_404_with_a_page_that_says_so(client, member, token):
    value, ts, sig = wallet_link_token(member_id=member.pk).split(":")
    other = signing.b62_encode(member.pk + 1)
    url = reverse("wallet:add", args=[token.format(value=value, other=other, ts=ts, sig=sig)])
    response = get(client, url, ANDROID)
    assert response.status_code == 404
    assert "This link does not work" in response.content.decode()


def test_a_link_of_a_member_merged_since_leads_to_the_survivors_card(client, member):
    other = MemberFactory(member_no="M00099999")
    member_merge_by_hand(first=member, second=other, reason="same person", actor=None)
    other.refresh_from_db()
    survivor = member if other.merged_into_id == member.pk else other
    merged = other if survivor is member else member
    html = get(client, page_url(merged), IPHONE).content.decode()
    assert f"••••{survivor.member_no[-4:]}" in html


def test_a_link_of_an_erased_member_leads_nowhere(client, member):
    type(member).objects.filter(pk=member.pk).update(status="erased")
    response = get(client, page_url(member), IPHONE)
    assert response.status_code == 404


def test_the_page_speaks_the_visitors_language(client, member):
    url = page_url(member)
    zh = get(client, url, IPHONE, "zh-TW,zh;q=0.9").content.decode()
    assert "加入 Apple 錢包" in zh and '<html lang="zh-hant">' in zh
    en = get(client, url, IPHONE, "en-US,en;q=0.9").content.decode()
    assert "Add to Apple Wallet" in en and '<html lang="en">' in en
    expired = reverse("wallet:add", args=[old_token(member, days=400)])
    assert "這個連結已過期" in get(client, expired, IPHONE, "zh-TW").content.decode()


def test_the_page_is_private_and_needs_no_login(client, member):
    response = get(client, page_url(member), IPHONE)
    assert response.status_code == 200  # no redirect to the login page
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"
    assert not response.cookies  # no session, no CSRF cookie


def test_the_page_costs_a_bounded_number_of_queries(client, member, django_assert_max_num_queries):
    url = page_url(member)
    with django_assert_max_num_queries(5):
        get(client, url, IPHONE)


# --- End to end: the page's buttons lead to the two wallets' downloads ---------------------


def test_the_iphone_button_downloads_the_members_pass(client, member, apple_dev):
    from tests.loyalty.wallet_apple_helpers import pkpass_json

    html = get(client, page_url(member), IPHONE).content.decode()
    href = re.search(r'href="([^"]+)" data-testid="wallet-add-apple"', html).group(1)
    response = client.get(href, HTTP_USER_AGENT=IPHONE)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.apple.pkpass"
    card = WalletPass.objects.get(member=member, platform=WalletPass.Platform.APPLE)
    assert pkpass_json(response.content)["serialNumber"] == card.serial


def test_the_android_button_sends_the_phone_to_googles_save_page(client, member, google_wallet):
    html = get(client, page_url(member), ANDROID).content.decode()
    href = re.search(r'href="([^"]+)" data-testid="wallet-add-google"', html).group(1)
    response = client.get(href, HTTP_USER_AGENT=ANDROID)
    assert response.status_code == 302
    assert response["Location"].startswith("https://pay.google.com/gp/v/save/")
    assert WalletPass.objects.filter(member=member, platform=WalletPass.Platform.GOOGLE).exists()
