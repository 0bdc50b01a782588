"""The send pipeline with the sandbox backend: snapshot, fallback, suppression reasons, send-time
checks, the frequency cap, quiet hours, pause/resume/cancel, retries and a dead worker's batch."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from campaigns.backends.base import SendResult
from campaigns.backends.sandbox import REFUSED_SHARE, SandboxBackend
from campaigns.models import Campaign, Delivery, SendBatch, Suppression
from campaigns.services import (
    CampaignInvalid,
    CampaignStateError,
    campaign_cancel,
    campaign_launch,
    campaign_pause,
    campaign_resume,
    campaign_save,
    campaign_snapshot,
    send_batch_run,
)
from crm.models import Consent, Identity, Segment
from crm.segments.definition import EMPTY_DEFINITION
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory

TAIPEI = ZoneInfo("Asia/Taipei")
LINE = {"messages": [{"type": "text", "text": "{{name}}，週年慶開跑！"}]}
EMAIL = {"subject": "週年慶", "text": "Hi {{name}}", "html": "<p>Hi {{name}}</p>"}
SMS = {"text": "週年慶開跑"}

pytestmark = pytest.mark.django_db


def _segment() -> Segment:
    return Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION)


def _member(*, line=None, email=None, phone=None):
    """A member with the given channels: True = address + opted in, "out" = address + opted
    out, "none" = address without a decision."""
    member = MemberFactory()
    for channel, state, trait in (
        ("line", line, {"line": True}),
        ("email", email, {"email": True}),
        ("sms", phone, {}),
    ):
        if state is None:
            continue
        IdentityFactory(member=member, **trait)
        if state is True:
            ConsentFactory(member=member, channel=channel)
        elif state == "out":
            ConsentFactory(member=member, channel=channel, opted_out=True)
    return member


def _campaign(channels=("line", "email"), **fields) -> Campaign:
    contents = {"line": LINE, "email": EMAIL, "sms": SMS}
    return campaign_save(
        name="週年慶",
        segment=_segment(),
        channels=list(channels),
        contents={channel: contents[channel] for channel in channels},
        **fields,
    )


def _launch(campaign: Campaign, now=None) -> Campaign:
    campaign = campaign_launch(campaign=campaign)
    campaign_snapshot(campaign_id=campaign.pk, now=now)
    campaign.refresh_from_db()
    return campaign


def _send_all(campaign: Campaign, now=None) -> None:
    for batch_id in SendBatch.objects.filter(campaign=campaign).values_list("pk", flat=True):
        send_batch_run(batch_id=batch_id, now=now)


def _outcome(member) -> tuple[str, str, str]:
    delivery = Delivery.objects.filter(member=member).latest("pk")
    return delivery.status, delivery.channel, delivery.reason


def test_fallback_picks_first_reachable_channel_and_explains_the_rest(
    django_capture_on_commit_callbacks,
):
    on_line = _member(line=True, email=True)
    email_only = _member(email=True)
    unsubscribed = _member(line="out", email="none")
    never_asked = _member(phone=True, email="none")
    nothing = MemberFactory()
    blocked = _member(line=True)
    Suppression.objects.create(member=blocked, channel="line", reason="line_blocked")

    campaign = _launch(_campaign())
    _send_all(campaign)

    assert _outcome(on_line) == ("sent", "line", "")
    assert _outcome(email_only) == ("sent", "email", "")
    assert _outcome(unsubscribed) == ("suppressed", "", "unsubscribed")
    assert _outcome(never_asked) == ("suppressed", "", "no_consent")
    assert _outcome(nothing) == ("suppressed", "", "no_channel")
    assert _outcome(blocked) == ("suppressed", "", "line_blocked")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE
    assert campaign.audience_count == 6


def test_one_channel_only_does_not_fall_back():
    email_only = _member(email=True)
    _send_all(_launch(_campaign(channels=["line"])))
    assert _outcome(email_only) == ("suppressed", "", "no_channel")


def test_a_launched_audience_is_a_snapshot_and_a_rerun_adds_nobody():
    first = _member(line=True)
    campaign = _launch(_campaign())
    _member(line=True)  # joins after the launch
    assert campaign_snapshot(campaign_id=campaign.pk) is False  # a redelivered task
    assert list(Delivery.objects.values_list("member_id", flat=True)) == [first.pk]


def test_opt_out_after_launch_is_respected_at_send_time():
    member = _member(line=True, email=True)
    campaign = _launch(_campaign(channels=["email"]))
    Consent.objects.create(member=member, channel="email", state=Consent.State.OPTED_OUT)
    _send_all(campaign)
    assert _outcome(member) == ("suppressed", "email", "unsubscribed")


def test_line_block_after_launch_is_respected_at_send_time():
    member = _member(line=True)
    campaign = _launch(_campaign(channels=["line"]))
    Suppression.objects.create(member=member, channel="line", reason="line_blocked")
    _send_all(campaign)
    assert _outcome(member) == ("suppressed", "line", "line_blocked")


def test_bounce_after_launch_is_respected_at_send_time():
    member = _member(email=True)
    campaign = _launch(_campaign(channels=["email"]))
    Suppression.objects.create(member=member, channel="email", reason="bounced")
    _send_all(campaign)
    assert _outcome(member) == ("suppressed", "email", "bounced")


def _sent_before(member, campaigns: int, *, is_marketing=True):
    for number in range(campaigns):
        old = Campaign.objects.create(name=f"old {number}", status=Campaign.Status.DONE)
        Delivery.objects.create(
            campaign=old,
            member=member,
            channel="line",
            status=Delivery.Status.SENT,
            sent_at=timezone.now() - timedelta(days=1),
            is_marketing=is_marketing,
        )


def test_frequency_cap_counts_marketing_messages_across_campaigns(settings):
    settings.CAMPAIGN_FREQUENCY_CAP_MESSAGES = 3
    settings.CAMPAIGN_FREQUENCY_CAP_DAYS = 7
    capped = _member(line=True)
    _sent_before(capped, 3)
    under = _member(line=True)
    _sent_before(under, 2)
    service_only = _member(line=True)
    _sent_before(service_only, 5, is_marketing=False)

    _send_all(_launch(_campaign(channels=["line"])))

    assert _outcome(capped) == ("suppressed", "line", "frequency_cap")
    assert _outcome(under)[0] == "sent"
    assert _outcome(service_only)[0] == "sent"


def test_frequency_cap_does_not_hold_back_a_service_message(settings):
    member = _member(line=True)
    _sent_before(member, 5)
    _send_all(_launch(_campaign(channels=["line"], is_marketing=False)))
    assert _outcome(member)[0] == "sent"


def test_campaign_override_of_the_cap(settings):
    member = _member(line=True)
    _sent_before(member, 3)
    _send_all(_launch(_campaign(channels=["line"], frequency_cap=(5, 7))))
    assert _outcome(member)[0] == "sent"


def test_sms_in_quiet_hours_waits_until_they_end_and_is_not_dropped(settings):
    settings.CAMPAIGN_QUIET_HOURS = {"sms": "21:00-09:00,12:30-13:30", "email": ""}
    member = _member(phone=True)
    night = datetime(2026, 12, 2, 22, 30, tzinfo=TAIPEI)
    campaign = _launch(_campaign(channels=["sms"]), now=night)
    batch = SendBatch.objects.get(campaign=campaign)
    assert batch.not_before == datetime(2026, 12, 3, 9, 0, tzinfo=TAIPEI)

    assert send_batch_run(batch_id=batch.pk, now=night).detail == "not due"
    assert _outcome(member)[0] == "pending"

    lunch = datetime(2026, 12, 3, 12, 45, tzinfo=TAIPEI)
    SendBatch.objects.filter(pk=batch.pk).update(not_before=lunch - timedelta(hours=1))
    outcome = send_batch_run(batch_id=batch.pk, now=lunch)
    assert outcome.state == "requeued"
    batch.refresh_from_db()
    assert batch.not_before == datetime(2026, 12, 3, 13, 30, tzinfo=TAIPEI)
    assert _outcome(member)[0] == "pending"

    morning = datetime(2026, 12, 3, 13, 31, tzinfo=TAIPEI)
    assert send_batch_run(batch_id=batch.pk, now=morning).state == "done"
    assert _outcome(member)[0] == "sent"


def test_email_has_no_quiet_hours_by_default(settings):
    settings.CAMPAIGN_QUIET_HOURS = {"sms": "21:00-09:00", "email": ""}
    member = _member(email=True)
    night = datetime(2026, 12, 2, 23, 0, tzinfo=TAIPEI)
    _send_all(_launch(_campaign(channels=["email"]), now=night), now=night)
    assert _outcome(member)[0] == "sent"


def test_pause_keeps_batches_queued_and_resume_sends_them(django_capture_on_commit_callbacks):
    member = _member(line=True)
    campaign = _launch(_campaign(channels=["line"]))
    campaign_pause(campaign=campaign)
    _send_all(campaign)
    assert _outcome(member)[0] == "pending"
    with django_capture_on_commit_callbacks():
        campaign_resume(campaign=campaign)
    _send_all(campaign)
    assert _outcome(member)[0] == "sent"
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE


class PausesAfterFirstCall(SandboxBackend):
    """One message a call; the marketer presses pause while the first call is in progress."""

    channel = "email"
    max_batch_size = 1
    calls = 0

    def send_batch(self, messages, *, retry_key):
        PausesAfterFirstCall.calls += 1
        if PausesAfterFirstCall.calls == 1:
            campaign_pause(campaign=Campaign.objects.get())
        return super().send_batch(messages, retry_key=retry_key)


def test_pause_while_sending_stops_the_batch_between_calls(settings, monkeypatch):
    monkeypatch.setattr("campaigns.services.sending.CHECK_INTERVAL_SECONDS", 0)
    settings.CAMPAIGN_BACKENDS = {
        **settings.CAMPAIGN_BACKENDS,
        "email": f"{__name__}.PausesAfterFirstCall",
    }
    PausesAfterFirstCall.calls = 0
    members = [_member(email=True) for _ in range(3)]
    campaign = _launch(_campaign(channels=["email"]))
    batch = SendBatch.objects.get(campaign=campaign)

    assert send_batch_run(batch_id=batch.pk).state == "requeued"

    assert PausesAfterFirstCall.calls == 1
    assert [_outcome(m)[0] for m in members] == ["sent", "pending", "pending"]
    batch.refresh_from_db()
    assert batch.status == SendBatch.Status.QUEUED


def test_resume_of_a_campaign_paused_before_its_audience_was_ready_prepares_it(
    django_capture_on_commit_callbacks, eager_celery
):
    member = _member(line=True)
    with django_capture_on_commit_callbacks():  # the snapshot task is dropped: pause came first
        campaign = campaign_launch(campaign=_campaign(channels=["line"]))
    campaign = campaign_pause(campaign=campaign)
    assert not campaign.batches.exists()

    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaign_resume(campaign=campaign)

    assert campaign.status == Campaign.Status.LAUNCHING  # one write, straight to preparing
    campaign.refresh_from_db()
    assert _outcome(member)[0] == "sent"
    assert campaign.status == Campaign.Status.DONE


def test_cancel_suppresses_what_is_still_waiting():
    member = _member(line=True)
    campaign = _launch(_campaign(channels=["line"]))
    campaign_cancel(campaign=campaign)
    _send_all(campaign)
    assert _outcome(member) == ("suppressed", "line", "cancelled")
    with pytest.raises(CampaignStateError):
        campaign_resume(campaign=campaign)


def test_launch_twice_is_refused():
    campaign = _campaign()
    campaign_launch(campaign=campaign)
    with pytest.raises(CampaignStateError):
        campaign_launch(campaign=campaign)


def test_content_a_provider_would_refuse_is_refused_before_launch():
    with pytest.raises(CampaignInvalid) as refused:
        campaign_save(
            name="x",
            segment=_segment(),
            channels=["sms", "email"],
            contents={"sms": {"text": "Hi {{nickname}} http://shop.example.com"}, "email": {}},
        )
    errors = refused.value.errors
    assert "content.sms.text" in errors
    assert any("nickname" in message for message in errors["content.sms.text"])
    assert any("https://" in message for message in errors["content.sms.text"])
    assert "content.email.text" in errors


def test_scheduled_campaign_waits_for_the_sweep():
    from campaigns.services import campaigns_sweep

    _member(line=True)
    campaign = _campaign(channels=["line"], send_at=timezone.now() + timedelta(hours=1))
    campaign = campaign_launch(campaign=campaign)
    assert campaign.status == Campaign.Status.SCHEDULED
    assert campaigns_sweep()["launched"] == 0
    assert campaigns_sweep(now=timezone.now() + timedelta(hours=2))["launched"] == 1
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.LAUNCHING


class OneByOne(SandboxBackend):
    """The sandbox as a provider without idempotency keys (SMTP, Twilio) would be used."""

    channel = "email"
    max_batch_size = 1
    idempotent = False
    calls: list = []

    def send_batch(self, messages, *, retry_key):
        OneByOne.calls.append([m.key for m in messages])
        return super().send_batch(messages, retry_key=retry_key)


class Busy(SandboxBackend):
    channel = "line"
    answers: list = []

    def send_batch(self, messages, *, retry_key):
        if Busy.answers:
            return [Busy.answers.pop(0)] * len(messages)
        return super().send_batch(messages, retry_key=retry_key)


def test_a_dead_workers_message_in_flight_is_not_sent_twice_without_idempotency(settings):
    settings.CAMPAIGN_BACKENDS = {**settings.CAMPAIGN_BACKENDS, "email": f"{__name__}.OneByOne"}
    members = [_member(email=True) for _ in range(3)]
    campaign = _launch(_campaign(channels=["email"]))
    batch = SendBatch.objects.get(campaign=campaign)
    # Given a worker that claimed the batch, marked the first message in flight and died:
    first = Delivery.objects.get(member=members[0])
    SendBatch.objects.filter(pk=batch.pk).update(
        status=SendBatch.Status.RUNNING,
        worker="dead",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    Delivery.objects.filter(pk=first.pk).update(status=Delivery.Status.SENDING)
    OneByOne.calls = []

    assert send_batch_run(batch_id=batch.pk).state == "done"

    assert _outcome(members[0]) == ("failed", "email", "outcome_unknown")
    assert [_outcome(m)[0] for m in members[1:]] == ["sent", "sent"]
    assert f"d{first.pk}" not in [key for call in OneByOne.calls for key in call]


def test_a_dead_workers_call_is_repeated_with_the_same_key_when_the_provider_dedupes(settings):
    members = [_member(line=True) for _ in range(2)]
    campaign = _launch(_campaign(channels=["line"]))
    batch = SendBatch.objects.get(campaign=campaign)
    SendBatch.objects.filter(pk=batch.pk).update(
        status=SendBatch.Status.RUNNING,
        worker="dead",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    Delivery.objects.filter(campaign=campaign).update(status=Delivery.Status.SENDING)
    assert send_batch_run(batch_id=batch.pk).state == "done"
    assert [_outcome(m)[0] for m in members] == ["sent", "sent"]


def test_a_dead_workers_call_is_repeated_at_once_even_in_quiet_hours(settings):
    # The provider remembers the key only so long (Mitake: 12 hours); the rest waits.
    settings.CAMPAIGN_QUIET_HOURS = {**settings.CAMPAIGN_QUIET_HOURS, "line": "00:00-23:59"}
    members = [_member(line=True) for _ in range(2)]
    campaign = _launch(_campaign(channels=["line"]))
    batch = SendBatch.objects.get(campaign=campaign)
    SendBatch.objects.filter(pk=batch.pk).update(
        status=SendBatch.Status.RUNNING,
        worker="dead",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    Delivery.objects.filter(member=members[0]).update(status=Delivery.Status.SENDING)

    assert send_batch_run(batch_id=batch.pk).state == "requeued"

    assert [_outcome(m)[0] for m in members] == ["sent", "pending"]


def test_a_live_lease_is_not_taken_over():
    _member(line=True)
    campaign = _launch(_campaign(channels=["line"]))
    batch = SendBatch.objects.get(campaign=campaign)
    SendBatch.objects.filter(pk=batch.pk).update(
        status=SendBatch.Status.RUNNING,
        worker="alive",
        lease_expires_at=timezone.now() + timedelta(seconds=60),
    )
    assert send_batch_run(batch_id=batch.pk).detail == "taken"


def test_retryable_failures_back_off_then_fail_with_the_providers_words(settings):
    settings.CAMPAIGN_BACKENDS = {**settings.CAMPAIGN_BACKENDS, "line": f"{__name__}.Busy"}
    settings.CAMPAIGN_MAX_PROVIDER_ATTEMPTS = 2
    member = _member(line=True)
    campaign = _launch(_campaign(channels=["line"]))
    batch = SendBatch.objects.get(campaign=campaign)
    Busy.answers = [
        SendResult.failed("429 Too Many Requests", retryable=True, retry_after=7),
        SendResult.failed("503 Service Unavailable", retryable=True),
    ]
    now = timezone.now()
    outcome = send_batch_run(batch_id=batch.pk, now=now)
    assert outcome.state == "requeued"
    batch.refresh_from_db()
    assert batch.not_before == now + timedelta(seconds=7)  # Retry-After honoured
    assert _outcome(member)[0] == "pending"

    later = now + timedelta(seconds=8)
    assert send_batch_run(batch_id=batch.pk, now=later).state == "done"
    delivery = Delivery.objects.get(member=member)
    assert (delivery.status, delivery.reason) == ("failed", "provider_error")
    assert "503" in delivery.error


def test_a_refusal_that_cannot_succeed_is_not_retried(settings):
    settings.CAMPAIGN_BACKENDS = {**settings.CAMPAIGN_BACKENDS, "line": f"{__name__}.Busy"}
    member = _member(line=True)
    campaign = _launch(_campaign(channels=["line"]))
    Busy.answers = [SendResult.failed("400 invalid user", reason="address_invalid")]
    _send_all(campaign)
    assert _outcome(member) == ("failed", "line", "address_invalid")


def test_personalisation_fills_each_members_values(tmp_path):
    import json

    member = _member(line=True)
    _send_all(_launch(_campaign(channels=["line"])))
    (written,) = (tmp_path / "sandbox").glob("line-*.jsonl")
    record = json.loads(written.read_text().splitlines()[0])
    assert record["content"]["messages"][0]["text"] == f"{member.name}，週年慶開跑！"


def test_whole_pipeline_runs_from_launch_through_celery(
    eager_celery, django_capture_on_commit_callbacks
):
    members = [_member(line=True) for _ in range(3)] + [_member(email=True)]
    with django_capture_on_commit_callbacks(execute=True):
        campaign = campaign_launch(campaign=_campaign())
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE
    assert Delivery.objects.filter(status="sent").count() == len(members)


def test_batches_hold_at_most_the_batch_size(settings):
    settings.CAMPAIGN_BATCH_SIZE = 2
    for _ in range(5):
        _member(line=True)
    campaign = _launch(_campaign(channels=["line"]))
    sizes = list(
        SendBatch.objects.filter(campaign=campaign).order_by("seq").values_list("size", flat=True)
    )
    assert sizes == [2, 2, 1]
    per_batch = Delivery.objects.values("batch").distinct().count()
    assert per_batch == 3
    _send_all(campaign)
    assert Delivery.objects.filter(status="sent").count() == 5


def test_each_delivery_is_in_a_batch_of_its_own_channel_in_member_order(settings):
    from django.db.models import Count

    settings.CAMPAIGN_BATCH_SIZE = 2
    line = [_member(line=True) for _ in range(3)]
    email = [_member(email=True) for _ in range(3)]
    nowhere = _member()
    campaign = _launch(_campaign(channels=["line", "email"]))

    rows = Delivery.objects.filter(campaign=campaign).select_related("batch")
    placed = {d.member_id: (d.channel, d.batch and (d.batch.channel, d.batch.seq)) for d in rows}
    assert [placed[m.pk] for m in line] == [
        ("line", ("line", 0)),
        ("line", ("line", 0)),
        ("line", ("line", 1)),
    ]
    assert [placed[m.pk] for m in email] == [
        ("email", ("email", 0)),
        ("email", ("email", 0)),
        ("email", ("email", 1)),
    ]
    assert placed[nowhere.pk] == ("", None)
    sizes = SendBatch.objects.filter(campaign=campaign).annotate(n=Count("deliveries"))
    assert all(batch.size == batch.n for batch in sizes)


def test_an_address_the_sandbox_refuses_is_suppressed_as_a_bounce_once(
    monkeypatch, eager_celery, django_capture_on_commit_callbacks
):
    monkeypatch.setitem(REFUSED_SHARE, "email", 1.0)  # every address bounces
    member = _member(email=True)
    campaign = _launch(_campaign(channels=["email"]))
    with django_capture_on_commit_callbacks(execute=True):  # the simulated events run too
        _send_all(campaign)

    assert _outcome(member) == ("failed", "email", "address_invalid")
    (bounce,) = Suppression.objects.filter(member=member)
    assert (bounce.channel, bounce.reason, bounce.lifted_at) == ("email", "bounced", None)


def test_sms_skips_landlines():
    member = MemberFactory()
    Identity.objects.create(member=member, kind="phone", value="+88622345678")
    ConsentFactory(member=member, channel="sms")
    _send_all(_launch(_campaign(channels=["sms"])))
    assert (
        _outcome(member) == ("suppressed", "", "no_consent") or _outcome(member)[2] == "no_channel"
    )
