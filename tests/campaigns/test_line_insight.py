"""LINE Insight: the opens and clicks LINE reports per custom aggregation unit (one per campaign
variant, carried by every multicast and push), asked of the local LINE server (line-bot-sdk's
Insight client) or answered by the sandbox, kept per unit, summed on the campaign page and into
the campaign's figures."""

import re
import time
from datetime import timedelta
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, override

from campaigns.demo import DEMO_SENT, demo_campaigns_seed
from campaigns.models import Campaign, CampaignFigures, Delivery, LineInsight, SendBatch
from campaigns.services import (
    campaign_launch,
    campaign_save,
    campaign_snapshot,
    send_batch_run,
)
from campaigns.services.line_insight import (
    line_insight_refresh,
    line_insights_collect,
    line_insights_due,
    line_insights_fetch,
)
from crm.models import Segment
from crm.segments.definition import EMPTY_DEFINITION
from tests.campaigns.helpers import launched_to_everyone
from tests.campaigns.servers.line import INSIGHT_UNIT
from tests.factories import ConsentFactory, IdentityFactory, MemberFactory

SAME = {"messages": [{"type": "text", "text": "週年慶開跑！"}]}


def _sent_line_campaign(members: int, name: str = "LINE 週年慶") -> Campaign:
    for _ in range(members):
        member = MemberFactory()
        IdentityFactory(member=member, line=True)
        ConsentFactory(member=member, channel="line")
    campaign = launched_to_everyone(channel="line", content=SAME, name=name)
    for batch_id in SendBatch.objects.filter(campaign=campaign).values_list("pk", flat=True):
        send_batch_run(batch_id=batch_id)
    return campaign


def _unit(campaign: Campaign, variant: str = "A") -> str:
    return f"c{campaign.pk}_{variant}"


def _request_id(campaign: Campaign) -> str:
    [request_id] = set(
        Delivery.objects.filter(campaign=campaign, status="sent").values_list(
            "provider_id", flat=True
        )
    )
    return request_id


def _later(**delta):
    return timezone.now() + timedelta(**delta)


def _text(html: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</', html, re.S)
    assert match, testid
    return " ".join(match.group(1).split())


@pytest.mark.django_db
def test_insight_is_fetched_from_line_and_shown_on_the_campaign_page(line_server, login_as):
    campaign = _sent_line_campaign(25)
    unit = _unit(campaign)
    [send] = line_server.state.sends()
    assert send.json()["customAggregationUnits"] == [unit]
    line_server.state.unit_set(unit, impressions=23, clicks=21)
    now = _later(hours=25)

    run = line_insights_collect(now=now)

    assert run.answered == 1 and not run.rate_limited
    [read] = line_server.state.insight_reads()
    assert (read.method, read.path) == ("GET", INSIGHT_UNIT)
    tokyo = ZoneInfo("Asia/Tokyo")
    sent = timezone.now().astimezone(tokyo)
    assert parse_qs(read.query) == {
        "customAggregationUnit": [unit],
        "from": [f"{sent:%Y%m%d}"],
        "to": [f"{now.astimezone(tokyo):%Y%m%d}"],
    }
    assert read.headers["authorization"] == "Bearer test-line-token"
    row = LineInsight.objects.get()
    assert (row.campaign_id, row.unit, row.variant, row.recipients) == (campaign.pk, unit, "A", 25)
    assert (row.delivered, row.unique_impression, row.unique_click) == (25, 23, 21)
    assert row.raw["overview"]["uniqueImpression"] == 23 and row.error == ""
    figures = CampaignFigures.objects.get(campaign=campaign, arm="sent", channel="line")
    assert (figures.variant, figures.delivered, figures.opened) == ("A", 25, 23)  # the report's

    html = login_as("bob").get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert _text(html, "line-insight-delivered") == "25"
    assert _text(html, "line-insight-opened").startswith("23")
    assert "92.0%" in _text(html, "line-insight-opened")
    assert _text(html, "line-insight-clicked").startswith("21")


@pytest.mark.django_db
def test_insight_is_asked_a_day_after_once_again_at_three_days_and_never_twice(line_server):
    campaign = _sent_line_campaign(20)
    line_server.state.unit_set(_unit(campaign), impressions=20)

    def reads_after(**delta) -> int:
        line_insights_collect(now=_later(**delta))
        return len(line_server.state.insight_reads())

    assert reads_after(hours=1) == 0  # LINE has no figures yet
    assert reads_after(hours=25) == 1
    assert reads_after(hours=26) == 1  # already asked: not again
    assert reads_after(days=3, hours=1) == 2  # once more, when the figures have settled
    assert reads_after(days=4) == 2
    assert reads_after(days=15) == 2
    assert LineInsight.objects.get().unique_impression == 20


@pytest.mark.django_db
def test_a_429_stops_the_run_and_the_next_run_asks_the_rest(line_server):
    first = _sent_line_campaign(20, name="一")
    second = _sent_line_campaign(0, name="二")  # the same 20 members, a second campaign
    assert _unit(first) != _unit(second)
    line_server.state.fail_insight_next(429, retry_after=1)

    run = line_insights_collect(now=_later(hours=25))

    assert run.rate_limited and run.asked == 1 and run.answered == 0
    assert [r.status for r in line_server.state.insight_reads()] == [429]
    assert not LineInsight.objects.filter(fetched_at__isnull=False).exists()

    run = line_insights_collect(now=_later(hours=26))
    assert run.answered == 2 and not run.rate_limited
    assert [r.status for r in line_server.state.insight_reads()] == [429, 200, 200]
    assert set(LineInsight.objects.values_list("delivered", flat=True)) == {20}


@pytest.mark.django_db
def test_a_server_error_is_asked_again_next_run(line_server):
    campaign = _sent_line_campaign(20)
    line_server.state.fail_insight_next(500)
    assert line_insights_collect(now=_later(hours=25)).failed == 1
    assert LineInsight.objects.get(campaign=campaign).fetched_at is None
    assert line_insights_collect(now=_later(hours=26)).answered == 1


@pytest.mark.django_db
def test_withheld_figures_under_20_users_show_as_not_yet_available(line_server, login_as):
    campaign = _sent_line_campaign(22)
    line_server.state.unit_set(_unit(campaign), impressions=12, clicks=3)

    line_insights_collect(now=_later(hours=25))

    row = LineInsight.objects.get()
    assert (row.delivered, row.unique_impression, row.unique_click) == (22, None, None)
    html = login_as("carol").get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    with override("zh-hant"):
        withheld = gettext("not yet available")
    assert _text(html, "line-insight-delivered") == "22"
    assert _text(html, "line-insight-opened") == withheld
    assert _text(html, "line-insight-clicked") == withheld


@pytest.mark.django_db
def test_the_card_says_not_yet_available_before_line_has_figures(line_server, login_as):
    campaign = _sent_line_campaign(20)
    line_insights_collect(now=_later(hours=2))
    html = login_as("bob").get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert 'data-testid="line-insight-pending"' in html
    assert line_server.state.insight_reads() == []


@pytest.mark.django_db
def test_a_unit_line_refuses_is_noted_and_not_asked_again(line_server):
    campaign = _sent_line_campaign(20)
    row = LineInsight.objects.create(
        campaign=campaign, unit="not-a-unit", sent_at=timezone.now(), recipients=20
    )
    line_insights_fetch(insight_ids=[row.pk])
    row.refresh_from_db()
    assert row.fetched_at is not None and row.delivered is None
    assert row.error.startswith("LINE 400")
    assert [r.status for r in line_server.state.insight_reads()] == [400]
    line_insights_fetch(insight_ids=line_insights_due(now=_later(hours=1), limit=10))
    assert len(line_server.state.insight_reads()) == 1


@pytest.mark.django_db
def test_rows_from_before_units_are_not_asked_about(line_server):
    campaign = _sent_line_campaign(20)
    old = LineInsight.objects.create(
        campaign=campaign, request_id="a-multicast", sent_at=timezone.now(), recipients=20
    )
    line_insights_collect(now=_later(hours=25))
    assert [r.query.split("&")[0] for r in line_server.state.insight_reads()] == [
        f"customAggregationUnit={_unit(campaign)}"
    ]
    old.refresh_from_db()
    assert old.fetched_at is None


@pytest.mark.django_db
def test_a_unit_of_fewer_than_20_members_is_asked_and_its_opens_are_withheld(line_server):
    campaign = _sent_line_campaign(19)
    line_server.state.unit_set(_unit(campaign), impressions=19, clicks=19)
    line_insights_collect(now=_later(hours=25))
    row = LineInsight.objects.get()
    assert (row.delivered, row.unique_impression, row.unique_click) == (19, None, None)
    assert len(line_server.state.insight_reads()) == 1


@pytest.mark.django_db
def test_a_marketers_refresh_asks_line_now_and_an_analyst_cannot(
    line_server, login_as, eager_celery, django_capture_on_commit_callbacks
):
    campaign = _sent_line_campaign(20)
    line_server.state.unit_set(_unit(campaign), impressions=20)
    url = reverse("campaigns:line_insight_refresh", args=[campaign.pk])

    assert login_as("carol").post(url).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = login_as("bob").post(url)

    assert response.status_code == 302
    assert LineInsight.objects.get().unique_impression == 20
    assert len(line_server.state.insight_reads()) == 1
    # A second refresh within minutes asks nothing new.
    line_insight_refresh(campaign_id=campaign.pk)
    assert len(line_server.state.insight_reads()) == 1


# --- the sandbox answers insight itself (the demo: no network) --------------------------------


@pytest.mark.django_db
def test_the_sandbox_answers_insight_through_the_same_service():
    campaign = _sent_line_campaign(60)
    request_id = _request_id(campaign)
    assert request_id.startswith("sandbox-") and request_id.endswith("-n60")

    run = line_insight_refresh(campaign_id=campaign.pk)

    assert run.answered == 1
    row = LineInsight.objects.get()
    assert (row.unit, row.delivered) == (_unit(campaign), 60)
    assert 0.45 * 60 <= row.unique_impression <= 0.75 * 60
    assert row.unique_click is None  # about 3 of 60: withheld, as LINE would
    figures = CampaignFigures.objects.get(campaign=campaign, channel="line")
    assert figures.delivered == 60


@pytest.mark.django_db
def test_the_demo_campaign_shows_line_insight(login_as):
    everyone = Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION)
    for _ in range(30):
        member = MemberFactory()
        IdentityFactory(member=member, line=True)
        ConsentFactory(member=member, channel="line")
    demo_campaigns_seed(segment=everyone)
    campaign = Campaign.objects.get(name=DEMO_SENT)
    sent = Delivery.objects.filter(campaign=campaign, channel="line", status="sent").count()

    html = login_as("carol").get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()

    assert 'data-testid="line-insight-figures"' in html
    assert _text(html, "line-insight-delivered") == f"{sent:,}"


@pytest.mark.django_db
def test_each_read_passes_the_shared_rate_limit(line_server, settings):
    # One read a second: three reads cross at least two second boundaries.
    settings.CAMPAIGN_RATE_LIMITS = {**settings.CAMPAIGN_RATE_LIMITS, "insight": 1}
    for name in ("一", "二", "三"):
        _sent_line_campaign(20 if name == "一" else 0, name=name)
    started = time.monotonic()
    run = line_insights_collect(now=_later(hours=25))
    assert run.answered == 3
    assert time.monotonic() - started > 1.0


@pytest.mark.django_db
def test_each_variant_is_its_own_unit_with_its_own_figures(line_server, login_as):
    # The same LINE content for A and B: one request never mixes units, so two multicasts.
    for _ in range(60):
        member = MemberFactory()
        IdentityFactory(member=member, line=True)
        ConsentFactory(member=member, channel="line")
    campaign = campaign_save(
        name="A/B",
        segment=Segment.objects.create(name="Everyone", definition=EMPTY_DEFINITION),
        channels=["line"],
        contents={"line": SAME},
        variant_split={"A": 50, "B": 50},
    )
    campaign = campaign_launch(campaign=campaign)
    campaign_snapshot(campaign_id=campaign.pk)
    for batch_id in SendBatch.objects.filter(campaign=campaign).values_list("pk", flat=True):
        send_batch_run(batch_id=batch_id)
    per_variant = dict(
        Delivery.objects.filter(campaign=campaign, status="sent")
        .values_list("variant")
        .annotate(n=Count("pk"))
    )
    assert set(per_variant) == {"A", "B"}
    units = {tuple(r.json()["customAggregationUnits"]) for r in line_server.state.sends()}
    assert units == {(_unit(campaign, "A"),), (_unit(campaign, "B"),)}
    for variant, n in per_variant.items():
        assert line_server.state.unit_recipients(_unit(campaign, variant)) == n
    line_server.state.unit_set(_unit(campaign, "A"), impressions=20)

    run = line_insights_collect(now=_later(hours=25))

    assert run.answered == 2 and len(line_server.state.insight_reads()) == 2
    rows = {row.variant: row for row in LineInsight.objects.filter(campaign=campaign)}
    assert {v: row.delivered for v, row in rows.items()} == per_variant
    assert rows["A"].unique_impression == 20 and rows["B"].unique_impression is None
    figures = dict(
        CampaignFigures.objects.filter(campaign=campaign, arm="sent", channel="line").values_list(
            "variant", "delivered"
        )
    )
    assert figures == per_variant
    html = login_as("bob").get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert _text(html, "line-insight-delivered") == str(sum(per_variant.values()))
    assert line_insights_collect(now=_later(hours=26)).asked == 0
