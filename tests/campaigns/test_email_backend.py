"""The e-mail channel against a real SMTP server (aiosmtpd on 127.0.0.1), through the pipeline:
what arrives byte for byte where it matters, one session for a batch, and SMTP's refusals."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.backends.base import OutboundMessage
from campaigns.backends.email import EmailBackend, message_id_for
from campaigns.models import Campaign, Delivery, SendBatch, Suppression
from campaigns.services import campaign_save, send_batch_run
from campaigns.tracking import open_pixel_url, tracked_url
from campaigns.unsubscribe import unsubscribe_token_read
from crm.models import Identity, Segment
from crm.segments.definition import EMPTY_DEFINITION
from tests.campaigns.helpers import launched_to_everyone
from tests.campaigns.servers.smtp import SinkHandler, SmtpSink
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory

pytestmark = pytest.mark.django_db

EMAIL = {
    "subject": "{{name}}，週年慶開跑！",
    "preheader": "全館 8 折",
    "text": "Hi {{name}}，週年慶全館 8 折 https://shop.example.com/sale",
    "html": '<p>Hi {{name}}，<a href="https://shop.example.com/sale">週年慶</a></p>',
}


@pytest.fixture(autouse=True)
def _email_settings(settings):
    settings.OMNICHANNEL_PUBLIC_URL = "https://crm.example.com"
    settings.CAMPAIGN_EMAIL_FROM = "Shop 商店 <news@shop.example.com>"
    settings.CAMPAIGN_EMAIL_MESSAGE_ID_DOMAIN = "mail.shop.example.com"


def _member(email: str | None = None):
    member = MemberFactory()
    identity = IdentityFactory(member=member, email=True, **({"raw": email} if email else {}))
    ConsentFactory(member=member, channel="email")
    return member, identity.value


def _campaign(content=EMAIL) -> Campaign:
    return launched_to_everyone(channel="email", content=content)


def _send_all(campaign: Campaign, now=None) -> None:
    for batch_id in SendBatch.objects.filter(campaign=campaign).values_list("pk", flat=True):
        send_batch_run(batch_id=batch_id, now=now)


def test_a_campaign_email_arrives_with_its_parts_and_headers(smtp_sink):
    member, address = _member()

    _send_all(_campaign())

    (received,) = smtp_sink.messages
    delivery = Delivery.objects.get(member=member)
    assert (delivery.status, delivery.reason) == ("sent", "")
    assert received.rcpt_tos == [address]
    assert received.mail_from == "news@shop.example.com"
    mail = received.email
    assert mail["Subject"] == f"{member.name}，週年慶開跑！"  # UTF-8, RFC 2047 on the wire
    assert b"=?utf-8?" in received.raw.split(b"\r\n\r\n")[0].lower()
    assert mail["From"] == "Shop 商店 <news@shop.example.com>"
    assert mail["To"] == address
    # A Message-ID fixed by the delivery, and it is the provider id we keep.
    assert mail["Message-ID"] == message_id_for(f"d{delivery.pk}")
    assert mail["Message-ID"].startswith(f"<d{delivery.pk}.")
    assert mail["Message-ID"].endswith("@mail.shop.example.com>")
    assert delivery.provider_id == mail["Message-ID"]
    # RFC 8058 one-click unsubscribe: an https URL naming this delivery, and the POST header.
    unsubscribe = mail["List-Unsubscribe"].strip()  # a long URL is folded onto its own line
    assert unsubscribe.startswith("<https://crm.example.com/u/") and unsubscribe.endswith("/>")
    assert unsubscribe_token_read(unsubscribe[1:-1].rstrip("/").rsplit("/", 1)[1]) == delivery.pk
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # multipart/alternative: the text part first, then the HTML part (with the preheader).
    assert mail.get_content_type() == "multipart/alternative"
    text, html = mail.get_payload()
    assert text.get_content_type() == "text/plain"
    # The link is the delivery's tracked link (campaigns/tracking.py), the HTML has the pixel.
    assert text.get_content().strip() == (
        f"Hi {member.name}，週年慶全館 8 折 {tracked_url(delivery_id=delivery.pk, number=1)}"
    )
    assert html.get_content_type() == "text/html"
    assert f"<p>Hi {member.name}，" in html.get_content()
    assert f'<img src="{open_pixel_url(delivery_id=delivery.pk)}"' in html.get_content()
    assert "display:none" in html.get_content() and "全館 8 折" in html.get_content()


def test_an_email_without_html_is_plain_text(smtp_sink):
    _member()
    _send_all(_campaign({"subject": "週年慶", "text": "Hi {{name}}"}))
    (received,) = smtp_sink.messages
    assert received.email.get_content_type() == "text/plain"
    assert received.email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_batch_is_sent_over_one_smtp_session(smtp_sink):
    members = [_member() for _ in range(4)]

    _send_all(_campaign())

    assert sorted(smtp_sink.count_by_rcpt()) == sorted(address for _, address in members)
    assert set(smtp_sink.count_by_rcpt().values()) == {1}
    assert smtp_sink.session_count() == 1
    assert len({message.peer for message in smtp_sink.messages}) == 1
    assert Delivery.objects.filter(status="sent").count() == 4


def test_a_hard_bounce_fails_without_retry_and_suppresses_the_address(smtp_sink):
    good, good_address = _member()
    gone, gone_address = _member()
    smtp_sink.reject_permanently(gone_address)
    campaign = _campaign()

    _send_all(campaign)

    delivery = Delivery.objects.get(member=gone)
    assert (delivery.status, delivery.reason) == ("failed", "address_invalid")
    assert "550" in delivery.error
    assert Delivery.objects.get(member=good).status == "sent"
    # One session for both: a refused recipient does not break the connection.
    assert smtp_sink.session_count() == 1
    assert list(smtp_sink.count_by_rcpt()) == [good_address]
    batch = SendBatch.objects.get(campaign=campaign)
    assert (batch.status, batch.provider_attempts) == ("done", 0)
    suppression = Suppression.objects.get(member=gone)
    assert (suppression.channel, suppression.reason) == ("email", "bounced")
    assert "550" in suppression.detail

    # The next campaign does not try the address again.
    _send_all(_campaign())
    assert Delivery.objects.filter(member=gone).latest("pk").reason == "bounced"
    assert smtp_sink.count_by_rcpt()[gone_address.lower()] == 0


@pytest.mark.parametrize("code", [451, 421])
def test_a_temporary_refusal_is_retried_later_and_then_delivered(smtp_sink, code):
    member, address = _member()
    smtp_sink.reject_temporarily(address, code=code)
    campaign = _campaign()
    batch = SendBatch.objects.get(campaign=campaign)
    now = timezone.now()

    outcome = send_batch_run(batch_id=batch.pk, now=now)

    assert outcome.state == "requeued"
    delivery = Delivery.objects.get(member=member)
    assert delivery.status == "pending" and str(code) in delivery.error
    assert not Suppression.objects.exists()
    smtp_sink.accept(address)
    batch.refresh_from_db()
    assert send_batch_run(batch_id=batch.pk, now=batch.not_before + timedelta(seconds=1)).state == (
        "done"
    )
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    assert smtp_sink.count_by_rcpt() == {address: 1}


def test_the_backend_reconnects_after_the_server_hung_up(smtp_sink):
    smtp_sink.reject_temporarily("bye@example.com", code=421)
    messages = [
        OutboundMessage(
            key=f"t{n}",
            channel="email",
            address=address,
            content={"subject": "Hi", "text": "Hello"},
        )
        for n, address in enumerate(["bye@example.com", "a@example.com", "b@example.com"])
    ]
    with EmailBackend() as backend:
        first = backend.send_batch(messages[:1], retry_key="k")
        rest = backend.send_batch(messages[1:2], retry_key="k") + backend.send_batch(
            messages[2:], retry_key="k"
        )
    assert first[0].retryable and "421" in first[0].error
    assert [result.ok for result in rest] == [True, True]
    assert smtp_sink.session_count() == 2  # the hung-up session, then one for both others
    assert backend.connection is None  # closed by close()


def test_an_unreachable_server_is_a_retryable_failure(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    message = OutboundMessage(
        key="t1", channel="email", address="a@example.com", content={"subject": "s", "text": "t"}
    )
    with EmailBackend() as backend:
        (result,) = backend.send_batch([message], retry_key="k")
    assert not result.ok and result.retryable and result.reason == "provider_error"


def test_the_from_address_and_member_address_are_those_of_the_settings_and_identity(
    smtp_sink, settings
):
    settings.CAMPAIGN_EMAIL_FROM = "news@other.example.com"
    settings.CAMPAIGN_EMAIL_MESSAGE_ID_DOMAIN = ""
    member, address = _member("  Mixed.Case@Example.COM ")
    _send_all(_campaign())
    (received,) = smtp_sink.messages
    assert address == Identity.objects.get(member=member).value
    assert received.rcpt_tos == [address]
    assert received.email["Message-ID"].endswith("@other.example.com>")


# --- through an ESP: anymail's Postmark backend against a local Postmark API ---------------


@pytest.fixture
def postmark(settings):
    from tests.campaigns.servers.postmark import PostmarkServer

    with PostmarkServer() as server:
        settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
        settings.ANYMAIL = {
            **settings.ANYMAIL,
            "POSTMARK_SERVER_TOKEN": "server-token",
            "POSTMARK_API_URL": server.url,
        }
        settings.CAMPAIGN_BACKENDS = {
            **settings.CAMPAIGN_BACKENDS,
            "email": "campaigns.backends.email.EmailBackend",
        }
        yield server


def test_through_an_esp_the_message_carries_the_same_headers_and_the_esps_id(postmark):
    member, address = _member()
    _send_all(_campaign())
    (request,) = postmark.requests
    assert request["path"] == "/email"
    assert request["headers"]["X-Postmark-Server-Token"] == "server-token"
    sent = request["json"]
    assert sent["To"] == address
    assert sent["Subject"] == f"{member.name}，週年慶開跑！"
    assert sent["TextBody"].startswith(f"Hi {member.name}")
    assert "<p>Hi" in sent["HtmlBody"]
    headers = {header["Name"]: header["Value"] for header in sent["Headers"]}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Unsubscribe"].startswith("<https://crm.example.com/u/")
    delivery = Delivery.objects.get(member=member)
    assert delivery.status == "sent"
    assert len(delivery.provider_id) == 36  # Postmark's MessageID, which its webhooks name


def test_through_an_esp_an_inactive_recipient_fails_and_is_suppressed(postmark):
    member, address = _member()
    postmark.inactive.add(address)
    _send_all(_campaign())
    delivery = Delivery.objects.get(member=member)
    assert (delivery.status, delivery.reason) == ("failed", "address_invalid")
    assert Suppression.objects.get(member=member).reason == "bounced"


@pytest.mark.parametrize(("status", "retried"), [(500, True), (429, True), (401, False)])
def test_through_an_esp_server_errors_are_retried_and_refusals_are_not(postmark, status, retried):
    member, _ = _member()
    postmark.fail_status = status
    campaign = _campaign()
    batch = SendBatch.objects.get(campaign=campaign)
    outcome = send_batch_run(batch_id=batch.pk)
    delivery = Delivery.objects.get(member=member)
    if retried:
        assert outcome.state == "requeued" and delivery.status == "pending"
    else:
        assert (delivery.status, delivery.reason) == ("failed", "provider_rejected")
    assert not Suppression.objects.exists()


def test_a_test_send_reaches_the_marketer_without_an_unsubscribe_link(smtp_sink):
    from campaigns.services import campaign_test_send

    campaign = campaign_save(
        name="週年慶",
        segment=Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION),
        channels=["email"],
        contents={"email": EMAIL},
    )
    result = campaign_test_send(campaign=campaign, channel="email", address="bob@example.com")
    assert result.ok
    (received,) = smtp_sink.messages
    assert received.rcpt_tos == ["bob@example.com"]
    assert "List-Unsubscribe" not in received.email
    assert "週年慶開跑" in received.email["Subject"]


# --- in doubt or not: when a failure may have left the message with the server ---------------
# (the reply timeout after DATA itself: tests/campaigns/test_email_in_doubt.py)


def _message(key: str, address: str) -> OutboundMessage:
    return OutboundMessage(
        key=key, channel="email", address=address, content={"subject": "Hi", "text": "Hello"}
    )


def test_a_kept_session_the_server_closed_while_idle_is_reopened_and_the_message_sent_once(
    smtp_sink,
):
    with EmailBackend() as backend:
        (first,) = backend.send_batch([_message("t1", "a@example.com")], retry_key="k")
        smtp_sink.drop_sessions()  # the server's idle timeout, between two calls
        (second,) = backend.send_batch([_message("t2", "b@example.com")], retry_key="k")
    assert first.ok and second.ok
    assert smtp_sink.count_by_rcpt() == {"a@example.com": 1, "b@example.com": 1}
    assert smtp_sink.session_count() == 2


def test_a_451_at_rcpt_is_retried_not_an_unknown_outcome(smtp_sink):
    smtp_sink.reject_temporarily("a@example.com", code=451)
    with EmailBackend() as backend:
        (result,) = backend.send_batch([_message("t1", "a@example.com")], retry_key="k")
    assert (result.ok, result.retryable, result.reason) == (False, True, "provider_error")
    assert "451" in result.error
    assert not smtp_sink.messages


class RefuseAfterData(SinkHandler):
    """Takes the message, then answers 451: the server said it did not keep it."""

    async def handle_DATA(self, server, session, envelope):
        return "451 4.3.0 Temporary failure, try again later"


def test_a_4xx_answer_to_the_message_itself_is_retried(settings):
    with SmtpSink(handler=RefuseAfterData()) as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = sink.host, sink.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        with EmailBackend() as backend:
            (result,) = backend.send_batch([_message("t1", "a@example.com")], retry_key="k")
    assert (result.ok, result.retryable, result.reason) == (False, True, "provider_error")
    assert "451" in result.error


def test_through_an_esp_no_answer_after_the_request_is_an_unknown_outcome(postmark, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "REQUESTS_TIMEOUT": 0.5}
    postmark.delay = 2  # the ESP took the message; its answer comes too late
    member, _ = _member()
    campaign = _campaign()
    batch = SendBatch.objects.get(campaign=campaign)

    outcome = send_batch_run(batch_id=batch.pk)

    assert outcome.state == "done"
    delivery = Delivery.objects.get(member=member)
    assert (delivery.status, delivery.reason) == ("failed", "outcome_unknown")
    assert len(postmark.requests) == 1


def test_through_an_esp_a_connection_that_does_not_open_is_retried(postmark, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "POSTMARK_API_URL": "http://127.0.0.1:9/"}
    member, _ = _member()
    campaign = _campaign()
    batch = SendBatch.objects.get(campaign=campaign)

    outcome = send_batch_run(batch_id=batch.pk)

    assert outcome.state == "requeued"
    delivery = Delivery.objects.get(member=member)
    assert delivery.status == "pending" and "Connection refused" in delivery.error
