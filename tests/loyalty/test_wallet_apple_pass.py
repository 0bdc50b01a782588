"""The member card as an Apple Wallet pass: a .pkpass whose signature openssl verifies against
the development chain, whose manifest matches its files and whose pass.json holds the member's
figures; and the add-to-wallet page's Apple download behind the signed link."""

import hashlib
import json
import subprocess
import time
from datetime import timedelta

import pytest
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone

from loyalty.models import PointsTransaction, WalletPass
from loyalty.services.ledger import Entry, accounts_ensure, entries_post
from loyalty.services.wallet import wallet_pass_issue
from loyalty.wallet.apple_pass import (
    pkpass_build,
    pkpass_build_many,
    pkpasses_build,
    signing_material,
)
from loyalty.wallet.links import wallet_link_token
from tests.factories import MemberFactory
from tests.loyalty.wallet_apple_helpers import (
    PASS_TYPE_ID,
    TEAM_ID,
    WEB_SERVICE_URL,
    openssl_verify,
    pkpass_files,
    pkpass_json,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("apple_dev")]
APPLE = WalletPass.Platform.APPLE


def _member_with_points(points=1_250, expiring=300):
    member = MemberFactory(name="王小明")
    account_id = accounts_ensure(member_ids=[member.pk])[member.pk]
    soon = timezone.localdate() + timedelta(days=10)
    later = timezone.localdate() + timedelta(days=300)
    entries_post(
        entries=[
            Entry(account_id, PointsTransaction.Kind.EARN, expiring, "t:1", "order", soon),
            Entry(
                account_id, PointsTransaction.Kind.EARN, points - expiring, "t:2", "order", later
            ),
        ]
    )
    return member, soon


def test_signature_verifies_with_openssl_and_manifest_matches(apple_dev, tmp_path):
    member, _ = _member_with_points()
    wallet_pass = wallet_pass_issue(member_id=member.pk, platform=APPLE)
    files = pkpass_files(pkpass_build(wallet_pass=wallet_pass))

    result = openssl_verify(files, tmp_path, apple_dev)
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr
    printed = subprocess.run(
        ["/usr/bin/openssl", "pkcs7", "-inform", "DER", "-print"],
        input=files["signature"],
        capture_output=True,
        check=True,
    ).stdout
    assert b"signingTime" in printed  # Apple refuses a signature without it
    assert b"Pass Type ID: " + PASS_TYPE_ID.encode() in printed
    assert b"WWDR" in printed  # the intermediate travels with the signature

    manifest = json.loads(files["manifest.json"])
    signed = set(files) - {"manifest.json", "signature"}
    assert set(manifest) == signed
    for name in signed:
        assert manifest[name] == hashlib.sha1(files[name], usedforsecurity=False).hexdigest(), name
    for image in ("icon.png", "icon@2x.png", "logo.png", "logo@2x.png", "strip.png"):
        assert image in files
    assert {"en.lproj/pass.strings", "zh-Hant.lproj/pass.strings"} <= set(files)


def test_a_tampered_pass_fails_openssl(apple_dev, tmp_path):
    member, _ = _member_with_points()
    files = pkpass_files(
        pkpass_build(wallet_pass=wallet_pass_issue(member_id=member.pk, platform=APPLE))
    )
    manifest = json.loads(files["manifest.json"])
    # The manifest now names another pass.json than the one signed.
    manifest["pass.json"] = hashlib.sha1(b"{}", usedforsecurity=False).hexdigest()
    files["manifest.json"] = json.dumps(manifest, sort_keys=True).encode()
    assert openssl_verify(files, tmp_path, apple_dev).returncode != 0


def test_pass_json_holds_the_card(apple_dev):
    member, soon = _member_with_points(points=1_250, expiring=300)
    wallet_pass = wallet_pass_issue(member_id=member.pk, platform=APPLE)
    data = pkpass_json(pkpass_build(wallet_pass=wallet_pass))

    assert data["formatVersion"] == 1
    assert data["passTypeIdentifier"] == PASS_TYPE_ID
    assert data["teamIdentifier"] == TEAM_ID
    assert data["serialNumber"] == wallet_pass.serial
    assert data["authenticationToken"] == wallet_pass.authentication_token
    assert len(data["authenticationToken"]) >= 16
    assert data["webServiceURL"] == WEB_SERVICE_URL
    for key in ("organizationName", "description", "foregroundColor", "backgroundColor"):
        assert data[key]
    assert data["barcodes"] == [
        {
            "format": "PKBarcodeFormatQR",
            "message": member.member_no,
            "messageEncoding": "iso-8859-1",
            "altText": member.member_no,
        }
    ]
    card = data["storeCard"]
    points = card["primaryFields"][0]
    assert points["value"] == 1_250
    assert points["changeMessage"] == "Your points balance is now %@."  # pass.strings: zh-Hant
    secondary = {f["key"]: f["value"] for f in card["secondaryFields"]}
    assert secondary["member"] == "王小明"
    assert secondary["tier"]  # the entry tier's name
    auxiliary = {f["key"]: f["value"] for f in card["auxiliaryFields"]}
    assert auxiliary["expiring"] == 300
    assert auxiliary["expiring_on"].startswith(soon.isoformat())
    assert not any(f["key"] == "message" for f in card["backFields"])


def test_change_message_is_a_back_field_the_wallet_shows(apple_dev):
    member, _ = _member_with_points()
    wallet_pass = wallet_pass_issue(member_id=member.pk, platform=APPLE)
    wallet_pass.change_message = "300 點將於 12/17 到期"
    data = pkpass_json(pkpass_build(wallet_pass=wallet_pass))
    message = next(f for f in data["storeCard"]["backFields"] if f["key"] == "message")
    assert message["value"] == "300 點將於 12/17 到期"
    assert message["changeMessage"] == "%@"


def test_labels_are_localised_in_both_languages(apple_dev):
    member, _ = _member_with_points()
    files = pkpass_files(
        pkpass_build(wallet_pass=wallet_pass_issue(member_id=member.pk, platform=APPLE))
    )
    english = files["en.lproj/pass.strings"].decode("utf-16")
    chinese = files["zh-Hant.lproj/pass.strings"].decode("utf-16")
    assert '"Points" = "Points";' in english
    assert '"Points" = "點數";' in chinese
    assert '"Your points balance is now %@." = "您的點數餘額現為 %@ 點。";' in chinese
    assert '"Member card" = "會員卡";' in chinese


def test_many_passes_read_the_cards_once(apple_dev, django_assert_num_queries, tmp_path):
    members = [_member_with_points()[0] for _ in range(1)]
    members += MemberFactory.create_batch(3)
    passes = [wallet_pass_issue(member_id=m.pk, platform=APPLE) for m in members]
    with django_assert_num_queries(2):  # wallet_cards: accounts, members
        built = list(pkpass_build_many(wallet_passes=passes))
    assert [p.pk for p, _ in built] == [p.pk for p in passes]
    assert pkpass_json(built[1][1])["storeCard"]["primaryFields"][0]["value"] == 0
    result = openssl_verify(pkpass_files(built[3][1]), tmp_path, apple_dev)
    assert result.returncode == 0, result.stderr

    ids = [p.pk for p in reversed(passes)]
    with django_assert_num_queries(3):  # the passes, then wallet_cards
        files = pkpasses_build(wallet_pass_ids=ids)
    assert [pkpass_json(f)["serialNumber"] for f in files] == [p.serial for p in reversed(passes)]


def test_missing_certificate_is_a_clear_error(settings, tmp_path):
    settings.APPLE_WALLET_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="APPLE_WALLET_KEY is not set"):
        signing_material()
    settings.APPLE_WALLET_KEY = str(tmp_path / "nope.pem")
    with pytest.raises(ImproperlyConfigured, match=r"APPLE_WALLET_KEY points to .* not exist"):
        signing_material()


def test_signing_material_is_read_once(apple_dev):
    assert signing_material() is signing_material()


# --- the add-to-wallet page's Apple download ---------------------------------------------


def test_download_with_a_good_link(client, apple_dev, tmp_path):
    member, _ = _member_with_points()
    url = reverse("wallet:add_apple", args=[wallet_link_token(member_id=member.pk)])
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.apple.pkpass"
    assert response["Content-Disposition"].startswith("attachment;")
    wallet_pass = WalletPass.objects.get(member=member, platform=APPLE)
    assert pkpass_json(response.content)["serialNumber"] == wallet_pass.serial
    assert openssl_verify(pkpass_files(response.content), tmp_path, apple_dev).returncode == 0
    # Twice: the same card, not a second one.
    assert client.get(url).status_code == 200
    assert WalletPass.objects.filter(member=member).count() == 1


def test_download_with_a_tampered_link(client):
    member = MemberFactory()
    token = wallet_link_token(member_id=member.pk)
    other = MemberFactory()
    _value, rest = token.split(":", 1)
    forged = f"{signing.b62_encode(other.pk)}:{rest}"  # another member under this signature
    response = client.get(reverse("wallet:add_apple", args=[forged]), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    assert b"This link is not valid" in response.content
    assert not WalletPass.objects.exists()


def test_download_with_an_expired_link(client, settings, monkeypatch):
    member = MemberFactory()
    made = time.time() - (settings.WALLET_LINK_MAX_AGE_DAYS + 1) * 86_400
    with monkeypatch.context() as patch:
        patch.setattr(signing.time, "time", lambda: made)
        token = wallet_link_token(member_id=member.pk)
    response = client.get(reverse("wallet:add_apple", args=[token]), HTTP_ACCEPT_LANGUAGE="zh-Hant")
    assert response.status_code == 410
    assert "這個連結已過期".encode() in response.content
    assert not WalletPass.objects.exists()
