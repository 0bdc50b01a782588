"""Bounces and complaints from an ESP: Postmark's own webhook payloads, POSTed to anymail's
tracking webhook under /hooks/anymail/, suppress the member; a replay or a forgery changes
nothing; soft bounces and other events suppress no one."""

import base64
import json

import pytest
from django.test import Client

from campaigns.models import Suppression, WebhookEvent
from tests.campaigns.helpers import launched_to_everyone
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory

pytestmark = pytest.mark.django_db

URL = "/hooks/anymail/postmark/tracking/"
SECRET = "postmark:s3cret-hook"


@pytest.fixture(autouse=True)
def _webhook_secret(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET}


def _member(email: str):
    member = MemberFactory()
    IdentityFactory(member=member, email=True, raw=email)
    ConsentFactory(member=member, channel="email")
    return member


def bounce(email: str, *, bounce_id: int = 4323372036854775807, kind: str = "HardBounce"):
    """A Postmark bounce webhook body, as Postmark documents it."""
    return {
        "RecordType": "Bounce",
        "MessageStream": "broadcast",
        "ID": bounce_id,
        "Type": kind,
        "TypeCode": {"HardBounce": 1, "SoftBounce": 4096, "Transient": 2}[kind],
        "Name": "Hard bounce" if kind == "HardBounce" else "Soft bounce",
        "Tag": "",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Metadata": {},
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user, "
        "mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": email,
        "From": "news@shop.example.com",
        "BouncedAt": "2026-12-06T16:33:54.9070259Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "週年慶",
        "Content": "",
    }


def complaint(email: str, *, complaint_id: int = 42):
    return {
        "RecordType": "SpamComplaint",
        "MessageStream": "broadcast",
        "ID": complaint_id,
        "Type": "SpamComplaint",
        "TypeCode": 512,
        "Name": "Spam complaint",
        "Tag": "",
        "MessageID": "00000000-0000-0000-0000-000000000000",
        "Metadata": {},
        "ServerID": 1234,
        "Description": "",
        "Details": "Test spam complaint details",
        "Email": email,
        "From": "news@shop.example.com",
        "BouncedAt": "2026-12-06T16:33:54.9070259Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": False,
        "Subject": "週年慶",
        "Content": "",
    }


def _post(payload: dict, auth: str = SECRET):
    return Client().post(
        URL,
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(auth.encode()).decode(),
    )


def test_a_hard_bounce_suppresses_the_member_found_by_any_spelling_of_the_address():
    member = _member("Chen.Mei@Example.com")
    other = _member("other@example.com")

    response = _post(bounce("  chen.mei@EXAMPLE.COM "))

    assert response.status_code == 200
    suppression = Suppression.objects.get()
    assert (suppression.member_id, suppression.channel, suppression.reason) == (
        member.pk,
        "email",
        "bounced",
    )
    assert suppression.source == "anymail:postmark"
    assert suppression.at.isoformat().startswith("2026-12-06T16:33:54")
    assert not Suppression.objects.filter(member=other).exists()


def test_a_complaint_suppresses_as_complained():
    member = _member("mei@example.com")
    assert _post(complaint("mei@example.com")).status_code == 200
    assert Suppression.objects.get(member=member).reason == "complained"


def test_a_replayed_event_is_ignored():
    member = _member("mei@example.com")
    assert _post(bounce("mei@example.com")).status_code == 200
    Suppression.objects.filter(member=member).update(lifted_at="2026-12-07T00:00:00Z")

    # The ESP redelivers the same event (same ID): nothing new, even though the first
    # suppression was lifted meanwhile.
    assert _post(bounce("mei@example.com")).status_code == 200

    assert Suppression.objects.filter(member=member).count() == 1
    assert WebhookEvent.objects.filter(provider="anymail:postmark").count() == 1
    # A new bounce (another ID) suppresses again.
    assert _post(bounce("mei@example.com", bounce_id=7)).status_code == 200
    assert Suppression.objects.filter(member=member, lifted_at__isnull=True).count() == 1


def test_a_forged_webhook_is_refused_and_changes_nothing():
    _member("mei@example.com")
    response = _post(bounce("mei@example.com"), auth="postmark:guess")
    assert response.status_code == 400
    response = Client().post(URL, data=json.dumps(bounce("mei@example.com")), content_type="x/y")
    assert response.status_code == 400
    assert not Suppression.objects.exists()
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize("kind", ["SoftBounce", "Transient"])
def test_a_soft_bounce_suppresses_no_one(kind):
    _member("mei@example.com")
    assert _post(bounce("mei@example.com", kind=kind)).status_code == 200
    assert not Suppression.objects.exists()


def test_an_event_for_an_unknown_address_is_accepted_and_ignored():
    assert _post(bounce("nobody@example.com")).status_code == 200
    assert not Suppression.objects.exists()


def test_a_bounced_member_is_suppressed_at_the_next_send(smtp_sink, settings):
    from campaigns.models import Delivery, SendBatch
    from campaigns.services import (
        send_batch_run,
    )

    settings.OMNICHANNEL_PUBLIC_URL = "https://crm.example.com"
    bounced = _member("gone@example.com")
    fine = _member("fine@example.com")
    campaign = launched_to_everyone(channel="email", content={"subject": "週年慶", "text": "Hi"})
    # The bounce arrives after the launch, before the worker sends: the send-time check sees it.
    _post(bounce("gone@example.com"))
    for batch_id in SendBatch.objects.filter(campaign=campaign).values_list("pk", flat=True):
        send_batch_run(batch_id=batch_id)

    assert Delivery.objects.get(member=bounced).reason == "bounced"
    assert Delivery.objects.get(member=fine).status == "sent"
    assert list(smtp_sink.count_by_rcpt()) == ["fine@example.com"]
