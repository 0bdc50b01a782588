"""The SMS backends through the whole pipeline (launch → send_batch_run) against local servers
that speak Twilio's and Mitake's protocols (tests/campaigns/servers/): what arrived, byte for
byte where it matters, how each provider's answers end the deliveries, retries and Retry-After,
and Mitake's ClientID making a repeated call harmless."""

import base64
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from campaigns.backends.base import OutboundMessage
from campaigns.backends.mitake import MitakeBackend, mitake_client_id
from campaigns.models import Delivery, SendBatch
from campaigns.services import send_batch_run
from campaigns.tracking import tracked_url
from crm.models import Consent, Identity, Member
from tests.campaigns.helpers import launched_to_everyone

pytestmark = pytest.mark.django_db

TEXT = "{{name}}您好，週年慶開跑！"


def _members(count: int, *, first: int = 0, numbers=None) -> list[Member]:
    """Members with a Taiwan mobile each and SMS consent (bulk: a test may need 1,200)."""
    now = timezone.now()
    members = Member.objects.bulk_create(
        Member(member_no=f"S{first + n:07d}", name=f"會員{first + n}") for n in range(count)
    )
    numbers = numbers or [f"+8869{first + n:08d}" for n in range(count)]
    Identity.objects.bulk_create(
        Identity(member=m, kind=Identity.Kind.PHONE, value=v, source="store")
        for m, v in zip(members, numbers, strict=True)
    )
    Consent.objects.bulk_create(
        Consent(member=m, channel="sms", state=Consent.State.OPTED_IN, source="store", at=now)
        for m in members
    )
    return members


def _launch(text: str = TEXT):
    return launched_to_everyone(channel="sms", content={"text": text}, name="週年慶簡訊")


def _send_all(campaign, now=None):
    for pk in (
        SendBatch.objects.filter(campaign=campaign).order_by("seq").values_list("pk", flat=True)
    ):
        send_batch_run(batch_id=pk, now=now)


def _delivery(member) -> Delivery:
    return Delivery.objects.get(member=member)


# --- Twilio -----------------------------------------------------------------------------------


def test_twilio_gets_one_form_post_per_message_with_basic_auth(twilio_server):
    members = _members(2)
    _send_all(_launch())

    state = twilio_server.state
    assert len(state.requests) == 2
    first = state.requests[0]
    assert first.path == f"/2010-04-01/Accounts/{state.account_sid}/Messages.json"
    token = base64.b64encode(f"{state.account_sid}:{state.auth_token}".encode()).decode()
    assert first.headers["Authorization"] == f"Basic {token}"
    assert first.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert (
        first.body
        == urlencode(
            {"To": "+886900000000", "Body": "會員0您好，週年慶開跑！", "From": "+15005550006"}
        ).encode()
    )
    for member, message in zip(members, state.delivered, strict=True):
        delivery = _delivery(member)
        assert (delivery.status, delivery.provider_id) == ("sent", message["sid"])


def test_twilio_messaging_service_sid_replaces_from(twilio_server, settings):
    settings.TWILIO_FROM = "MG" + "a" * 32
    _members(1)
    _send_all(_launch())
    (request,) = twilio_server.state.requests
    assert request.form["MessagingServiceSid"] == settings.TWILIO_FROM
    assert "From" not in request.form


def test_twilio_refusals_end_the_delivery_without_a_retry(twilio_server):
    ok, not_mobile, stopped = _members(3)
    twilio_server.state.not_mobile.add("+886900000001")
    twilio_server.state.unsubscribed.add("+886900000002")
    _send_all(_launch())

    assert _delivery(ok).status == "sent"
    refused = _delivery(not_mobile)
    assert (refused.status, refused.reason) == ("failed", "address_invalid")
    assert "21614" in refused.error
    assert (_delivery(stopped).status, _delivery(stopped).reason) == (
        "suppressed",
        "unsubscribed",
    )
    assert len(twilio_server.state.requests) == 3  # nothing retried


def test_a_stop_reply_suppresses_the_delivery_and_records_the_opt_out(twilio_server):
    (member,) = _members(1)
    twilio_server.state.unsubscribed.add("+886900000000")
    _send_all(_launch())
    delivery = _delivery(member)
    assert (delivery.status, delivery.reason) == ("suppressed", "unsubscribed")
    assert "21610" in delivery.error
    consent = Consent.objects.filter(member=member, channel="sms").order_by("at", "pk").last()
    assert (consent.state, consent.source) == ("opted_out", "provider:twilio")


def test_twilio_other_4xx_is_provider_rejected(twilio_server):
    (member,) = _members(1)
    twilio_server.state.answers = [
        (400, {"code": 21606, "message": "The From phone number is not valid"}, {})
    ]
    _send_all(_launch())
    delivery = _delivery(member)
    assert (delivery.status, delivery.reason) == ("failed", "provider_rejected")
    assert "21606" in delivery.error
    assert len(twilio_server.state.requests) == 1


def test_twilio_429_waits_for_retry_after_then_sends(twilio_server):
    (member,) = _members(1)
    twilio_server.state.answers = [
        (429, {"code": 20429, "message": "Too Many Requests"}, {"Retry-After": "7"})
    ]
    campaign = _launch()
    batch = SendBatch.objects.get(campaign=campaign)
    now = timezone.now()
    assert send_batch_run(batch_id=batch.pk, now=now).state == "requeued"
    batch.refresh_from_db()
    assert batch.not_before == now + timedelta(seconds=7)
    assert _delivery(member).status == "pending"

    assert send_batch_run(batch_id=batch.pk, now=now + timedelta(seconds=8)).state == "done"
    assert _delivery(member).status == "sent"
    assert len(twilio_server.state.delivered) == 1


def test_twilio_5xx_is_retried_with_backoff(twilio_server, settings):
    settings.CAMPAIGN_RETRY_BACKOFF_SECONDS = 30
    (member,) = _members(1)
    twilio_server.state.answers = [(503, {"code": 20503, "message": "Service Unavailable"}, {})]
    campaign = _launch()
    batch = SendBatch.objects.get(campaign=campaign)
    now = timezone.now()
    assert send_batch_run(batch_id=batch.pk, now=now).state == "requeued"
    batch.refresh_from_db()
    assert batch.not_before == now + timedelta(seconds=30)
    send_batch_run(batch_id=batch.pk, now=now + timedelta(seconds=31))
    assert _delivery(member).status == "sent"


def test_wrong_twilio_credentials_fail_without_sending(twilio_server, settings):
    settings.TWILIO_AUTH_TOKEN = "wrong"
    (member,) = _members(1)
    _send_all(_launch())
    delivery = _delivery(member)
    assert (delivery.status, delivery.reason) == ("failed", "provider_rejected")
    assert "20003" in delivery.error
    assert twilio_server.state.delivered == []


def test_a_twilio_answer_that_never_comes_is_not_sent_again(twilio_server, monkeypatch):
    from campaigns.backends import twilio

    monkeypatch.setattr(twilio, "TIMEOUT", (5, 0.2))
    twilio_server.state.stall_seconds = 0.5
    (member,) = _members(1)
    _send_all(_launch())
    delivery = _delivery(member)
    assert (delivery.status, delivery.reason) == ("failed", "outcome_unknown")
    assert len(twilio_server.state.requests) == 1  # Twilio has it; a retry could send twice


def test_a_twilio_connection_dropped_after_the_request_is_not_sent_again(twilio_server):
    twilio_server.state.hang_up = True
    (member,) = _members(1)
    _send_all(_launch())
    delivery = _delivery(member)
    assert (delivery.status, delivery.reason) == ("failed", "outcome_unknown")
    assert len(twilio_server.state.requests) == 1


def test_a_twilio_connection_refused_is_retried(twilio_server, settings):
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens: never sent
    (member,) = _members(1)
    _send_all(_launch())
    assert _delivery(member).status == "pending"  # back in the queue for a later try


# --- Mitake -----------------------------------------------------------------------------------


def test_mitake_request_is_the_bulk_format_byte_for_byte(mitake_server):
    members = _members(2)
    campaign = _launch("週年慶\n{{name}}您好 https://shop.example.com/a")
    _send_all(campaign)

    (request,) = mitake_server.state.requests
    assert request.path.startswith("/api/mtk/SmBulkSend?")
    assert request.query == {
        "username": mitake_server.state.username,
        "password": mitake_server.state.password,
        "Encoding_PostIn": "UTF8",
    }
    assert request.headers["Content-Type"] == "text/plain; charset=utf-8"
    retry_key = str(SendBatch.objects.get(campaign=campaign).retry_key)
    expected = []
    for n, member in enumerate(members):
        key = f"d{_delivery(member).pk}"
        client_id = mitake_client_id(retry_key=retry_key, key=key)
        number = f"0900{n:06d}"
        # The link is the member's own tracked link (campaigns/tracking.py).
        link = tracked_url(delivery_id=_delivery(member).pk, number=1)
        body = f"週年慶\x06會員{n}您好 {link}"
        expected.append(f"{client_id}$${number}$$$$$${key}$$$${body}")
    assert request.body == "\r\n".join(expected).encode()
    for member, message in zip(members, mitake_server.state.delivered, strict=True):
        assert (_delivery(member).status, _delivery(member).provider_id) == (
            "sent",
            message["msgid"],
        )


def test_mitake_sends_1200_members_in_calls_of_500(mitake_server):
    members = _members(1200)
    _send_all(_launch("週年慶開跑"))
    assert [len(r.lines) for r in mitake_server.state.requests] == [500, 500, 200]
    numbers = [m["dstaddr"] for m in mitake_server.state.delivered]
    assert len(numbers) == len(set(numbers)) == 1200
    assert Delivery.objects.filter(member__in=members, status="sent").count() == 1200


def test_mitake_answer_lost_after_accepting_is_retried_and_not_delivered_twice(mitake_server):
    members = _members(3)
    mitake_server.state.lose_answer_next = 1
    campaign = _launch()
    batch = SendBatch.objects.get(campaign=campaign)
    now = timezone.now()
    assert send_batch_run(batch_id=batch.pk, now=now).state == "requeued"
    assert len(mitake_server.state.delivered) == 3  # Mitake took them; we did not hear

    send_batch_run(batch_id=batch.pk, now=now + timedelta(hours=1))
    first, second = mitake_server.state.requests
    assert second.body == first.body  # the same ClientIDs
    assert len(mitake_server.state.delivered) == 3  # Duplicate=Y: nothing sent again
    delivered = {m["destname"]: m["msgid"] for m in mitake_server.state.delivered}
    for member in members:
        delivery = _delivery(member)
        assert (delivery.status, delivery.provider_id) == (
            "sent",
            delivered[f"d{delivery.pk}"],
        )


def test_a_dead_workers_mitake_call_is_repeated_and_counted_once(mitake_server):
    members = _members(2)
    campaign = _launch("週年慶開跑")
    batch = SendBatch.objects.get(campaign=campaign)
    deliveries = list(Delivery.objects.filter(campaign=campaign).order_by("pk"))
    # Given a worker that marked the chunk in flight, made the call, and died before writing:
    with MitakeBackend() as backend:
        backend.send_batch(
            [
                OutboundMessage(
                    key=f"d{d.pk}",
                    channel="sms",
                    address=f"+8869{n:08d}",
                    content={"text": "週年慶開跑"},
                    delivery_id=d.pk,
                )
                for n, d in enumerate(deliveries)
            ],
            retry_key=str(batch.retry_key),
        )
    Delivery.objects.filter(campaign=campaign).update(status=Delivery.Status.SENDING)
    SendBatch.objects.filter(pk=batch.pk).update(
        status=SendBatch.Status.RUNNING,
        worker="dead",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )

    assert send_batch_run(batch_id=batch.pk).state == "done"
    assert len(mitake_server.state.delivered) == 2
    assert [_delivery(m).status for m in members] == ["sent", "sent"]


def test_mitake_wrong_number_is_address_invalid(mitake_server):
    good, bad = _members(2, numbers=["+886900000001", "+8869123"])
    _send_all(_launch("週年慶開跑"))
    assert _delivery(good).status == "sent"
    assert (_delivery(bad).status, _delivery(bad).reason) == ("failed", "address_invalid")
    assert "mitake v" in _delivery(bad).error


def test_mitake_international_numbers_are_digits_with_country_code(mitake_server):
    _members(1, numbers=["+85291234567"])
    _send_all(_launch("Sale"))
    assert mitake_server.state.delivered[0]["dstaddr"] == "85291234567"


def test_mitake_wrong_password_fails_the_batch_without_retry(mitake_server, settings):
    settings.MITAKE_PASSWORD = "wrong"
    members = _members(2)
    _send_all(_launch("週年慶開跑"))
    for member in members:
        delivery = _delivery(member)
        assert (delivery.status, delivery.reason) == ("failed", "provider_rejected")
        assert "mitake e" in delivery.error
    assert len(mitake_server.state.requests) == 1


def test_mitake_429_and_500_are_retried(mitake_server):
    (member,) = _members(1)
    mitake_server.state.throttle_next = 1
    mitake_server.state.retry_after = 12
    mitake_server.state.fail_next = 1
    campaign = _launch("週年慶開跑")
    batch = SendBatch.objects.get(campaign=campaign)
    now = timezone.now()
    assert send_batch_run(batch_id=batch.pk, now=now).state == "requeued"  # 500
    later = now + timedelta(minutes=5)
    assert send_batch_run(batch_id=batch.pk, now=later).state == "requeued"  # 429
    batch.refresh_from_db()
    assert batch.not_before == later + timedelta(seconds=12)
    send_batch_run(batch_id=batch.pk, now=later + timedelta(seconds=13))
    assert _delivery(member).status == "sent"
    assert len(mitake_server.state.delivered) == 1


def test_retry_after_reads_seconds_and_http_dates():
    from email.utils import format_datetime

    from campaigns.backends.retry_after import retry_after_seconds

    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    in_a_minute = format_datetime(timezone.now() + timedelta(seconds=60), usegmt=True)
    assert 55 <= retry_after_seconds(in_a_minute) <= 60
