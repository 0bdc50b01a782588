"""One-click unsubscribe (RFC 8058): the link of a real e-mail, POSTed without login or cookies,
opts the member out with its proof; GET only asks; forged links are refused; twice is once; and
the next campaign does not reach the member."""

import pytest
from django.test import Client

from campaigns.models import Campaign, Delivery, SendBatch
from campaigns.services import campaign_launch, campaign_save, campaign_snapshot, send_batch_run
from campaigns.services.unsubscribe import ERROR_LINK_INVALID
from campaigns.unsubscribe import unsubscribe_token, unsubscribe_url
from crm.models import Consent, Segment, Touchpoint
from crm.segments.definition import EMPTY_DEFINITION
from crm.services.merges import member_merge
from omnichannel.models import AuditEvent
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory

pytestmark = pytest.mark.django_db

EMAIL = {"subject": "週年慶", "text": "Hi {{name}}", "html": "<p>Hi {{name}}</p>"}
ONE_CLICK = "List-Unsubscribe=One-Click"
GMAIL = "Mozilla/5.0 (compatible; Google-List-Unsubscribe)"


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.OMNICHANNEL_PUBLIC_URL = "https://crm.example.com"


def _member():
    member = MemberFactory()
    IdentityFactory(member=member, email=True)
    ConsentFactory(member=member, channel="email")
    return member


def _send_campaign() -> Campaign:
    campaign = campaign_save(
        name="週年慶",
        segment=Segment.objects.get_or_create(name="Everyone", definition=EMPTY_DEFINITION)[0],
        channels=["email"],
        contents={"email": EMAIL},
    )
    campaign = campaign_launch(campaign=campaign)
    campaign_snapshot(campaign_id=campaign.pk)
    for batch_id in SendBatch.objects.filter(campaign=campaign).values_list("pk", flat=True):
        send_batch_run(batch_id=batch_id)
    return campaign


def _link_from_the_email(sink) -> str:
    """The URL of the List-Unsubscribe header of the last message, made relative."""
    header = sink.messages[-1].email["List-Unsubscribe"].strip()
    assert header.startswith("<https://crm.example.com/") and header.endswith(">")
    return header[1:-1].removeprefix("https://crm.example.com")


def _post(path: str, data=ONE_CLICK, **extra):
    # A mail provider's POST: no cookie, no CSRF token, no session; CSRF checks enforced.
    client = Client(enforce_csrf_checks=True)
    return client.post(
        path,
        data=data,
        content_type="application/x-www-form-urlencoded",
        HTTP_USER_AGENT=GMAIL,
        REMOTE_ADDR="203.0.113.9",
        **extra,
    )


def _state(member) -> str:
    return Consent.objects.filter(member=member, channel="email").latest("at", "pk").state


def test_one_click_post_from_the_email_opts_out_with_proof(smtp_sink):
    member = _member()
    campaign = _send_campaign()
    delivery = Delivery.objects.get(member=member)
    path = _link_from_the_email(smtp_sink)

    response = _post(path)

    assert response.status_code == 200
    assert not response.cookies  # nothing set, nothing needed
    assert _state(member) == Consent.State.OPTED_OUT
    consent = Consent.objects.filter(member=member).latest("at", "pk")
    assert consent.source == "unsubscribe"
    assert consent.proof["campaign_id"] == campaign.pk
    assert consent.proof["delivery_id"] == delivery.pk
    assert consent.proof["ip"] == "203.0.113.9"
    assert consent.proof["user_agent"] == GMAIL
    assert consent.proof["method"] == "one-click"
    assert consent.proof["at"] == consent.at.isoformat()
    touchpoint = Touchpoint.objects.get(member=member, kind="unsubscribed")
    assert touchpoint.channel == "email"
    assert touchpoint.properties == {"campaign_id": campaign.pk, "delivery_id": delivery.pk}
    audit = AuditEvent.objects.filter(action="consent").latest("pk")
    assert audit.object_id == member.member_no and audit.ip == "203.0.113.9"


def test_get_asks_to_confirm_and_writes_nothing():
    member = _member()
    _send_campaign()
    delivery = Delivery.objects.get(member=member)
    path = unsubscribe_url(delivery_id=delivery.pk).removeprefix("https://crm.example.com")
    consents = Consent.objects.count()

    response = Client().get(path, HTTP_ACCEPT_LANGUAGE="zh-hant")

    assert response.status_code == 200
    page = response.content.decode()
    assert "取消訂閱" in page and 'method="post"' in page
    assert member.name not in page and member.member_no not in page
    assert not response.cookies
    assert Consent.objects.count() == consents
    assert not Touchpoint.objects.filter(kind="unsubscribed").exists()


def test_the_confirm_page_button_unsubscribes_too():
    member = _member()
    _send_campaign()
    delivery = Delivery.objects.get(member=member)
    path = unsubscribe_url(delivery_id=delivery.pk).removeprefix("https://crm.example.com")
    response = _post(path, data="confirm=1", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    consent = Consent.objects.filter(member=member).latest("at", "pk")
    assert (consent.state, consent.proof["method"]) == ("opted_out", "page")


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_forged_or_mangled_link_is_refused_with_the_reason(method):
    member = _member()
    _send_campaign()
    delivery = Delivery.objects.get(member=member)
    good = unsubscribe_token(delivery_id=delivery.pk)
    forged = unsubscribe_token(delivery_id=delivery.pk + 1)[:-3] + "abc"
    for token in (good[:-2], forged, "nonsense"):
        path = f"/u/{token}/"
        if method == "get":
            response = Client().get(path, HTTP_ACCEPT_LANGUAGE="en")
        else:
            response = _post(path, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 400
        assert str(ERROR_LINK_INVALID) in response.content.decode()
    assert _state(member) == Consent.State.OPTED_IN


def test_a_link_to_a_delivery_that_never_existed_is_refused():
    response = _post(f"/u/{unsubscribe_token(delivery_id=999_999)}/")
    assert response.status_code == 400


def test_a_second_post_writes_nothing_new():
    member = _member()
    _send_campaign()
    delivery = Delivery.objects.get(member=member)
    path = f"/u/{unsubscribe_token(delivery_id=delivery.pk)}/"
    assert _post(path).status_code == 200
    counts = (Consent.objects.count(), Touchpoint.objects.count(), AuditEvent.objects.count())

    assert _post(path).status_code == 200

    assert (Consent.objects.count(), Touchpoint.objects.count(), AuditEvent.objects.count()) == (
        counts
    )


def test_an_unsubscribed_member_is_not_sent_the_next_campaign(smtp_sink):
    member = _member()
    other = _member()
    _send_campaign()
    # The link of this member's e-mail, as it arrived.
    (mail,) = [m for m in smtp_sink.messages if m.rcpt_tos == [_address(member)]]
    _post(mail.email["List-Unsubscribe"].strip()[1:-1].removeprefix("https://crm.example.com"))
    smtp_sink.clear()

    _send_campaign()

    latest = Delivery.objects.filter(member=member).latest("pk")
    assert (latest.status, latest.reason) == ("suppressed", "unsubscribed")
    assert Delivery.objects.filter(member=other).latest("pk").status == "sent"
    assert len(smtp_sink.messages) == 1


def test_an_opt_in_after_unsubscribing_is_the_members_newer_decision():
    member = _member()
    _send_campaign()
    _post(_path_of(member))
    ConsentFactory(member=member, channel="email")  # they subscribed again on the web shop
    _post(_path_of(member))  # the old link, clicked again, is a new decision
    assert _state(member) == Consent.State.OPTED_OUT
    assert Consent.objects.filter(member=member, source="unsubscribe").count() == 2


def test_a_member_merged_since_the_message_is_unsubscribed_on_the_survivor():
    member = _member()
    _send_campaign()
    path = _path_of(member)
    survivor = _member()
    member_merge(survivor=survivor, merged=member, matched_keys=["email"])
    assert _post(path).status_code == 200
    assert _state(survivor) == Consent.State.OPTED_OUT


def _address(member) -> str:
    return member.identities.get(kind="email").value


def _path_of(member) -> str:
    delivery = Delivery.objects.filter(member=member).latest("pk")
    return f"/u/{unsubscribe_token(delivery_id=delivery.pk)}/"
