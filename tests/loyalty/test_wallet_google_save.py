"""The Google card: the loyalty class and object, the "Save to Google Wallet" JWT and its link."""

import json
from datetime import timedelta

import jwt
import pytest
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone

from loyalty.models import PointsTransaction, WalletPass
from loyalty.wallet.google import google_save_url, loyalty_objects
from loyalty.wallet.links import wallet_link_token
from tests.factories import MemberFactory
from tests.loyalty.google_wallet_helpers import google_pass, member_with_points

pytestmark = pytest.mark.django_db

SAVE_URL = "https://pay.google.com/gp/v/save/"


def _claims(url: str, google_wallet) -> dict:
    assert url.startswith(SAVE_URL)
    token = url[len(SAVE_URL) :]
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    return jwt.decode(
        token, google_wallet.account.public_key_pem, algorithms=["RS256"], audience="google"
    )


def test_save_jwt_verifies_with_the_public_key_and_holds_the_members_card(google_wallet):
    member = member_with_points(1_280, tier_rank=1)
    wallet_pass = google_pass(member)

    claims = _claims(google_save_url(wallet_pass=wallet_pass), google_wallet)

    assert claims["iss"] == google_wallet.account.client_email
    assert claims["typ"] == "savetowallet"
    assert claims["origins"] == ["https://omni.example.com"]
    [obj] = claims["payload"]["loyaltyObjects"]
    assert obj["id"] == f"3388000000000000001.{wallet_pass.serial}"
    assert obj["classId"] == "3388000000000000001.member"
    assert obj["state"] == "ACTIVE"
    assert obj["accountId"] == member.member_no
    assert obj["accountName"] == member.name
    assert obj["loyaltyPoints"]["balance"] == {"int": 1_280}
    tier = member.points_account.tier
    assert obj["secondaryLoyaltyPoints"]["balance"] == {"string": tier.name}
    assert obj["barcode"] == {
        "type": "QR_CODE",
        "value": member.member_no,
        "alternateText": member.member_no,
    }
    [klass] = claims["payload"]["loyaltyClasses"]
    assert klass["id"] == obj["classId"]
    for field in ("issuerName", "programName", "reviewStatus", "hexBackgroundColor"):
        assert klass[field]
    assert klass["programLogo"]["sourceUri"]["uri"] == (
        "https://omni.example.com/static/loyalty/wallet/google-program-logo.png"
    )
    assert klass["callbackOptions"]["url"] == "https://omni.example.com/wallet/google/callback"
    languages = {klass["localizedProgramName"]["defaultValue"]["language"]} | {
        v["language"] for v in klass["localizedProgramName"]["translatedValues"]
    }
    assert languages == {"zh-TW", "en"}


def test_save_jwt_is_accepted_by_the_local_google_as_an_insert(google_wallet, client):
    # The objects a save carries are ones Google's insert takes (required fields, types).
    member = member_with_points(50)
    claims = _claims(google_save_url(wallet_pass=google_pass(member)), google_wallet)
    status, _ = google_wallet._insert(
        "loyaltyClass", google_wallet.classes, claims["payload"]["loyaltyClasses"][0]
    )
    assert status == 200
    status, answer = google_wallet._insert(
        "loyaltyObject", google_wallet.objects, claims["payload"]["loyaltyObjects"][0]
    )
    assert status == 200, answer


def test_expiring_points_and_the_change_message_show_on_the_card(google_wallet):
    member = member_with_points(300)
    soon = timezone.localdate() + timedelta(days=10)
    PointsTransaction.objects.filter(account__member=member).update(expires_on=soon)
    wallet_pass = google_pass(member)
    WalletPass.objects.filter(pk=wallet_pass.pk).update(change_message="300 點將於月底到期")
    wallet_pass.refresh_from_db()

    [obj] = loyalty_objects([wallet_pass]).values()

    [module] = obj["textModulesData"]
    assert "300" in module["body"] and soon.strftime("%Y/%m/%d") in module["body"]
    [message] = obj["messages"]
    assert message["body"] == "300 點將於月底到期"
    assert message["messageType"] == "TEXT_AND_NOTIFY"


def test_a_card_without_tier_or_expiring_points_shows_neither(google_wallet):
    [obj] = loyalty_objects([google_pass(member_with_points(0))]).values()
    assert obj["loyaltyPoints"]["balance"] == {"int": 0}
    assert "secondaryLoyaltyPoints" not in obj
    assert "textModulesData" not in obj
    assert "messages" not in obj


def test_many_objects_come_from_one_read(google_wallet, django_assert_max_num_queries):
    passes = [google_pass(member_with_points(10 * n + 10)) for n in range(6)]
    with django_assert_max_num_queries(3):
        objects = loyalty_objects(passes)
    assert [o["loyaltyPoints"]["balance"]["int"] for o in objects.values()] == [
        10, 20, 30, 40, 50, 60
    ]  # fmt: skip


def test_a_missing_service_account_key_says_what_to_set(google_wallet, settings, tmp_path):
    settings.GOOGLE_WALLET_SERVICE_ACCOUNT_FILE = str(tmp_path / "nowhere.json")
    with pytest.raises(ImproperlyConfigured, match="GOOGLE_WALLET_SERVICE_ACCOUNT_FILE"):
        google_save_url(wallet_pass=google_pass(member_with_points(1)))
    settings.GOOGLE_WALLET_SERVICE_ACCOUNT_FILE = ""
    with pytest.raises(ImproperlyConfigured, match="is not set"):
        google_save_url(wallet_pass=google_pass(member_with_points(1)))


# -- the route ----------------------------------------------------------------------------


def test_the_save_link_issues_the_card_and_redirects_to_google(google_wallet, client):
    member = member_with_points(500)
    url = reverse("wallet:add_google", args=[wallet_link_token(member_id=member.pk)])

    response = client.get(url)

    assert response.status_code == 302
    wallet_pass = WalletPass.objects.get(member=member, platform=WalletPass.Platform.GOOGLE)
    claims = _claims(response["Location"], google_wallet)
    assert claims["payload"]["loyaltyObjects"][0]["id"].endswith(wallet_pass.serial)
    # A second visit reuses the card.
    client.get(url)
    assert WalletPass.objects.filter(member=member).count() == 1


def test_a_tampered_link_is_not_found(google_wallet, client):
    member = MemberFactory()
    token = wallet_link_token(member_id=member.pk)
    _value, rest = token.split(":", 1)
    tampered = f"{signing.b62_encode(member.pk + 1)}:{rest}"

    response = client.get(reverse("wallet:add_google", args=[tampered]), HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 404
    assert "This wallet link is not valid" in response.content.decode()
    assert not WalletPass.objects.exists()


def test_an_expired_link_is_gone_in_the_members_language(google_wallet, client, settings):
    member = MemberFactory()
    token = wallet_link_token(member_id=member.pk)
    settings.WALLET_LINK_MAX_AGE_DAYS = -1

    response = client.get(reverse("wallet:add_google", args=[token]), HTTP_ACCEPT_LANGUAGE="zh-TW")

    assert response.status_code == 410
    assert "此錢包連結已過期" in response.content.decode()
    assert not WalletPass.objects.exists()


def test_a_link_for_a_member_who_is_gone_is_not_found(google_wallet, client):
    url = reverse("wallet:add_google", args=[wallet_link_token(member_id=987_654_321)])
    assert client.get(url).status_code == 404


def test_a_link_for_a_merged_member_adds_the_survivors_card(google_wallet, client):
    survivor = member_with_points(800)
    merged = MemberFactory(status="merged", merged_into=survivor)
    url = reverse("wallet:add_google", args=[wallet_link_token(member_id=merged.pk)])

    response = client.get(url)

    assert response.status_code == 302
    assert WalletPass.objects.filter(member=survivor).exists()
    assert not WalletPass.objects.filter(member=merged).exists()


def test_without_a_key_the_member_gets_a_page_not_an_error(google_wallet, client, settings):
    settings.GOOGLE_WALLET_SERVICE_ACCOUNT_FILE = ""
    member = MemberFactory()
    url = reverse("wallet:add_google", args=[wallet_link_token(member_id=member.pk)])

    response = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-TW")

    assert response.status_code == 503
    assert "Google 錢包目前無法使用" in response.content.decode()


def test_the_development_key_signs_save_links(google_wallet, settings, tmp_path):
    """The key `manage.py wallet_dev_certificates` writes signs save links that verify."""
    from cryptography.hazmat.primitives import serialization

    from loyalty.wallet.dev_certificates import GOOGLE_SERVICE_ACCOUNT, dev_secrets_write

    dev_secrets_write(directory=tmp_path, pass_type_id="pass.test", team_id="TEAM000000")
    path = tmp_path / GOOGLE_SERVICE_ACCOUNT
    settings.GOOGLE_WALLET_SERVICE_ACCOUNT_FILE = str(path)

    url = google_save_url(wallet_pass=google_pass(member_with_points(3)))

    info = json.loads(path.read_text())
    public_key = serialization.load_pem_private_key(
        info["private_key"].encode(), password=None
    ).public_key()
    claims = jwt.decode(url[len(SAVE_URL) :], public_key, algorithms=["RS256"], audience="google")
    assert claims["iss"] == info["client_email"]


def test_each_months_reminder_is_a_new_message(google_wallet):
    from datetime import date

    from loyalty.services.points_reminder import points_reminder_wallet_message

    wallet_pass = google_pass(member_with_points(300))
    ids, bodies = [], []
    for day in (date(2026, 12, 7), date(2027, 1, 7)):
        WalletPass.objects.filter(pk=wallet_pass.pk).update(
            change_message=points_reminder_wallet_message(day=day)
        )
        wallet_pass.refresh_from_db()
        [obj] = loyalty_objects([wallet_pass]).values()
        [message] = obj["messages"]
        ids.append(message["id"])
        bodies.append(message["body"])
    # Google notifies of a new message id; the same id again would be a silent update
    assert ids[0] != ids[1]
    assert bodies[0] != bodies[1]
    assert "2027/01" in bodies[1]
