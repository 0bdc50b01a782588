"""Tracked links: the codes, what the pipeline sends, the /r/ redirect and what a click does
(one click per request, the member's first click, UTM, tags on click, touchpoint), link
scanners, the links kept from the content, and the SMS counter counting the tracked URL."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from campaigns.content.sms import validate as sms_validate
from campaigns.estimates import sms_estimate
from campaigns.models import CampaignFigures, Delivery, LinkClick, SendBatch, TrackedLink
from campaigns.services import campaign_launch, campaign_save, campaign_snapshot, send_batch_run
from campaigns.services.tracking import tracked_links_sync, tracked_links_update
from campaigns.tracking import (
    CODE_MAX_LENGTH,
    content_links,
    tracked_url,
    tracked_url_stand_in,
    tracking_code,
    tracking_code_read,
    utm_merge,
)
from crm.models import Segment, Tag, Touchpoint
from crm.segments.definition import EMPTY_DEFINITION
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory

pytestmark = pytest.mark.django_db

BROWSER = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 Line/14.9.0"
)
SMS = {
    "text": "【品牌】週年慶 85 折 https://shop.example.com/sale?ref=sms&utm_source=keep 立即選購"
}


def _sms_member():
    member = MemberFactory()
    IdentityFactory(member=member)  # a phone
    ConsentFactory(member=member, channel="sms")
    return member


def _campaign(content=SMS, *, channel="sms", before_launch=None, utm_campaign=""):
    campaign = campaign_save(
        name="週年慶",
        segment=Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION),
        channels=[channel],
        contents={channel: content},
    )
    if utm_campaign:
        campaign.utm_campaign = utm_campaign
        campaign.save(update_fields=["utm_campaign"])
    if before_launch:
        before_launch(campaign)
    campaign = campaign_launch(campaign=campaign)
    campaign_snapshot(campaign_id=campaign.pk)
    for batch_id in SendBatch.objects.filter(campaign=campaign).values_list("pk", flat=True):
        send_batch_run(batch_id=batch_id)
    return campaign


def _sent(tmp_path, channel="sms") -> list[dict]:
    lines = []
    for path in (tmp_path / "sandbox").glob(f"{channel}-*.jsonl"):
        lines += [json.loads(line) for line in path.read_text().splitlines()]
    return lines


def _figures(campaign) -> CampaignFigures:
    return CampaignFigures.objects.get(campaign=campaign, arm="sent", variant="A", channel="sms")


# --- codes ---------------------------------------------------------------------------------


def test_a_code_round_trips_and_a_forged_one_is_refused():
    for delivery_id in (0, 1, 61, 62, 123_456, 56_800_235_583):
        for number in (0, 1, 7, 61):
            code = tracking_code(delivery_id=delivery_id, number=number)
            assert len(code) <= CODE_MAX_LENGTH
            assert tracking_code_read(code) == (delivery_id, number)
    code = tracking_code(delivery_id=123_456, number=1)
    assert len(code) == 1 + 8 + 3  # link number, MAC, base62 of the delivery id ("W7E")
    # Another delivery's id with this MAC, another link number, a changed MAC, junk: refused.
    assert tracking_code_read(code[:-1] + ("A" if code[-1] != "A" else "B")) is None
    assert tracking_code_read("2" + code[1:]) is None
    assert tracking_code_read(code[0] + ("x" if code[1] != "x" else "y") + code[2:]) is None
    for junk in ("", "abc", code + "!", "../../etc", "0" * 40):
        assert tracking_code_read(junk) is None


def test_a_different_secret_key_makes_other_codes(settings):
    code = tracking_code(delivery_id=42, number=1)
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    assert tracking_code_read(code) is None


def test_utm_parameters_are_added_and_the_links_own_kept():
    url = utm_merge(
        "https://shop.example.com/sale?ref=sms&utm_source=keep#top",
        {"utm_source": "sms", "utm_medium": "sms", "utm_campaign": "anniv", "utm_content": "A"},
    )
    parts = urlsplit(url)
    assert parts.fragment == "top"
    assert parse_qs(parts.query) == {
        "ref": ["sms"],
        "utm_source": ["keep"],
        "utm_medium": ["sms"],
        "utm_campaign": ["anniv"],
        "utm_content": ["A"],
    }


def test_links_are_found_per_channel_in_order_and_once_each():
    html = (
        '<p><a href="https://shop.example.com/a?x=1&amp;y=2">A</a> '
        "<img src='https://cdn.example.com/pic.png'> "
        "<a href='https://shop.example.com/b'>B</a> "
        '<a href="https://shop.example.com/a?x=1&amp;y=2">again</a> '
        '<a href="https://shop.example.com/m/{{member_no}}">mine</a> '
        '<a href="mailto:help@example.com">mail</a></p>'
    )
    email = {
        "subject": "s",
        "text": "看這裡 https://shop.example.com/c。 Or https://shop.example.com/b.",
        "html": html,
    }
    assert content_links(channel="email", content=email) == [
        "https://shop.example.com/a?x=1&y=2",
        "https://shop.example.com/b",
        "https://shop.example.com/c",
    ]
    line = {
        "messages": [
            {"type": "text", "text": "{{name}} 您好 https://shop.example.com/line"},
            {
                "type": "image",
                "originalContentUrl": "https://cdn.example.com/a.jpg",
                "previewImageUrl": "https://cdn.example.com/a-s.jpg",
            },
            {
                "type": "flex",
                "altText": "週年慶",
                "contents": json.dumps(
                    {
                        "type": "bubble",
                        "hero": {
                            "type": "image",
                            "url": "https://cdn.example.com/hero.jpg",
                            "action": {"type": "uri", "uri": "https://shop.example.com/hero"},
                        },
                        "footer": {
                            "type": "box",
                            "layout": "vertical",
                            "contents": [
                                {
                                    "type": "button",
                                    "action": {
                                        "type": "uri",
                                        "label": "買",
                                        "uri": "https://shop.example.com/buy",
                                    },
                                }
                            ],
                        },
                    }
                ),
            },
        ]
    }
    assert content_links(channel="line", content=line) == [
        "https://shop.example.com/line",
        "https://shop.example.com/hero",
        "https://shop.example.com/buy",
    ]
    assert content_links(
        channel="push", content={"title": "t", "body": "b", "url": "https://x.example.com/p"}
    ) == ["https://x.example.com/p"]
    assert content_links(channel="sms", content={"text": "no link"}) == []


# --- what is sent ----------------------------------------------------------------------------


def test_the_sms_sent_carries_the_deliverys_tracked_link(tmp_path):
    member = _sms_member()
    campaign = _campaign()

    delivery = Delivery.objects.get(member=member)
    (sent,) = _sent(tmp_path)
    link = TrackedLink.objects.get(campaign=campaign)
    assert (link.channel, link.variant, link.number, link.tracked) == ("sms", "A", 1, True)
    assert link.url == "https://shop.example.com/sale?ref=sms&utm_source=keep"
    assert sent["content"]["text"] == (
        f"【品牌】週年慶 85 折 {tracked_url(delivery_id=delivery.pk, number=1)} 立即選購"
    )


def test_an_untracked_link_is_sent_as_it_is(tmp_path):
    _sms_member()

    def untrack(campaign):
        link = TrackedLink.objects.get(campaign=campaign)
        tracked_links_update(campaign=campaign, choices={link.pk: (False, [])})

    _campaign(before_launch=untrack)

    (sent,) = _sent(tmp_path)
    assert sent["content"]["text"] == SMS["text"]


# --- the redirect ----------------------------------------------------------------------------


def test_each_request_is_one_click_and_the_member_clicked_once():
    member = _sms_member()
    campaign = _campaign(utm_campaign="anniv-2026")
    delivery = Delivery.objects.get(member=member)
    code = tracking_code(delivery_id=delivery.pk, number=1)
    client = Client()

    first = client.get(f"/r/{code}", HTTP_USER_AGENT=BROWSER, REMOTE_ADDR="203.0.113.9")
    second = client.get(f"/r/{code}", HTTP_USER_AGENT=BROWSER, REMOTE_ADDR="203.0.113.9")

    for response in (first, second):
        assert response.status_code == 302
        target = urlsplit(response["Location"])
        assert (target.scheme, target.netloc, target.path) == (
            "https",
            "shop.example.com",
            "/sale",
        )
        assert parse_qs(target.query) == {
            "ref": ["sms"],
            "utm_source": ["keep"],  # the link's own utm_source is not overwritten
            "utm_medium": ["sms"],
            "utm_campaign": ["anniv-2026"],
            "utm_content": ["A"],
        }
    delivery.refresh_from_db()
    assert delivery.clicked_at is not None
    figures = _figures(campaign)
    assert (figures.clicks, figures.clicked) == (2, 1)
    clicks = list(LinkClick.objects.filter(delivery=delivery))
    assert len(clicks) == 2 and not any(click.machine for click in clicks)
    assert clicks[0].user_agent == BROWSER[:200]
    # The address is kept only as a keyed hash.
    assert clicks[0].ip_hash and "203.0.113.9" not in clicks[0].ip_hash
    touchpoints = Touchpoint.objects.filter(member=member, kind="link_clicked")
    assert touchpoints.count() == 2
    assert touchpoints.first().properties["campaign_id"] == campaign.pk


def test_the_campaign_id_is_the_utm_campaign_when_none_is_set():
    member = _sms_member()
    campaign = _campaign()
    code = tracking_code(delivery_id=Delivery.objects.get(member=member).pk, number=1)
    response = Client().get(f"/r/{code}", HTTP_USER_AGENT=BROWSER)
    assert parse_qs(urlsplit(response["Location"]).query)["utm_campaign"] == [str(campaign.pk)]


def test_a_forged_or_unknown_code_gets_a_page_and_records_nothing():
    member = _sms_member()
    _campaign()
    delivery = Delivery.objects.get(member=member)
    code = tracking_code(delivery_id=delivery.pk, number=1)
    forged = code[:-1] + ("A" if code[-1] != "A" else "B")
    unknown_link = tracking_code(delivery_id=delivery.pk, number=5)
    gone = tracking_code(delivery_id=delivery.pk + 1000, number=1)
    for bad in (forged, unknown_link, gone, "nonsense"):
        response = Client().get(f"/r/{bad}", HTTP_USER_AGENT=BROWSER)
        assert response.status_code == 404
        assert 'data-testid="link-invalid"' in response.content.decode()
    assert not LinkClick.objects.exists()
    delivery.refresh_from_db()
    assert delivery.clicked_at is None


def test_a_link_scanner_is_redirected_and_flagged_but_not_counted():
    member = _sms_member()
    campaign = _campaign()
    delivery = Delivery.objects.get(member=member)
    code = tracking_code(delivery_id=delivery.pk, number=1)

    scanner = Client().get(f"/r/{code}", HTTP_USER_AGENT="facebookexternalhit/1.1;line-poker/1.0")
    head = Client().head(f"/r/{code}", HTTP_USER_AGENT=BROWSER)

    assert scanner.status_code == head.status_code == 302
    (click,) = LinkClick.objects.all()  # the HEAD request recorded nothing
    assert click.machine
    delivery.refresh_from_db()
    assert delivery.clicked_at is None
    assert not CampaignFigures.objects.filter(campaign=campaign, clicks__gt=0).exists()
    assert not Touchpoint.objects.filter(member=member, kind="link_clicked").exists()


def test_a_click_puts_the_links_tags_on_the_member():
    member = _sms_member()
    vip, sale = Tag.objects.create(name="週年慶有興趣"), Tag.objects.create(name="點過連結")

    def tag(campaign):
        link = TrackedLink.objects.get(campaign=campaign)
        tracked_links_update(campaign=campaign, choices={link.pk: (True, [vip.pk, sale.pk])})

    _campaign(before_launch=tag)
    code = tracking_code(delivery_id=Delivery.objects.get(member=member).pk, number=1)
    Client().get(f"/r/{code}", HTTP_USER_AGENT=BROWSER)
    Client().get(f"/r/{code}", HTTP_USER_AGENT=BROWSER)  # a second click adds nothing

    assert set(member.tags.values_list("name", flat=True)) == {"週年慶有興趣", "點過連結"}


# --- the campaign's links ------------------------------------------------------------------


def test_links_follow_the_content_and_keep_the_marketers_choices():
    tag = Tag.objects.create(name="VIP")
    segment = Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION)
    content = {"text": "A https://shop.example.com/a B https://shop.example.com/b"}
    campaign = campaign_save(name="c", segment=segment, channels=["sms"], contents={"sms": content})
    b = TrackedLink.objects.get(campaign=campaign, url="https://shop.example.com/b")
    tracked_links_update(campaign=campaign, choices={b.pk: (False, [tag.pk])})

    # A new link before the others, one removed: /b keeps its choices under its new number.
    content = {"text": "N https://shop.example.com/new B https://shop.example.com/b"}
    campaign_save(
        campaign=campaign, name="c", segment=segment, channels=["sms"], contents={"sms": content}
    )

    links = list(TrackedLink.objects.filter(campaign=campaign).order_by("number"))
    assert [(link.number, link.url, link.tracked) for link in links] == [
        (1, "https://shop.example.com/new", True),
        (2, "https://shop.example.com/b", False),
    ]
    assert links[1].pk == b.pk and list(links[1].tags.all()) == [tag]
    assert tracked_links_sync(campaign_id=campaign.pk) == 2  # again: nothing changes
    assert TrackedLink.objects.filter(campaign=campaign).count() == 2


def test_the_links_of_a_launched_campaign_cannot_change():
    from campaigns.services.tracking import LinksLocked

    _sms_member()
    campaign = _campaign()
    link = TrackedLink.objects.get(campaign=campaign)
    with pytest.raises(LinksLocked):
        tracked_links_update(campaign=campaign, choices={link.pk: (False, [])})


# --- SMS length ------------------------------------------------------------------------------


def test_the_sms_counter_counts_the_tracked_link_not_the_original(settings):
    settings.OMNICHANNEL_PUBLIC_URL = "https://crm.example.com"
    short = "Sale https://a.co/x"
    long = "Sale https://shop.example.com/" + "p" * 120
    stand_in = tracked_url_stand_in()
    assert stand_in == "https://crm.example.com/r/" + "x" * CODE_MAX_LENGTH
    assert sms_estimate(text=short).characters == len("Sale ") + len(stand_in)
    assert sms_estimate(text=long).characters == len("Sale ") + len(stand_in)
    assert sms_estimate(text=long).segments == 1  # the 150-character URL is not what is sent
    # What is sent is never longer than what was counted.
    real = tracked_url(delivery_id=56_800_235_583, number=61)
    assert len(real) <= len(stand_in)
    # The segment limit counts it the same way: a text just under the limit with a long link
    # passes, and one that overflows only because of the tracked link is refused.
    settings.CAMPAIGN_SMS_MAX_SEGMENTS = 1
    assert sms_validate({"text": long}) == []
    assert sms_validate({"text": "x" * (160 - len(stand_in)) + " https://a.co"}) != []


# --- the links panel -------------------------------------------------------------------------


def _draft_with_links():
    return campaign_save(
        name="c",
        segment=Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION),
        channels=["sms"],
        contents={"sms": {"text": "A https://shop.example.com/a B https://shop.example.com/b"}},
    )


def test_the_links_panel_lists_the_links_in_a_bounded_number_of_queries(
    login_as, django_assert_max_num_queries
):
    campaign = _draft_with_links()
    for link in TrackedLink.objects.filter(campaign=campaign):
        tracked_links_update(
            campaign=campaign, choices={link.pk: (True, [Tag.objects.create(name=link.url).pk])}
        )
    client = login_as("bob")
    with django_assert_max_num_queries(12):
        response = client.get(f"/campaigns/{campaign.pk}/links/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="links-panel"' in html and "<html" not in html  # the partial
    assert "https://shop.example.com/a" in html and "https://shop.example.com/b" in html


def test_a_marketer_saves_the_links_an_analyst_may_only_look(login_as):
    campaign = _draft_with_links()
    a, b = TrackedLink.objects.filter(campaign=campaign).order_by("number")
    tag = Tag.objects.create(name="VIP")

    carol = login_as("carol")
    assert carol.get(f"/campaigns/{campaign.pk}/links/").status_code == 200
    refused = carol.post(f"/campaigns/{campaign.pk}/links/", {"link": [a.pk], "tracked": []})
    assert refused.status_code == 403
    a.refresh_from_db()
    assert a.tracked

    response = login_as("bob").post(
        f"/campaigns/{campaign.pk}/links/",
        {"link": [a.pk, b.pk], "tracked": [b.pk], f"tags_{b.pk}": [tag.pk]},
    )
    assert response.status_code == 200
    a.refresh_from_db()
    assert not a.tracked and list(a.tags.all()) == []
    assert list(b.tags.all()) == [tag]


def test_a_variant_sent_as_content_the_click_on_its_link_counts():
    # Given an A/B test where B has no SMS of its own (B's members get A's text and links)
    members = [_sms_member() for _ in range(4)]

    def split(campaign):
        campaign.variant_split = {"A": 50, "B": 50}
        campaign.save(update_fields=["variant_split"])

    campaign = _campaign(before_launch=split)
    delivery = Delivery.objects.filter(member__in=members, variant="B").first()
    assert delivery is not None and delivery.status == "sent"

    # When B's member taps the link
    response = Client().get(
        f"/r/{tracking_code(delivery_id=delivery.pk, number=1)}", HTTP_USER_AGENT=BROWSER
    )

    # Then it redirects and counts for B (not a "no longer exists" page)
    assert response.status_code == 302
    assert parse_qs(urlsplit(response["Location"]).query)["utm_content"] == ["B"]
    figures = CampaignFigures.objects.get(campaign=campaign, arm="sent", variant="B", channel="sms")
    assert (figures.clicks, figures.clicked) == (1, 1)
