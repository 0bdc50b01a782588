"""Wallet cards follow crm's members (loyalty.wallet.hooks): a merge moves the merged member's
card to a survivor without one and drops it otherwise, marking the survivor's cards changed;
undo moves it back; erasure deletes the cards and their registrations. And the two commands:
wallet_dev_certificates and wallet_pass."""

import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.core.management import CommandError, call_command

from crm.services.erasure import member_forget
from crm.services.merges import MergePair, member_unmerge, members_merge
from loyalty.models import WalletDeviceRegistration, WalletPass
from loyalty.services.wallet import wallet_pass_issue
from loyalty.wallet.dev_certificates import FILES
from tests.factories import MemberFactory
from tests.loyalty.wallet_apple_helpers import (
    PASS_TYPE_ID,
    openssl_verify,
    pkpass_files,
    pkpass_json,
)

pytestmark = pytest.mark.django_db
APPLE = WalletPass.Platform.APPLE
GOOGLE = WalletPass.Platform.GOOGLE


def _card(member, platform=APPLE, device=None):
    wallet_pass = wallet_pass_issue(member_id=member.pk, platform=platform)
    if device:
        WalletDeviceRegistration.objects.create(
            wallet_pass=wallet_pass, device_library_id=device, push_token="t" * 64
        )
    return wallet_pass


def _merge(*pairs):
    return members_merge(
        pairs=[
            MergePair(survivor_id=s.pk, merged_id=m.pk, matched_keys=["manual"]) for s, m in pairs
        ]
    )


def test_merge_moves_the_card_when_the_survivor_has_none():
    survivor, merged = MemberFactory(), MemberFactory()
    moved = _card(merged, device="phone-of-merged")
    (log,) = _merge((survivor, merged))

    moved.refresh_from_db()
    assert moved.member_id == survivor.pk
    assert moved.changed_at is not None  # the next update shows the survivor's figures
    assert WalletDeviceRegistration.objects.filter(wallet_pass=moved).exists()

    member_unmerge(merge_log=log)
    moved.refresh_from_db()
    assert moved.member_id == merged.pk


def test_merge_drops_the_card_when_the_survivor_has_one_and_marks_the_survivors_changed():
    survivor, merged, other = MemberFactory(), MemberFactory(), MemberFactory()
    kept = _card(survivor, device="phone-of-survivor")
    dropped = _card(merged, device="phone-of-merged")
    google = _card(merged, platform=GOOGLE)  # the survivor has no Google card: it moves
    untouched = _card(other)
    _merge((survivor, merged))

    assert not WalletPass.objects.filter(pk=dropped.pk).exists()
    assert not WalletDeviceRegistration.objects.filter(device_library_id="phone-of-merged").exists()
    kept.refresh_from_db()
    google.refresh_from_db()
    untouched.refresh_from_db()
    assert kept.changed_at is not None
    assert (google.member_id, google.changed_at is not None) == (survivor.pk, True)
    assert untouched.changed_at is None


def test_two_merged_into_one_survivor_in_one_batch_keep_one_card():
    survivor, first, second = MemberFactory(), MemberFactory(), MemberFactory()
    one, two = _card(first), _card(second)
    _merge((survivor, first), (survivor, second))
    assert list(WalletPass.objects.filter(member=survivor).values_list("pk", flat=True)) == [one.pk]
    assert not WalletPass.objects.filter(pk=two.pk).exists()


def test_erasure_deletes_the_cards_and_their_registrations(alice):
    member, other = MemberFactory(), MemberFactory()
    _card(member, device="phone")
    _card(member, platform=GOOGLE)
    kept = _card(other, device="other-phone")
    member_forget(member=member, actor=alice, reason="PDPA request #13")
    assert list(WalletPass.objects.values_list("pk", flat=True)) == [kept.pk]
    assert list(WalletDeviceRegistration.objects.values_list("device_library_id", flat=True)) == [
        "other-phone"
    ]


# --- the commands ------------------------------------------------------------------------


def test_wallet_dev_certificates_writes_the_chain_and_keeps_it(tmp_path, settings, capsys):
    settings.APPLE_WALLET_PASS_TYPE_ID = PASS_TYPE_ID
    settings.APPLE_WALLET_TEAM_ID = "TEAMTEST01"
    call_command("wallet_dev_certificates", "--dir", str(tmp_path))
    out = capsys.readouterr().out
    assert str(tmp_path) in out
    assert {p.name for p in tmp_path.iterdir()} == set(FILES)

    certificate = x509.load_pem_x509_certificate((tmp_path / "pass-certificate.pem").read_bytes())
    subject = certificate.subject
    assert subject.get_attributes_for_oid(NameOID.USER_ID)[0].value == PASS_TYPE_ID
    assert (
        subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        == f"Pass Type ID: {PASS_TYPE_ID}"
    )
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "TEAMTEST01"
    wwdr = x509.load_pem_x509_certificate((tmp_path / "wwdr.pem").read_bytes())
    assert certificate.issuer == wwdr.subject
    certificate.verify_directly_issued_by(wwdr)

    apns = serialization.load_pem_private_key((tmp_path / "apns-key.p8").read_bytes(), None)
    assert isinstance(apns, ec.EllipticCurvePrivateKey) and apns.curve.name == "secp256r1"
    assert (tmp_path / "apns-key.p8").read_text().startswith("-----BEGIN PRIVATE KEY-----")
    account = json.loads((tmp_path / "google-service-account.json").read_text())
    assert account["type"] == "service_account"
    assert account["token_uri"] == "https://oauth2.googleapis.com/token"
    for key in ("project_id", "private_key_id", "client_email", "client_id"):
        assert account[key]
    google_key = serialization.load_pem_private_key(account["private_key"].encode(), None)
    assert isinstance(google_key, rsa.RSAPrivateKey) and google_key.key_size == 2048

    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    call_command("wallet_dev_certificates", "--dir", str(tmp_path))
    assert "kept" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    call_command("wallet_dev_certificates", "--dir", str(tmp_path), "--force")
    assert (tmp_path / "pass-key.pem").read_bytes() != before["pass-key.pem"]


def test_wallet_pass_writes_the_members_pass(apple_dev, tmp_path, capsys):
    member = MemberFactory()
    output = tmp_path / "card.pkpass"
    call_command("wallet_pass", member.member_no, "-o", str(output))
    wallet_pass = WalletPass.objects.get(member=member, platform=APPLE)
    assert str(output) in capsys.readouterr().out
    data = output.read_bytes()
    assert pkpass_json(data)["serialNumber"] == wallet_pass.serial
    assert openssl_verify(pkpass_files(data), tmp_path, Path(apple_dev)).returncode == 0
    call_command("wallet_pass", member.member_no, "-o", str(output))  # the same card again
    assert WalletPass.objects.filter(member=member).count() == 1


def test_wallet_pass_for_an_unknown_member(apple_dev, tmp_path):
    with pytest.raises(CommandError, match="No member with the number NOPE123"):
        call_command("wallet_pass", "NOPE123", "-o", str(tmp_path / "x.pkpass"))
    assert not (tmp_path / "x.pkpass").exists()


# --- the admin -----------------------------------------------------------------------------


def test_admin_shows_cards_and_devices_without_their_secrets(login_as):
    from django.urls import reverse

    member = MemberFactory()
    wallet_pass = _card(member, device="device-0001")
    client = login_as("alice")
    for name in ("walletpass", "walletdeviceregistration"):
        listing = client.get(reverse(f"admin:loyalty_{name}_changelist"))
        assert listing.status_code == 200
        assert member.member_no.encode() in listing.content
    change = client.get(reverse("admin:loyalty_walletpass_change", args=[wallet_pass.pk]))
    assert change.status_code == 200
    assert wallet_pass.authentication_token.encode() not in change.content
    assert f"…{wallet_pass.authentication_token[-4:]}".encode() in change.content
    registration = WalletDeviceRegistration.objects.get()
    change = client.get(
        reverse("admin:loyalty_walletdeviceregistration_change", args=[registration.pk])
    )
    assert change.status_code == 200
    assert registration.push_token.encode() not in change.content
    assert (
        client.post(
            reverse("admin:loyalty_walletpass_delete", args=[wallet_pass.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    found = client.get(reverse("admin:loyalty_walletpass_changelist"), {"q": wallet_pass.serial})
    assert wallet_pass.serial.encode() in found.content
