"""Google's save and delete callbacks: verified as Google specifies (ECv2SigningOnly, signed by
the local Google's keys), recorded once per nonce, the card moved and the touchpoint written."""

import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client
from django.urls import reverse

from crm.models import Touchpoint
from loyalty.models import GoogleWalletCallback, WalletPass
from loyalty.wallet import google_callbacks as gc
from loyalty.wallet.google import class_id, object_id
from tests.loyalty.google_wallet_helpers import google_pass, member_with_points

pytestmark = pytest.mark.django_db

URL = "/wallet/google/callback"


def _message(wallet_pass=None, *, event="save", nonce="n-1", expires_in_s=60, obj=None) -> dict:
    return {
        "classId": class_id(),
        "objectId": obj or object_id(wallet_pass.serial),
        "expTimeMillis": int((time.time() + expires_in_s) * 1000),
        "eventType": event,
        "nonce": nonce,
    }


def _post(body: bytes):
    # Google posts with no cookie and no CSRF token.
    return Client(enforce_csrf_checks=True).post(URL, body, content_type="application/json")


def _kinds(member) -> list[str]:
    return list(Touchpoint.objects.filter(member=member).values_list("kind", flat=True))


def test_the_callback_address_is_the_one_the_class_names():
    assert reverse("wallet:google_callback") == URL


def test_a_signed_save_installs_the_card_once(google_wallet):
    member = member_with_points(10)
    wallet_pass = google_pass(member)
    body = google_wallet.signer.body(_message(wallet_pass), recipient_id="3388000000000000001")

    response = _post(body)
    repeat = _post(body)  # Google retries: same nonce

    assert response.status_code == 200 and repeat.status_code == 200
    wallet_pass.refresh_from_db()
    assert wallet_pass.installed and wallet_pass.installed_at
    [callback] = GoogleWalletCallback.objects.all()
    assert (callback.event_type, callback.wallet_pass_id) == ("save", wallet_pass.pk)
    assert callback.object_id == object_id(wallet_pass.serial)
    assert _kinds(member) == ["wallet_added"]
    # Google's root keys were fetched once and kept.
    assert len([r for r in google_wallet.requests if r.path == "/keys"]) == 1


def test_a_signed_delete_removes_the_card(google_wallet):
    member = member_with_points(10)
    wallet_pass = google_pass(member)
    signer = google_wallet.signer
    _post(signer.body(_message(wallet_pass, nonce="a"), recipient_id="3388000000000000001"))

    response = _post(
        signer.body(
            _message(wallet_pass, event="del", nonce="b"), recipient_id="3388000000000000001"
        )
    )

    assert response.status_code == 200
    wallet_pass.refresh_from_db()
    assert not wallet_pass.installed and wallet_pass.removed_at
    assert sorted(_kinds(member)) == ["wallet_added", "wallet_removed"]
    assert GoogleWalletCallback.objects.filter(event_type="del").count() == 1


def test_an_unknown_object_is_recorded_without_a_card(google_wallet):
    body = google_wallet.signer.body(
        _message(obj="3388000000000000001.no-such-serial"), recipient_id="3388000000000000001"
    )
    response = _post(body)
    assert response.status_code == 200
    [callback] = GoogleWalletCallback.objects.all()
    assert callback.wallet_pass is None


def _refused(body: bytes) -> str:
    response = _post(body)
    assert response.status_code == 400
    assert not GoogleWalletCallback.objects.exists()
    assert not WalletPass.objects.filter(installed=True).exists()
    assert not Touchpoint.objects.exists()
    return response.json()["error"]


def test_a_key_not_signed_by_googles_root_is_refused(google_wallet):
    wallet_pass = google_pass(member_with_points(1))
    stranger = ec.generate_private_key(ec.SECP256R1())
    body = google_wallet.signer.body(
        _message(wallet_pass), recipient_id="3388000000000000001", root=stranger
    )
    assert _refused(body) == gc.BAD_INTERMEDIATE_SIGNATURE


def test_a_message_for_another_issuer_is_refused(google_wallet):
    wallet_pass = google_pass(member_with_points(1))
    body = google_wallet.signer.body(_message(wallet_pass), recipient_id="3388000000000000999")
    assert _refused(body) == gc.BAD_SIGNATURE


def test_a_changed_message_is_refused(google_wallet):
    wallet_pass = google_pass(member_with_points(1))
    token = json.loads(
        google_wallet.signer.body(_message(wallet_pass), recipient_id="3388000000000000001")
    )
    token["signedMessage"] = token["signedMessage"].replace('"save"', '"del"')
    assert _refused(json.dumps(token).encode()) == gc.BAD_SIGNATURE


def test_an_expired_message_is_refused(google_wallet):
    wallet_pass = google_pass(member_with_points(1))
    body = google_wallet.signer.body(
        _message(wallet_pass, expires_in_s=-1), recipient_id="3388000000000000001"
    )
    assert _refused(body) == gc.MESSAGE_EXPIRED


def test_an_expired_intermediate_key_is_refused(google_wallet):
    wallet_pass = google_pass(member_with_points(1))
    body = google_wallet.signer.body(
        _message(wallet_pass),
        recipient_id="3388000000000000001",
        intermediate_expires_ms=int((time.time() - 1) * 1000),
    )
    assert _refused(body) == gc.INTERMEDIATE_EXPIRED


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"protocolVersion": "ECv2SigningOnly"}', b""],
    ids=["text", "list", "fields-missing", "empty"],
)
def test_a_malformed_body_is_refused(google_wallet, body):
    assert _refused(body) == gc.BAD_JSON


def test_another_protocol_is_refused(google_wallet):
    wallet_pass = google_pass(member_with_points(1))
    token = json.loads(
        google_wallet.signer.body(_message(wallet_pass), recipient_id="3388000000000000001")
    )
    token["protocolVersion"] = "ECv2"
    assert _refused(json.dumps(token).encode()) == gc.BAD_PROTOCOL


def test_a_signed_message_that_is_not_a_callback_is_refused(google_wallet):
    wallet_pass = google_pass(member_with_points(1))
    body = google_wallet.signer.body(
        _message(wallet_pass, event="update"), recipient_id="3388000000000000001"
    )
    assert _refused(body) == gc.BAD_MESSAGE


def test_no_root_keys_no_callbacks(google_wallet, settings):
    settings.GOOGLE_WALLET_CALLBACK_KEYS_URL = f"{google_wallet.url}/nowhere"
    wallet_pass = google_pass(member_with_points(1))
    body = google_wallet.signer.body(_message(wallet_pass), recipient_id="3388000000000000001")
    assert _refused(body) == gc.NO_ROOT_KEYS


def test_get_is_not_allowed(google_wallet):
    assert Client().get(URL).status_code == 405


def test_signed_bytes_follow_googles_layout():
    # length (4 bytes little-endian) before each part, UTF-8.
    assert gc.signed_bytes("ab", "") == b"\x02\x00\x00\x00ab\x00\x00\x00\x00"
