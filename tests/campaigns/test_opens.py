"""Opens: the e-mail pixel (a person, and Apple Mail Privacy Protection's proxy), an ESP's
open / click / delivery events through anymail's webhook (once, whatever the replays), and the
app's "push_opened" event through the ingest API."""

import base64
import json

import pytest
from django.test import Client

from campaigns.models import CampaignFigures, Delivery, EmailOpen, LinkClick, SendBatch
from campaigns.services import campaign_launch, campaign_save, campaign_snapshot, send_batch_run
from campaigns.tracking import tracking_code
from crm.models import Identity, Segment, Touchpoint
from crm.segments.definition import EMPTY_DEFINITION
from crm.services.api_keys import api_key_create
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory

pytestmark = pytest.mark.django_db

EMAIL = {
    "subject": "{{name}}，週年慶",
    "text": "週年慶 https://shop.example.com/sale",
    "html": '<html><body><p>週年慶 <a href="https://shop.example.com/sale">選購</a></p></body></html>',
}
PUSH = {"title": "週年慶", "body": "全館 8 折", "url": "https://shop.example.com/sale"}
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
WEBHOOK_SECRET = "postmark:s3cret-hook"


def _send(channel: str, content: dict):
    campaign = campaign_save(
        name="週年慶",
        segment=Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION),
        channels=[channel],
        contents={channel: content},
    )
    campaign = campaign_launch(campaign=campaign)
    campaign_snapshot(campaign_id=campaign.pk)
    for batch_id in SendBatch.objects.filter(campaign=campaign).values_list("pk", flat=True):
        send_batch_run(batch_id=batch_id)
    return campaign


def _email_member():
    member = MemberFactory()
    IdentityFactory(member=member, email=True, raw=f"m{member.pk}@example.com")
    ConsentFactory(member=member, channel="email")
    return member


def _figures(campaign, channel="email") -> CampaignFigures:
    return CampaignFigures.objects.get(campaign=campaign, arm="sent", variant="A", channel=channel)


def _pixel(delivery: Delivery, **headers):
    code = tracking_code(delivery_id=delivery.pk, number=0)
    return Client().get(f"/o/{code}.gif", **headers)


# --- the pixel -------------------------------------------------------------------------------


def test_the_pixel_records_every_open_and_the_members_first(tmp_path):
    member = _email_member()
    campaign = _send("email", EMAIL)
    delivery = Delivery.objects.get(member=member)
    (path,) = (tmp_path / "sandbox").glob("email-*.jsonl")
    sent = json.loads(path.read_text().splitlines()[0])
    code = tracking_code(delivery_id=delivery.pk, number=0)
    assert f"/o/{code}.gif" in sent["content"]["html"]  # the pixel is in what was sent

    first = _pixel(delivery, HTTP_USER_AGENT=DESKTOP, REMOTE_ADDR="198.51.100.7")
    again = _pixel(delivery, HTTP_USER_AGENT=DESKTOP, REMOTE_ADDR="198.51.100.7")

    for response in (first, again):
        assert response.status_code == 200
        assert response["Content-Type"] == "image/gif"
        assert response.content.startswith(b"GIF89a")
        assert "no-store" in response["Cache-Control"]
    delivery.refresh_from_db()
    assert delivery.opened_at is not None
    assert EmailOpen.objects.filter(delivery=delivery, machine=False).count() == 2
    figures = _figures(campaign)
    assert (figures.opened, figures.opened_machine) == (1, 0)
    assert Touchpoint.objects.filter(member=member, kind="message_opened").count() == 1


@pytest.mark.parametrize(
    ("user_agent", "ip"),
    [("Mozilla/5.0", "203.0.113.5"), (DESKTOP, "17.58.101.42")],
    ids=["bare-user-agent", "apple-address"],
)
def test_an_apple_privacy_proxy_open_is_a_machine_open(user_agent, ip):
    member = _email_member()
    campaign = _send("email", EMAIL)
    delivery = Delivery.objects.get(member=member)

    assert _pixel(delivery, HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip).status_code == 200
    assert _pixel(delivery, HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip).status_code == 200

    delivery.refresh_from_db()
    assert delivery.opened_at is None  # not the member's open
    assert EmailOpen.objects.filter(delivery=delivery, machine=True).count() == 2
    figures = _figures(campaign)
    assert (figures.opened, figures.opened_machine) == (0, 1)  # once per delivery
    assert not Touchpoint.objects.filter(member=member, kind="message_opened").exists()
    # The member opening it later is their open.
    _pixel(delivery, HTTP_USER_AGENT=DESKTOP, REMOTE_ADDR="198.51.100.7")
    figures.refresh_from_db()
    assert (figures.opened, figures.opened_machine) == (1, 1)


def test_a_forged_pixel_code_records_nothing():
    member = _email_member()
    _send("email", EMAIL)
    delivery = Delivery.objects.get(member=member)
    code = tracking_code(delivery_id=delivery.pk, number=0)
    forged = code[:-1] + ("A" if code[-1] != "A" else "B")
    link_code = tracking_code(delivery_id=delivery.pk, number=1)  # a link's, not the pixel's
    for bad in (forged, link_code):
        response = Client().get(f"/o/{bad}.gif", HTTP_USER_AGENT=DESKTOP)
        assert response.status_code == 404
        assert response["Content-Type"] == "image/gif"
    assert not EmailOpen.objects.exists()


# --- an ESP's events (Postmark's payloads through anymail) ------------------------------------


@pytest.fixture
def esp_webhook(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": WEBHOOK_SECRET}

    def post(payload: dict):
        return Client().post(
            "/hooks/anymail/postmark/tracking/",
            data=json.dumps(payload),
            content_type="application/json",
            HTTP_AUTHORIZATION="Basic " + base64.b64encode(WEBHOOK_SECRET.encode()).decode(),
        )

    return post


def _postmark(record_type: str, delivery: Delivery, **fields) -> dict:
    """A Postmark webhook body as Postmark documents it, with our metadata echoed back."""
    base = {
        "RecordType": record_type,
        "MessageStream": "broadcast",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Recipient": "mei@example.com",
        "Tag": "",
        "Metadata": {"delivery": f"d{delivery.pk}"},
    }
    if record_type == "Open":
        base |= {
            "FirstOpen": True,
            "Platform": "WebMail",
            "UserAgent": DESKTOP,
            "ReceivedAt": "2026-12-06T16:33:54.9070259Z",
        }
    elif record_type == "Delivery":
        base |= {"ServerID": 23, "DeliveredAt": "2026-12-06T16:30:00Z", "Details": "ok"}
    elif record_type == "Click":
        base |= {
            "ClickLocation": "HTML",
            "Platform": "Desktop",
            "UserAgent": DESKTOP,
            "ReceivedAt": "2026-12-06T16:40:00Z",
        }
    return base | fields


def test_esp_open_and_delivery_events_count_once_whatever_the_replays(esp_webhook):
    member = _email_member()
    campaign = _send("email", EMAIL)
    delivery = Delivery.objects.get(member=member)

    for _ in range(2):  # the ESP redelivers each event
        assert esp_webhook(_postmark("Open", delivery)).status_code == 200
        assert esp_webhook(_postmark("Delivery", delivery)).status_code == 200

    figures = _figures(campaign)
    assert (figures.delivered, figures.opened) == (1, 1)
    (opened,) = EmailOpen.objects.filter(delivery=delivery)
    assert opened.source == "anymail:postmark"
    delivery.refresh_from_db()
    assert delivery.opened_at.isoformat().startswith("2026-12-06T16:33:54")
    # Another open (another time): a second open row, still one member who opened.
    later = _postmark("Open", delivery, ReceivedAt="2026-12-07T09:00:00Z", FirstOpen=False)
    assert esp_webhook(later).status_code == 200
    figures.refresh_from_db()
    assert (figures.opened, EmailOpen.objects.filter(delivery=delivery).count()) == (1, 2)


def test_an_esp_click_counts_unless_it_is_on_our_own_tracked_link(esp_webhook, settings):
    member = _email_member()
    campaign = _send("email", EMAIL)
    delivery = Delivery.objects.get(member=member)
    ours = f"{settings.OMNICHANNEL_PUBLIC_URL}/r/{tracking_code(delivery_id=delivery.pk, number=1)}"

    esp_webhook(_postmark("Click", delivery, OriginalLink=ours))
    assert not LinkClick.objects.exists()  # our redirect counts that click itself

    esp_webhook(_postmark("Click", delivery, OriginalLink="https://shop.example.com/other"))
    (click,) = LinkClick.objects.all()
    assert (click.url, click.source, click.link) == (
        "https://shop.example.com/other",
        "anymail:postmark",
        None,
    )
    figures = _figures(campaign)
    assert (figures.clicks, figures.clicked) == (1, 1)


def test_an_esp_event_for_no_delivery_of_ours_changes_nothing(esp_webhook):
    member = _email_member()
    campaign = _send("email", EMAIL)
    delivery = Delivery.objects.get(member=member)
    event = _postmark("Open", delivery, Metadata={}, MessageID="<d1.forged@shop.example.com>")
    assert esp_webhook(event).status_code == 200
    assert not EmailOpen.objects.exists()
    assert not CampaignFigures.objects.filter(campaign=campaign, opened__gt=0).exists()


# --- the app's push_opened event -----------------------------------------------------------


def test_the_apps_push_opened_event_with_the_code_is_an_open(alice):
    member = MemberFactory()
    IdentityFactory(member=member, kind=Identity.Kind.PUSH_TOKEN, value="fcm-token-aaaaaaaa")
    ConsentFactory(member=member, channel="push")
    campaign = _send("push", PUSH)
    delivery = Delivery.objects.get(member=member)
    assert delivery.status == "sent"
    _key, secret = api_key_create(name="App", channel="app", actor=alice)
    code = tracking_code(delivery_id=delivery.pk, number=0)

    def event(properties: dict, at: str):
        return Client().post(
            "/api/v1/events",
            data=json.dumps(
                {
                    "identifiers": {"member_no": member.member_no},
                    "channel": "app",
                    "kind": "push_opened",
                    "at": at,
                    "properties": properties,
                }
            ),
            content_type="application/json",
            headers={"Authorization": f"Bearer {secret}"},
        )

    assert event({"tracking": code}, "2026-12-07T10:00:00+08:00").status_code == 201
    assert event({"tracking": code}, "2026-12-07T10:05:00+08:00").status_code == 201
    # A code the app garbled: the touchpoint is recorded, no open.
    assert event({"tracking": code[:-1] + "!"}, "2026-12-07T10:06:00+08:00").status_code == 201

    delivery.refresh_from_db()
    assert delivery.opened_at.isoformat() == "2026-12-07T02:00:00+00:00"
    opens = EmailOpen.objects.filter(delivery=delivery)
    assert opens.count() == 2 and {o.source for o in opens} == {"app"}
    assert _figures(campaign, "push").opened == 1
    assert Touchpoint.objects.filter(member=member, kind="push_opened").count() == 3


def test_an_esp_click_by_a_link_scanner_is_kept_but_not_counted(esp_webhook):
    member = _email_member()
    campaign = _send("email", EMAIL)
    delivery = Delivery.objects.get(member=member)

    esp_webhook(
        _postmark(
            "Click",
            delivery,
            OriginalLink="https://shop.example.com/other",
            UserAgent="facebookexternalhit/1.1;line-poker/1.0",
        )
    )

    (click,) = LinkClick.objects.all()
    assert click.machine
    delivery.refresh_from_db()
    assert delivery.clicked_at is None
    assert not CampaignFigures.objects.filter(campaign=campaign, clicks__gt=0).exists()


def test_a_push_opened_event_of_another_members_message_is_not_an_open(alice):
    member, other = MemberFactory(), MemberFactory()
    IdentityFactory(member=member, kind=Identity.Kind.PUSH_TOKEN, value="fcm-token-bbbbbbbb")
    ConsentFactory(member=member, channel="push")
    _send("push", PUSH)
    delivery = Delivery.objects.get(member=member)
    _key, secret = api_key_create(name="App", channel="app", actor=alice)

    response = Client().post(
        "/api/v1/events",
        data=json.dumps(
            {
                "identifiers": {"member_no": other.member_no},
                "channel": "app",
                "kind": "push_opened",
                "at": "2026-12-07T10:00:00+08:00",
                "properties": {"tracking": tracking_code(delivery_id=delivery.pk, number=0)},
            }
        ),
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )

    assert response.status_code == 201  # the touchpoint of `other` is kept
    assert not EmailOpen.objects.exists()
    delivery.refresh_from_db()
    assert delivery.opened_at is None
