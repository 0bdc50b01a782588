"""What a message made members do: an unsubscribe or a LINE block is put down to the campaign of
the member's latest message on that channel within 3 days; and opens and clicks on the member's
360° timeline."""

import json
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone, translation

from campaigns.models import CampaignFigures, Delivery, SendBatch
from campaigns.services import campaign_launch, campaign_save, campaign_snapshot, send_batch_run
from campaigns.services.line_events import line_events_process
from campaigns.tracking import tracking_code
from campaigns.unsubscribe import unsubscribe_token
from crm.models import Segment
from crm.segments.definition import EMPTY_DEFINITION
from crm.timeline import timeline_page
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory

pytestmark = pytest.mark.django_db

EMAIL = {
    "subject": "週年慶",
    "text": "週年慶 https://shop.example.com/sale",
    "html": '<p><a href="https://shop.example.com/sale">選購</a></p>',
}
LINE = {"messages": [{"type": "text", "text": "週年慶 https://shop.example.com/line"}]}
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148 Safari/604.1"


def _send(channel: str, content: dict, *, name="週年慶", now=None):
    campaign = campaign_save(
        name=name,
        segment=Segment.objects.create(name=f"Everyone {name}", definition=EMPTY_DEFINITION),
        channels=[channel],
        contents={channel: content},
    )
    campaign = campaign_launch(campaign=campaign, now=now)
    campaign_snapshot(campaign_id=campaign.pk, now=now)
    for batch_id in SendBatch.objects.filter(campaign=campaign).values_list("pk", flat=True):
        send_batch_run(batch_id=batch_id, now=now)
    return campaign


def _figure(campaign, channel: str, field: str) -> int:
    row = CampaignFigures.objects.filter(
        campaign=campaign, arm="sent", variant="A", channel=channel
    ).first()
    return getattr(row, field) if row else 0


def test_an_unsubscribe_counts_for_the_latest_email_campaign_within_3_days():
    member = MemberFactory()
    IdentityFactory(member=member, email=True)
    ConsentFactory(member=member, channel="email")
    now = timezone.now()
    old = _send("email", EMAIL, name="四天前", now=now - timedelta(days=4))
    earlier = _send("email", EMAIL, name="昨天", now=now - timedelta(days=1))
    latest = _send("email", EMAIL, name="今天", now=now - timedelta(hours=1))
    # The link of the oldest message: the unsubscribe still counts for the latest one.
    delivery = Delivery.objects.get(member=member, campaign=old)

    response = Client(enforce_csrf_checks=True).post(
        f"/u/{unsubscribe_token(delivery_id=delivery.pk)}/",
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert [_figure(c, "email", "unsubscribed") for c in (old, earlier, latest)] == [0, 0, 1]


def test_an_unsubscribe_long_after_the_last_message_counts_for_no_campaign():
    member = MemberFactory()
    IdentityFactory(member=member, email=True)
    ConsentFactory(member=member, channel="email")
    old = _send("email", EMAIL, now=timezone.now() - timedelta(days=5))
    delivery = Delivery.objects.get(member=member)
    Client().post(f"/u/{unsubscribe_token(delivery_id=delivery.pk)}/", data={"confirm": "1"})
    assert _figure(old, "email", "unsubscribed") == 0
    assert not CampaignFigures.objects.filter(unsubscribed__gt=0).exists()


def test_a_line_block_counts_for_the_latest_line_campaign():
    blocker, stays = MemberFactory(), MemberFactory()
    users = {}
    for member in (blocker, stays):
        users[member.pk] = IdentityFactory(member=member, line=True).value
        ConsentFactory(member=member, channel="line")
    campaign = _send("line", LINE, now=timezone.now() - timedelta(hours=2))
    unfollow = {
        "type": "unfollow",
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": users[blocker.pk]},
        "webhookEventId": "01HBLOCK",
        "deliveryContext": {"isRedelivery": False},
    }

    line_events_process(events=[unfollow])
    line_events_process(events=[unfollow])  # LINE's redelivery: nothing new

    assert _figure(campaign, "line", "line_blocked") == 1


def test_opens_and_clicks_are_on_the_members_timeline(login_as):
    member = MemberFactory()
    IdentityFactory(member=member, email=True, raw="mei.timeline@example.com")
    ConsentFactory(member=member, channel="email")
    _send("email", EMAIL)
    delivery = Delivery.objects.get(member=member)
    Client().get(
        f"/o/{tracking_code(delivery_id=delivery.pk, number=0)}.gif", HTTP_USER_AGENT=BROWSER
    )
    Client().get(f"/r/{tracking_code(delivery_id=delivery.pk, number=1)}", HTTP_USER_AGENT=BROWSER)

    with translation.override("en"):
        entries = timeline_page(member_id=member.pk).entries
        titles = {(entry.kind, str(entry.title)) for entry in entries}
        (message,) = [entry for entry in entries if entry.kind == "message"]
        assert str(message.status) == "Clicked"
    assert {("touchpoint", "Link clicked"), ("touchpoint", "Message opened")} <= titles
    # The analyst sees them on the member's page, and no raw address.
    page = login_as("carol").get(f"/members/{member.member_no}/", HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Link clicked" in html and "Message opened" in html
    assert "mei.timeline@example.com" not in html


def test_what_the_sandbox_simulates_goes_through_the_tracking_services(tmp_path):
    from campaigns.services.sandbox import sandbox_events_simulate

    members = []
    for _ in range(60):
        member = MemberFactory()
        IdentityFactory(member=member, email=True)
        ConsentFactory(member=member, channel="email")
        members.append(member)
    campaign = _send("email", EMAIL)
    batch = SendBatch.objects.get(campaign=campaign)

    written = sandbox_events_simulate(batch_id=batch.pk)
    assert sandbox_events_simulate(batch_id=batch.pk) == 0  # once per batch

    figures = CampaignFigures.objects.get(campaign=campaign, arm="sent", channel="email")
    deliveries = Delivery.objects.filter(campaign=campaign)
    assert figures.opened == deliveries.filter(opened_at__isnull=False).count() > 0
    assert figures.opened_machine > 0
    assert figures.clicked == deliveries.filter(clicked_at__isnull=False).count()
    assert written == figures.opened + figures.opened_machine + figures.clicks
    assert json.dumps(written)
