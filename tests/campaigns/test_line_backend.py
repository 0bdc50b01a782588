"""LineBackend (line-bot-sdk v3) against the local LINE Messaging API: what arrives, byte for
byte where it matters; multicast chunking; 409 / 429 / monthly limit / 400; the pipeline end to
end on the real backend."""

import json
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from campaigns.backends.base import OutboundMessage
from campaigns.backends.line import LineBackend, line_retry_key
from campaigns.models import Campaign, Delivery, SendBatch
from campaigns.services import campaign_launch, campaign_save, send_batch_run
from campaigns.services.suppressions import suppression_record
from crm.models import Identity, Segment
from crm.segments.definition import EMPTY_DEFINITION
from tests.campaigns.helpers import launched_to_everyone
from tests.campaigns.servers.line import MONTHLY_LIMIT, MULTICAST, PUSH, LineServer, LineState
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory

SAME = {"messages": [{"type": "text", "text": "週年慶開跑！"}]}
BATCH_KEY = "0b4c4f36-3a59-4b1e-9a57-8a3d0d7b2f11"


def _messages(count: int, content=SAME, prefix="U") -> list[OutboundMessage]:
    return [
        OutboundMessage(
            key=f"d{i}",
            channel="line",
            address=f"{prefix}{i:032x}",
            content=content,
            delivery_id=i,
        )
        for i in range(1, count + 1)
    ]


def _send(messages, key=BATCH_KEY):
    with LineBackend() as backend:
        return backend.send_batch(messages, retry_key=key)


def test_identical_content_goes_as_one_multicast_with_auth_and_retry_key(line_server):
    results = _send(_messages(3))

    [request] = line_server.state.sends()
    assert request.method == "POST" and request.path == MULTICAST
    assert request.headers["authorization"] == "Bearer test-line-token"
    assert request.headers["content-type"].startswith("application/json")
    expected_key = str(uuid.uuid5(uuid.UUID(BATCH_KEY), "d1,d2,d3"))
    assert request.headers["x-line-retry-key"] == expected_key
    body = request.json()
    assert body["to"] == [f"U{i:032x}" for i in (1, 2, 3)]
    assert body["messages"] == [{"type": "text", "text": "週年慶開跑！"}]
    assert all(result.ok for result in results)
    assert len({result.provider_id for result in results}) == 1 and results[0].provider_id
    assert line_server.state.count_by_user() == {f"U{i:032x}": 1 for i in (1, 2, 3)}


def test_multicast_is_chunked_at_500_recipients(line_server):
    results = _send(_messages(1201))
    sizes = [len(request.json()["to"]) for request in line_server.state.sends()]
    assert sizes == [500, 500, 201]
    keys = {request.headers["x-line-retry-key"] for request in line_server.state.sends()}
    assert len(keys) == 3
    assert all(result.ok for result in results)
    assert len(line_server.state.delivered) == 1201


def test_personalised_content_goes_as_one_push_each(line_server):
    messages = [
        OutboundMessage(
            key=f"d{i}",
            channel="line",
            address=f"U{i:032x}",
            content={"messages": [{"type": "text", "text": f"王小明{i}，生日快樂"}]},
            delivery_id=i,
        )
        for i in (1, 2)
    ]
    results = _send(messages)
    sends = line_server.state.sends()
    assert [request.path for request in sends] == [PUSH, PUSH]
    assert sends[0].json() == {
        "to": f"U{1:032x}",
        "messages": [{"type": "text", "text": "王小明1，生日快樂"}],
        "notificationDisabled": False,
    }
    assert sends[0].headers["x-line-retry-key"] == line_retry_key(BATCH_KEY, ["d1"])
    assert all(result.ok for result in results)


def test_each_request_carries_its_messages_aggregation_unit_and_never_mixes_two(line_server):
    messages = [
        replace(message, aggregation_unit="c7_A" if message.delivery_id <= 3 else "c7_B")
        for message in _messages(5)
    ]
    personal = OutboundMessage(
        key="d9",
        channel="line",
        address=f"U{9:032x}",
        content={"messages": [{"type": "text", "text": "王小明，生日快樂"}]},
        delivery_id=9,
        aggregation_unit="c7_B",
    )
    results = _send([*messages, personal])

    sends = line_server.state.sends()
    assert [
        (r.path, r.json()["customAggregationUnits"], len(r.json()["to"])) for r in sends[:2]
    ] == [
        (MULTICAST, ["c7_A"], 3),
        (MULTICAST, ["c7_B"], 2),
    ]
    assert (sends[2].path, sends[2].json()["customAggregationUnits"]) == (PUSH, ["c7_B"])
    # The retry key is the batch's and the messages' keys, as before units.
    assert sends[0].headers["x-line-retry-key"] == line_retry_key(BATCH_KEY, ["d1", "d2", "d3"])
    assert sends[1].headers["x-line-retry-key"] == line_retry_key(BATCH_KEY, ["d4", "d5"])
    assert all(result.ok for result in results)
    assert line_server.state.unit_recipients("c7_A") == 3
    assert line_server.state.unit_recipients("c7_B") == 3


def test_a_message_without_a_unit_carries_none(line_server):
    _send(_messages(2))
    assert "customAggregationUnits" not in line_server.state.sends()[0].json()


def test_the_local_line_refuses_a_bad_unit_name(line_server):
    [result] = _send([replace(_messages(1)[0], aggregation_unit="c7-A")])
    assert not result.ok and not result.retryable
    assert "customAggregationUnits" in result.error


@pytest.mark.django_db
def test_the_pipeline_sends_a_campaigns_line_messages_under_its_variants_unit(line_server):
    for _ in range(3):
        member = MemberFactory()
        IdentityFactory(member=member, line=True)
        ConsentFactory(member=member, channel="line")
    campaign = launched_to_everyone(channel="line", content=SAME)
    for batch_id in SendBatch.objects.filter(campaign=campaign).values_list("pk", flat=True):
        send_batch_run(batch_id=batch_id)
    [request] = line_server.state.sends()
    assert request.json()["customAggregationUnits"] == [f"c{campaign.pk}_A"]


def test_a_repeated_call_gets_409_counts_as_sent_and_is_not_delivered_twice(line_server):
    first = _send(_messages(2))
    again = _send(_messages(2))
    assert [r.status for r in again] == ["sent", "sent"]
    assert again[0].provider_id == first[0].provider_id  # x-line-accepted-request-id
    assert [request.status for request in line_server.state.sends()] == [200, 409]
    assert line_server.state.count_by_user() == {f"U{i:032x}": 1 for i in (1, 2)}


def test_rate_limit_429_is_retryable_with_retry_after(line_server):
    line_server.state.fail_next(429, retry_after=7)
    [result, _] = _send(_messages(2))
    assert not result.ok and result.retryable and result.retry_after == 7
    assert "rate limit" in result.error


def test_monthly_limit_is_not_retried(line_server):
    line_server.state.quota_limit = 1
    results = _send(_messages(2))
    assert not results[0].ok and not results[0].retryable
    assert results[0].reason == "provider_rejected" and MONTHLY_LIMIT in results[0].error


def test_bad_request_is_not_retried_and_keeps_the_providers_words(line_server):
    results = _send(_messages(2, content={"messages": [{"type": "text", "text": "x" * 5001}]}))
    assert not results[0].ok and not results[0].retryable
    assert results[0].reason == "provider_rejected"
    assert "messages[0].text" in results[0].error


def test_content_the_sdk_refuses_fails_without_a_call(line_server):
    broken = {"messages": [{"type": "flex", "altText": "a", "contents": {"type": "bubbl"}}]}
    results = _send(_messages(2, content=broken)) + _send(_messages(1, content=broken))
    assert all(not r.ok and not r.retryable and r.reason == "provider_rejected" for r in results)
    assert "invalid" in results[0].error
    assert line_server.state.sends() == []


def test_server_errors_and_an_unreachable_api_are_retryable(line_server, settings):
    line_server.state.fail_next(500)
    [result] = _send(_messages(1))
    assert not result.ok and result.retryable
    with LineServer() as gone:
        settings.LINE_API_BASE_URL = gone.url
    [result] = _send(_messages(1))
    assert not result.ok and result.retryable


def test_a_wrong_token_is_refused(line_server, settings):
    settings.LINE_CHANNEL_ACCESS_TOKEN = "wrong"
    [result] = _send(_messages(1))
    assert not result.ok and not result.retryable and "401" in result.error
    assert line_server.state.delivered == []


# -- the pipeline with the real backend --------------------------------------------------------


def _line_campaign(members: int, content=SAME):
    for _ in range(members):
        member = MemberFactory()
        IdentityFactory(member=member, line=True)
        ConsentFactory(member=member, channel="line")
    return launched_to_everyone(channel="line", content=content, name="LINE 週年慶")


@pytest.mark.django_db
def test_pipeline_retries_a_429_after_retry_after_and_sends_each_once(line_server, settings):
    settings.CAMPAIGN_BATCH_SIZE = 500
    campaign = _line_campaign(3)
    line_server.state.fail_next(429, retry_after=12)
    [batch] = SendBatch.objects.filter(campaign=campaign)

    send_batch_run(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == SendBatch.Status.QUEUED and batch.provider_attempts == 1
    wait = (batch.not_before - timezone.now()).total_seconds()
    assert 9 < wait <= 12  # the provider's Retry-After, not the pipeline's 30 s backoff
    assert set(Delivery.objects.values_list("status", flat=True)) == {"pending"}

    send_batch_run(batch_id=batch.pk, now=timezone.now() + timedelta(seconds=13))
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    addresses = set(Identity.objects.filter(kind="line_user_id").values_list("value", flat=True))
    assert line_server.state.count_by_user() == dict.fromkeys(addresses, 1)
    sends = line_server.state.sends()
    assert [r.status for r in sends] == [429, 200]
    # The retry carries the same X-Line-Retry-Key: had the 429 been a lost 200, LINE says 409.
    assert sends[0].headers["x-line-retry-key"] == sends[1].headers["x-line-retry-key"]
    request_id = sends[1].status and Delivery.objects.values_list("provider_id", flat=True)[0]
    assert request_id


@pytest.mark.django_db
def test_pipeline_does_not_retry_the_monthly_limit(line_server):
    campaign = _line_campaign(2)
    line_server.state.quota_limit = 1
    [batch] = SendBatch.objects.filter(campaign=campaign)
    send_batch_run(batch_id=batch.pk)
    assert list(Delivery.objects.values_list("status", "reason").distinct()) == [
        ("failed", "provider_rejected")
    ]
    assert len(line_server.state.sends()) == 1


@pytest.mark.django_db
def test_pipeline_does_not_retry_a_bad_request(line_server):
    bad = {"messages": [{"type": "text", "text": "x"}]}
    campaign = _line_campaign(1, content=bad)
    line_server.state.fail_next(400, body={"message": "The request body has 1 error(s)"})
    [batch] = SendBatch.objects.filter(campaign=campaign)
    send_batch_run(batch_id=batch.pk)
    assert Delivery.objects.get().status == "failed"
    assert Delivery.objects.get().reason == "provider_rejected"
    assert len(line_server.state.sends()) == 1


@pytest.mark.django_db
def test_a_dead_workers_multicast_is_repeated_with_the_same_key_and_counts_as_sent(line_server):
    campaign = _line_campaign(3)
    [batch] = SendBatch.objects.filter(campaign=campaign)
    send_batch_run(batch_id=batch.pk)
    # As if the worker died after LINE accepted the call, before the results were written.
    Delivery.objects.update(status=Delivery.Status.SENDING, provider_id="")
    SendBatch.objects.filter(pk=batch.pk).update(
        status=SendBatch.Status.RUNNING,
        worker="dead",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    assert send_batch_run(batch_id=batch.pk).state == "done"
    assert [r.status for r in line_server.state.sends()] == [200, 409]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    assert all(Delivery.objects.values_list("provider_id", flat=True))
    assert max(line_server.state.count_by_user().values()) == 1


@pytest.mark.django_db
def test_personalised_campaign_pushes_each_members_text(line_server):
    campaign = _line_campaign(2, content={"messages": [{"type": "text", "text": "{{name}} 您好"}]})
    [batch] = SendBatch.objects.filter(campaign=campaign)
    send_batch_run(batch_id=batch.pk)
    sends = line_server.state.sends()
    assert {r.path for r in sends} == {PUSH} and len(sends) == 2
    assert len({json.dumps(r.json()["messages"]) for r in sends}) == 2


def test_the_server_keeps_state_reusable():
    state = LineState(token="t")
    status, headers, body = state.handle(
        "POST",
        PUSH,
        {"authorization": "Bearer t"},
        json.dumps({"to": "U1", "messages": [{"type": "text", "text": "hi"}]}).encode(),
    )
    assert status == 200 and headers["x-line-request-id"] and json.loads(body)["sentMessages"]


@pytest.mark.django_db
def test_whole_campaign_through_celery_reaches_line_once_each(
    line_server, settings, eager_celery, django_capture_on_commit_callbacks
):
    settings.CAMPAIGN_BATCH_SIZE = 4
    for _ in range(10):
        member = MemberFactory()
        IdentityFactory(member=member, line=True)
        ConsentFactory(member=member, channel="line")
    blocked = Identity.objects.filter(kind="line_user_id").first()
    suppression_record(
        member_ids=[blocked.member_id], channel="line", reason="line_blocked", source="test"
    )
    line_server.state.fail_next(500)  # one batch's first call fails: retried, same key
    settings.CAMPAIGN_RETRY_BACKOFF_SECONDS = 0
    campaign = campaign_save(
        name="LINE",
        segment=Segment.objects.create(name="All", definition=EMPTY_DEFINITION),
        channels=["line"],
        contents={"line": SAME},
    )
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaign_launch(campaign=campaign)
    for batch_id in SendBatch.objects.filter(status="queued").values_list("pk", flat=True):
        send_batch_run(batch_id=batch_id)  # the retried batch (the sweep's job in production)
    campaign.refresh_from_db()
    counts = dict(Delivery.objects.values_list("status").annotate(n=Count("pk")))
    assert counts == {"sent": 9, "suppressed": 1}
    sent_to = set(
        Identity.objects.filter(kind="line_user_id")
        .exclude(pk=blocked.pk)
        .values_list("value", flat=True)
    )
    assert line_server.state.count_by_user() == dict.fromkeys(sent_to, 1)
    sends = line_server.state.sends()
    [failed] = [r for r in sends if r.status == 500]
    retried = [
        r for r in sends if r.headers["x-line-retry-key"] == failed.headers["x-line-retry-key"]
    ]
    assert [r.status for r in retried] == [500, 200]
    # Batches of 4, 4 and 1: two multicasts and a push (one member, nobody to share with).
    accepted = sorted((r.path, len(r.json()["to"])) for r in sends if r.status == 200)
    assert accepted == [(MULTICAST, 4), (MULTICAST, 4), (PUSH, 33)]
