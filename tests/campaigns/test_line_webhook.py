"""/hooks/line/: signature (the SDK's parser), replays, follow / unfollow effects, unknown users."""

import base64
import hashlib
import hmac
import json

import pytest

from campaigns.models import Suppression, WebhookEvent
from crm.models import Consent, Identity, Member, Touchpoint
from tests.campaigns.servers.fixtures import LINE_TEST_SECRET
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory

pytestmark = pytest.mark.django_db
URL = "/hooks/line/"
NEW_USER = "U" + "a" * 32


def _event(kind: str, user: str, event_id: str, *, unblocked=False, at=1_765_000_000_000):
    event = {
        "type": kind,
        "mode": "active",
        "timestamp": at,
        "source": {"type": "user", "userId": user},
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": False},
    }
    if kind == "follow":
        event["replyToken"] = "r" + event_id
        event["follow"] = {"isUnblocked": unblocked}
    return event


def _post(client, events, *, secret=LINE_TEST_SECRET, signature=None):
    body = json.dumps({"destination": "Uxxxxxxxx", "events": events}).encode()
    if signature is None:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        signature = base64.b64encode(digest).decode()
    headers = {"HTTP_X_LINE_SIGNATURE": signature} if signature else {}
    return client.post(URL, data=body, content_type="application/json", **headers)


@pytest.fixture
def line_secret(settings):
    settings.LINE_CHANNEL_SECRET = LINE_TEST_SECRET


def _line_member(*, consent=True):
    member = MemberFactory()
    identity = IdentityFactory(member=member, line=True)
    if consent:
        ConsentFactory(member=member, channel="line")
    return member, identity.value


def test_a_forged_or_missing_signature_is_refused(client, line_secret):
    _member, user = _line_member()
    forged = _post(client, [_event("unfollow", user, "E1")], secret="not-the-secret")
    assert forged.status_code == 400 and "signature" in forged.json()["error"]
    missing = _post(client, [_event("unfollow", user, "E1")], signature="")
    assert missing.status_code == 400
    assert not Suppression.objects.exists() and not WebhookEvent.objects.exists()


def test_no_secret_configured_is_503(client, settings):
    settings.LINE_CHANNEL_SECRET = ""
    assert _post(client, [], secret="x").status_code == 503


def test_only_post(client, line_secret):
    assert client.get(URL).status_code == 405


def test_unfollow_suppresses_and_records_a_touchpoint(client, line_secret):
    member, user = _line_member()
    response = _post(client, [_event("unfollow", user, "E1")])
    assert response.status_code == 200
    suppression = Suppression.objects.get(member=member)
    assert (suppression.channel, suppression.reason, suppression.source) == (
        "line",
        "line_blocked",
        "line_webhook",
    )
    assert suppression.lifted_at is None
    [touchpoint] = Touchpoint.objects.filter(member=member)
    assert (touchpoint.channel, touchpoint.kind) == ("line", "line_block")


def test_follow_again_lifts_the_block_and_keeps_an_existing_decision(client, line_secret):
    member, user = _line_member(consent=False)
    ConsentFactory(member=member, channel="line", opted_out=True)
    _post(client, [_event("unfollow", user, "E1")])
    _post(client, [_event("follow", user, "E2", unblocked=True, at=1_765_000_100_000)])
    assert Suppression.objects.get(member=member).lifted_at is not None
    follow = Touchpoint.objects.get(member=member, kind="line_follow")
    assert follow.properties["is_unblocked"] is True
    # An opt-out stands: following is not consent over an explicit no.
    assert Consent.objects.filter(member=member).current().get().state == "opted_out"


def test_follow_opts_in_a_member_without_a_line_decision(client, line_secret):
    member, user = _line_member(consent=False)
    _post(client, [_event("follow", user, "E1")])
    consent = Consent.objects.filter(member=member, channel="line").get()
    assert (consent.state, consent.source) == ("opted_in", "line_webhook")


def test_a_replay_is_ignored(client, line_secret):
    member, user = _line_member()
    events = [_event("unfollow", user, "E1")]
    assert _post(client, events).status_code == 200
    Suppression.objects.update(lifted_at="2026-01-01T00:00:00Z")  # lifted by hand since
    replay = _post(client, events)
    assert replay.status_code == 200 and replay.json()["replays"] == 1
    assert Touchpoint.objects.filter(member=member).count() == 1
    assert Suppression.objects.filter(member=member).count() == 1
    assert WebhookEvent.objects.filter(provider="line").count() == 1


def test_a_follow_from_an_unknown_user_creates_a_member(client, line_secret):
    before = Member.objects.count()
    response = _post(client, [_event("follow", NEW_USER, "E1")])
    assert response.status_code == 200
    assert Member.objects.count() == before + 1
    identity = Identity.objects.get(kind="line_user_id", value=NEW_USER)
    assert Touchpoint.objects.filter(member=identity.member, kind="line_follow").exists()
    assert Consent.objects.filter(member=identity.member, channel="line").current().get().state == (
        "opted_in"
    )


def test_an_unfollow_from_an_unknown_user_writes_nothing_but_the_event(client, line_secret):
    before = Member.objects.count()
    assert _post(client, [_event("unfollow", NEW_USER, "E1")]).status_code == 200
    assert Member.objects.count() == before and not Suppression.objects.exists()


def test_many_events_in_one_request_latest_state_wins(
    client, line_secret, django_assert_max_num_queries
):
    members = [_line_member() for _ in range(5)]
    events = [_event("unfollow", user, f"U{i}") for i, (_, user) in enumerate(members)]
    events.append(_event("follow", members[0][1], "F0", at=1_765_000_500_000))
    events.append(_event("message", members[1][1], "M1"))  # not ours: ignored
    with django_assert_max_num_queries(40):
        response = _post(client, events)
    assert response.status_code == 200 and response.json()["received"] == 7
    blocked = set(
        Suppression.objects.filter(lifted_at__isnull=True).values_list("member_id", flat=True)
    )
    assert blocked == {member.pk for member, _ in members[1:]}
    assert Touchpoint.objects.count() == 6
