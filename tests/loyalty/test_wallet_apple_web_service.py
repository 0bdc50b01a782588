"""Apple's pass web service, called as a device calls it: register (201, then 200), a wrong
token (401), the serials changed since a tag (after a points change, then 204), the latest pass
(200, then 304 with If-Modified-Since), unregister, and the log endpoint."""

import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.http import http_date

from crm.models import Touchpoint
from loyalty.models import PointsTransaction, WalletDeviceRegistration, WalletPass
from loyalty.services.ledger import Entry, accounts_ensure, entries_post
from loyalty.services.wallet import wallet_pass_issue, wallet_passes_touch
from tests.factories import MemberFactory
from tests.loyalty.wallet_apple_helpers import PASS_TYPE_ID, pkpass_json

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("apple_dev")]
APPLE = WalletPass.Platform.APPLE
BASE = "/wallet/apple/v1"
DEVICE = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
PUSH_TOKEN = "f" * 64


@pytest.fixture
def card():
    member = MemberFactory()
    return wallet_pass_issue(member_id=member.pk, platform=APPLE)


def _auth(wallet_pass):
    return {"HTTP_AUTHORIZATION": f"ApplePass {wallet_pass.authentication_token}"}


def _registration(wallet_pass, device=DEVICE, pass_type=PASS_TYPE_ID):
    return f"{BASE}/devices/{device}/registrations/{pass_type}/{wallet_pass.serial}"


def _register(client, wallet_pass, device=DEVICE, **headers):
    return client.post(
        _registration(wallet_pass, device),
        data=json.dumps({"pushToken": PUSH_TOKEN}),
        content_type="application/json",
        **(headers or _auth(wallet_pass)),
    )


def _serials(client, device=DEVICE, since=None):
    url = f"{BASE}/devices/{device}/registrations/{PASS_TYPE_ID}"
    return client.get(url, {"passesUpdatedSince": since} if since else {})


def _points_change(wallet_pass, points=200):
    """A points change as the product makes it: the ledger moves, the card is marked changed,
    and the push job claims it (updated_at moves: the pass's new Last-Modified and tag)."""
    account_id = accounts_ensure(member_ids=[wallet_pass.member_id])[wallet_pass.member_id]
    entries_post(
        entries=[Entry(account_id, PointsTransaction.Kind.EARN, points, f"web:{points}", "order")]
    )
    wallet_passes_touch(member_ids=[wallet_pass.member_id])
    WalletPass.objects.filter(pk=wallet_pass.pk).update(
        updated_at=timezone.now(), changed_at=None, pushed_at=timezone.now()
    )


def test_register_then_again(client, card):
    response = _register(client, card)
    assert response.status_code == 201
    registration = WalletDeviceRegistration.objects.get()
    assert (registration.device_library_id, registration.push_token) == (DEVICE, PUSH_TOKEN)
    card.refresh_from_db()
    assert card.installed and card.installed_at
    assert Touchpoint.objects.filter(member_id=card.member_id, kind="wallet_added").count() == 1

    assert _register(client, card).status_code == 200
    assert WalletDeviceRegistration.objects.count() == 1
    # A second device: the card was in a wallet already, no second touchpoint.
    assert _register(client, card, device="other-device").status_code == 201
    assert Touchpoint.objects.filter(member_id=card.member_id, kind="wallet_added").count() == 1


def test_register_with_a_wrong_or_missing_token(client, card):
    assert (
        _register(client, card, HTTP_AUTHORIZATION="ApplePass wrong-token-0000000").status_code
        == 401
    )
    assert (
        _register(
            client, card, HTTP_AUTHORIZATION=f"Bearer {card.authentication_token}"
        ).status_code
        == 401
    )
    response = client.post(
        _registration(card),
        data=json.dumps({"pushToken": PUSH_TOKEN}),
        content_type="application/json",
    )
    assert response.status_code == 401
    other = wallet_pass_issue(member_id=MemberFactory().pk, platform=APPLE)
    assert _register(client, card, **_auth(other)).status_code == 401
    assert not WalletDeviceRegistration.objects.exists()


def test_unknown_pass_type_is_404(client, card):
    response = client.post(
        _registration(card, pass_type="pass.other.type"),
        data=json.dumps({"pushToken": PUSH_TOKEN}),
        content_type="application/json",
        **_auth(card),
    )
    assert response.status_code == 404
    assert client.get(f"{BASE}/devices/{DEVICE}/registrations/pass.other.type").status_code == 404
    assert (
        client.get(f"{BASE}/passes/pass.other.type/{card.serial}", **_auth(card)).status_code == 404
    )


def test_bad_json_is_400_with_a_reason(client, card):
    response = client.post(
        _registration(card), data="{not json", content_type="application/json", **_auth(card)
    )
    assert response.status_code == 400
    assert response.json() == {"error": "The body is not a JSON object."}
    response = client.post(
        _registration(card), data="{}", content_type="application/json", **_auth(card)
    )
    assert response.status_code == 400
    assert response.json() == {"error": "pushToken is missing or not a hexadecimal APNs token."}
    # A token that is not hexadecimal would go into the APNs path: refused.
    response = client.post(
        _registration(card),
        data=json.dumps({"pushToken": "../../3/device/" + "f" * 64}),
        content_type="application/json",
        **_auth(card),
    )
    assert response.status_code == 400
    # An over-long or odd device identifier: refused with a reason, not a database error.
    response = client.post(
        _registration(card, device="d" * 129),
        data=json.dumps({"pushToken": PUSH_TOKEN}),
        content_type="application/json",
        **_auth(card),
    )
    assert response.status_code == 400
    assert response.json() == {"error": "The device library identifier is not valid."}
    assert (
        client.post(f"{BASE}/log", data="[1]", content_type="application/json").status_code == 400
    )


def test_serials_updated_since_a_tag(client, card):
    assert _serials(client).status_code == 204  # no registration yet
    _register(client, card)
    other = wallet_pass_issue(member_id=MemberFactory().pk, platform=APPLE)
    _register(client, other)

    first = _serials(client)
    assert first.status_code == 200
    assert sorted(first.json()["serialNumbers"]) == sorted([card.serial, other.serial])
    tag = first.json()["lastUpdated"]

    assert _serials(client, since=tag).status_code == 204  # nothing changed since
    _points_change(card)
    changed = _serials(client, since=tag)
    assert changed.status_code == 200
    assert changed.json()["serialNumbers"] == [card.serial]
    assert changed.json()["lastUpdated"] != tag
    assert _serials(client, since=changed.json()["lastUpdated"]).status_code == 204
    # Another device sees none of this device's passes.
    assert _serials(client, device="unknown-device").status_code == 204


def test_latest_pass_and_if_modified_since(client, card):
    _points_change(card, points=700)
    card.refresh_from_db()
    url = f"{BASE}/passes/{PASS_TYPE_ID}/{card.serial}"
    response = client.get(url, **_auth(card))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.apple.pkpass"
    assert response["Last-Modified"] == http_date(int(card.updated_at.timestamp()))
    assert pkpass_json(response.content)["storeCard"]["primaryFields"][0]["value"] == 700

    again = client.get(url, HTTP_IF_MODIFIED_SINCE=response["Last-Modified"], **_auth(card))
    assert again.status_code == 304
    assert again.content == b""

    older = http_date(int((card.updated_at - timedelta(minutes=5)).timestamp()))
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=older, **_auth(card)).status_code == 200
    assert client.get(url, HTTP_AUTHORIZATION="ApplePass nope-nope-nope-nope").status_code == 401
    assert client.get(url).status_code == 401


def test_unregister(client, card):
    _register(client, card)
    _register(client, card, device="second-device")
    url = _registration(card)
    assert client.delete(url, HTTP_AUTHORIZATION="ApplePass wrong").status_code == 401
    assert client.delete(url, **_auth(card)).status_code == 200
    card.refresh_from_db()
    assert card.installed  # the second device still holds it
    assert client.delete(_registration(card, "second-device"), **_auth(card)).status_code == 200
    card.refresh_from_db()
    assert not card.installed and card.removed_at
    assert not WalletDeviceRegistration.objects.exists()
    assert Touchpoint.objects.filter(member_id=card.member_id, kind="wallet_removed").count() == 1
    assert _serials(client).status_code == 204


def test_log_endpoint_writes_to_the_python_log(client, caplog):
    with caplog.at_level(logging.WARNING, logger="loyalty.wallet.apple"):
        response = client.post(
            f"{BASE}/log",
            data=json.dumps({"logs": ["Could not fetch pass: 401", "Web service error"]}),
            content_type="application/json",
        )
    assert response.status_code == 200
    assert "Could not fetch pass: 401" in caplog.text
    assert "Web service error" in caplog.text


def test_no_csrf_no_login(card):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert _register(strict, card).status_code == 201


def test_the_web_service_url_leads_here(settings):
    from urllib.parse import urlsplit

    from django.urls import resolve

    from omnichannel import settings as project_settings

    base = urlsplit(project_settings.APPLE_WALLET_WEB_SERVICE_URL).path
    assert resolve(f"{base}/v1/log").url_name == "apple_log"
    match = resolve(f"{base}/v1/passes/{PASS_TYPE_ID}/abc")
    assert (match.url_name, match.kwargs["serial"]) == ("apple_pass", "abc")
