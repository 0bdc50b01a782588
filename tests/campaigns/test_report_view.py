"""The report on the campaign page, its CSV and the list sorted by the figures: read from the
kept figures only (written here directly), by marketers and analysts alike, nothing personal."""

import csv
import datetime
import io

import pytest
from django.urls import reverse

from campaigns.models import Campaign
from omnichannel.charts import FONT
from tests.campaigns.factories_report import (
    CampaignFactory,
    FiguresDailyFactory,
    FiguresFactory,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def login_as(login_as):
    """The personas' clients, reading the pages in English (the tests' msgids)."""

    def _login(username: str):
        client = login_as(username)
        client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
        return client

    return _login


@pytest.fixture
def ab_campaign():
    """A/B on LINE and email with a holdout and a held-out store; B converts more."""
    campaign = CampaignFactory(name="雙十一", variant_split={"A": 50, "B": 50})
    FiguresFactory(
        campaign=campaign,
        variant="A",
        members=800,
        opened=400,
        clicked=80,
        converted=32,
        orders=35,
        revenue_online_twd=40_000,
        revenue_sumsq=40_000 * 1_500,
        suppressed={"no_consent": 12},
        unsubscribed=3,
        line_blocked=2,
    )
    FiguresFactory(
        campaign=campaign,
        variant="A",
        channel="email",
        members=200,
        clicked=20,
        converted=8,
        opened=60,
        opened_machine=15,
        revenue_online_twd=9_000,
        revenue_sumsq=9_000 * 1_200,
    )
    FiguresFactory(
        campaign=campaign,
        variant="B",
        members=1000,
        opened=520,
        clicked=150,
        converted=60,
        revenue_online_twd=75_000,
        revenue_store_twd=5_000,
        revenue_sumsq=80_000 * 1_400,
        revenue_store_sumsq=5_000 * 1_000,
    )
    FiguresFactory(
        campaign=campaign,
        held_out=True,
        arm="holdout",
        members=500,
        converted=10,
        revenue_online_twd=10_000,
        revenue_sumsq=10_000 * 1_000,
    )
    FiguresFactory(
        campaign=campaign,
        held_out=True,
        arm="store_holdout",
        members=300,
        revenue_store_twd=6_000,
        revenue_store_sumsq=6_000 * 900,
    )
    for day, variant, orders, revenue in [
        (datetime.date(2026, 11, 11), "A", 20, 24_000),
        (datetime.date(2026, 11, 12), "A", 15, 25_000),
        (datetime.date(2026, 11, 11), "B", 40, 50_000),
    ]:
        FiguresDailyFactory(
            campaign=campaign, day=day, variant=variant, orders=orders, revenue_twd=revenue
        )
    FiguresDailyFactory(
        campaign=campaign,
        day=datetime.date(2026, 11, 11),
        arm="holdout",
        variant="",
        orders=10,
        revenue_twd=10_000,
    )
    return campaign


def test_the_page_shows_the_funnel_the_variant_test_and_the_lift(login_as, ab_campaign):
    response = login_as("bob").get(reverse("campaigns:detail", args=[ab_campaign.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="report-funnel"' in html and 'data-testid="report-funnel-variants"' in html
    assert 'data-step="suppressed:no_consent"' in html
    assert 'data-step="opened_machine"' in html
    assert 'data-testid="report-held-out">800<' in html
    assert "NT$129,000" in html  # revenue of the sent group, online and in store
    assert "Variant B’s conversion rate is higher than Variant A’s: 6.0 % vs 4.0 %" in html
    assert 'data-testid="report-lift"' in html
    assert 'data-metric="store_revenue_per_member"' in html
    assert 'data-plotly-figure="report-chart-data"' in html
    assert "vendor/plotly/plotly.min.js" in html and 'id="plotly.js-style-global"' in html


def test_the_chart_has_a_line_per_variant_and_arm(login_as, ab_campaign):
    response = login_as("bob").get(reverse("campaigns:detail", args=[ab_campaign.pk]))

    figure = response.context["report_chart"]
    names = [trace["name"] for trace in figure["data"] if trace.get("showlegend", True)]
    assert names == ["Variant A", "Variant B", "Holdout", "Held-out store"]
    a_orders = figure["data"][0]
    assert a_orders["x"] == ["2026-11-11", "2026-11-12"]
    assert a_orders["y"] == [20.0, 15.0]  # per 1,000 members: variant A has 1,000
    # Drawn on the one shared template (omnichannel/charts.py); revenue per member in NT$.
    assert figure["layout"]["template"]["layout"]["font"]["family"] == FONT
    assert figure["layout"]["yaxis2"]["tickprefix"] == "NT$"


def test_a_variant_shows_its_own_funnel_and_keeps_it_in_the_url(login_as, ab_campaign):
    client = login_as("bob")

    page = client.get(reverse("campaigns:detail", args=[ab_campaign.pk]), {"variant": "B"})
    swap = client.get(reverse("campaigns:report", args=[ab_campaign.pk]), {"variant": "B"}, **HTMX)
    plain = client.get(reverse("campaigns:report", args=[ab_campaign.pk]), {"variant": "B"})

    assert page.context["report"].variant == "B"
    assert [c.channel for c in page.context["report"].by_channel] == ["line"]
    assert 'data-variant="B"' in page.content.decode()
    html = swap.content.decode()
    assert html.lstrip().startswith('<section id="campaign-report"') and "<html" not in html
    assert 'data-testid="report-variant-tests"' in html
    assert plain.status_code == 302
    assert plain["Location"].endswith(f"/campaigns/{ab_campaign.pk}/?variant=B#report")


@pytest.mark.parametrize("variant", ["Z", "", "<b>"])
def test_an_unknown_variant_shows_all(login_as, ab_campaign, variant):
    response = login_as("bob").get(
        reverse("campaigns:detail", args=[ab_campaign.pk]), {"variant": variant}
    )

    assert response.status_code == 200 and response.context["report"].variant == ""


def test_a_campaign_without_figures_says_the_report_will_come(login_as):
    campaign = CampaignFactory(status=Campaign.Status.DRAFT)

    response = login_as("bob").get(reverse("campaigns:detail", args=[campaign.pk]))

    assert response.status_code == 200
    assert 'data-testid="report-empty"' in response.content.decode()
    assert "plotly" not in response.content.decode()  # no chart, no 4 MB of Plotly


def test_partial_figures_and_a_zero_member_row_still_render(login_as):
    # Given: sent figures counted but no conversion yet, and an arm with no members.
    campaign = CampaignFactory()
    FiguresFactory(campaign=campaign, members=0, sent=0, delivered=0)
    FiguresFactory(campaign=campaign, channel="sms", members=40, sent=38)
    FiguresFactory(campaign=campaign, held_out=True, arm="holdout", members=0)

    response = login_as("carol").get(reverse("campaigns:detail", args=[campaign.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Not enough data yet to compare the conversion rate" in html
    assert 'data-testid="report-chart-empty"' in html


def test_the_report_reads_two_queries_of_figures(login_as, ab_campaign, django_assert_num_queries):
    from campaigns.selectors import campaign_report

    with django_assert_num_queries(2):
        report = campaign_report(campaign_id=ab_campaign.pk)
    assert len(report.rows) == 3 and set(report.arms) == {"holdout", "store_holdout"}


def _csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_the_csv_has_the_figures_and_the_tests_and_no_member(login_as, ab_campaign):
    response = login_as("carol").get(reverse("campaigns:report_csv", args=[ab_campaign.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = _csv(response)
    header = rows[0]
    assert header[:4] == ["Group", "Variant", "Channel", "Suppressed"]
    assert "Suppressed: No consent" in header and "ROI" in header
    by_key = {(row[0], row[1], row[2]): dict(zip(header, row, strict=False)) for row in rows[1:8]}
    a_line = by_key[("Sent group", "A", "line")]
    assert a_line["Members meant to be sent"] == "800" and a_line["Converted (members)"] == "32"
    assert a_line["Suppressed: No consent"] == "12" and a_line["Cost"] == "160"  # 800 × NT$0.20
    assert by_key[("Sent group", "All", "All")]["Revenue"] == "129000"
    assert by_key[("Holdout", "", "")]["Members meant to be sent"] == "500"
    tests = rows[rows.index([]) + 1 :]
    assert tests[0][0] == "Test" and tests[0][-1] == "In words"
    assert any(row[-1].startswith("Variant B’s conversion rate is higher") for row in tests[1:])
    assert len(tests) == 1 + 3 + 2 + 1  # variant tests, holdout lift, store lift


def test_the_csv_of_an_empty_report_is_its_header(login_as):
    campaign = CampaignFactory()

    rows = _csv(login_as("carol").get(reverse("campaigns:report_csv", args=[campaign.pk])))

    assert rows[0][0] == "Group" and rows[1][0] == "Sent group" and len(rows) == 2


def test_the_report_needs_the_view_permission(client, ab_campaign):
    for name in ("campaigns:report_csv", "campaigns:report"):
        response = client.get(reverse(name, args=[ab_campaign.pk]))
        assert response.status_code in (302, 403)


# --- The list sorted by the figures ------------------------------------------------------------


@pytest.fixture
def three_campaigns():
    """Low revenue / many sent, high revenue, and one with no figures at all."""
    low = CampaignFactory(name="low")
    FiguresFactory(
        campaign=low, members=5000, opened=500, clicked=50, converted=5, revenue_online_twd=2_000
    )
    high = CampaignFactory(name="high")
    FiguresFactory(
        campaign=high,
        members=1000,
        opened=600,
        clicked=200,
        converted=50,
        revenue_online_twd=90_000,
    )
    none = CampaignFactory(name="none", status=Campaign.Status.DRAFT)
    return low, high, none


def _names(response) -> list[str]:
    return [row.campaign.name for row in response.context["rows"]]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-sent", ["low", "high", "none"]),
        ("sent", ["high", "low", "none"]),
        ("-revenue", ["high", "low", "none"]),
        ("-open_rate", ["high", "low", "none"]),
        ("click_rate", ["low", "high", "none"]),
        ("-conversions", ["high", "low", "none"]),
        ("-roi", ["high", "low", "none"]),
        ("roi", ["low", "high", "none"]),
    ],
)
def test_the_list_sorts_by_the_figures(login_as, three_campaigns, sort, expected):
    response = login_as("carol").get(reverse("campaigns:index"), {"sort": sort})

    assert response.status_code == 200
    assert _names(response) == expected


@pytest.mark.parametrize("sort", ["bogus", "-", "--roi", "name'; drop", "created_at"])
def test_a_bad_sort_gives_the_newest_first(login_as, three_campaigns, sort):
    response = login_as("carol").get(reverse("campaigns:index"), {"sort": sort})

    assert response.status_code == 200 and _names(response) == ["none", "high", "low"]


def test_the_list_shows_the_figures_and_roi(login_as, three_campaigns):
    html = login_as("bob").get(reverse("campaigns:index"), {"sort": "-roi"}).content.decode()

    # high: NT$90,000 for 1,000 LINE messages at NT$0.20 (NT$200): ROI (90,000 − 200) / 200.
    assert "NT$90,000" in html and "+44,900 %" in html
    assert 'aria-sort="descending"' in html
    assert "sort=roi" in html  # the header now offers ascending


def test_the_list_is_one_query_of_campaigns_and_figures(
    login_as, three_campaigns, django_assert_num_queries
):
    client = login_as("carol")
    for i in range(5):
        FiguresFactory(campaign=CampaignFactory(name=f"more {i}"), members=10 + i)
    client.get(reverse("campaigns:index"))  # warm the session and permissions

    # session, user, permissions (2), count, the page with its figures, the page's progress,
    # the automated messages (none here), the user's role (the layout)
    with django_assert_num_queries(9):
        response = client.get(reverse("campaigns:index"), {"sort": "-revenue"})
    assert response.status_code == 200


def test_the_sort_survives_the_status_filter_and_paging(login_as, three_campaigns):
    html = (
        login_as("bob")
        .get(reverse("campaigns:index"), {"sort": "-revenue", "status": "done"})
        .content.decode()
    )

    assert 'name="sort" value="-revenue"' in html


def test_the_report_reads_in_traditional_chinese(login_as, ab_campaign):
    client = login_as("carol")
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hant"

    html = client.get(reverse("campaigns:detail", args=[ab_campaign.pk])).content.decode()

    assert "版本 B的轉換率高於版本 A：6.0 % 對 4.0 %，差距 +2.0 個百分點" in html
    assert "在 95 % 信心水準下顯著" in html


def test_the_demo_campaigns_pages_read_well_with_whatever_figures_they_have(login_as, settings):
    from campaigns.demo import demo_campaigns_seed
    from crm.models import Segment
    from crm.segments.definition import EMPTY_DEFINITION
    from tests.factories import ConsentFactory, IdentityFactory, MemberFactory

    settings.CAMPAIGN_QUIET_HOURS = dict.fromkeys(("line", "email", "sms", "push"), "")
    for _ in range(3):
        member = MemberFactory()
        IdentityFactory(member=member, line=True)
        ConsentFactory(member=member, channel="line")
    demo_campaigns_seed(segment=Segment.objects.create(name="All", definition=EMPTY_DEFINITION))
    client = login_as("carol")

    for campaign in Campaign.objects.all():
        response = client.get(reverse("campaigns:detail", args=[campaign.pk]))
        csv_response = client.get(reverse("campaigns:report_csv", args=[campaign.pk]))
        assert response.status_code == 200 and csv_response.status_code == 200
        html = response.content.decode()
        assert 'data-testid="campaign-report"' in html
        # Figures from the conversions' recount, or the empty state until there are some.
        assert 'data-testid="report-funnel"' in html or 'data-testid="report-empty"' in html


def test_the_vendored_plotly_is_the_one_the_locked_python_package_ships():
    """`make vendor` copies it from the plotly package (uv.lock): an upgrade without re-vendoring
    would serve another version than the one the figures are built for."""
    from pathlib import Path

    import plotly
    from django.conf import settings

    shipped = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    vendored = Path(settings.BASE_DIR) / "static" / "vendor" / "plotly" / "plotly.min.js"
    assert vendored.read_bytes() == shipped.read_bytes()


def test_members_no_channel_reaches_have_a_column_named_so(login_as):
    # Given: a LINE column and the sent arm's members no channel reached (channel "")
    campaign = CampaignFactory()
    FiguresFactory(campaign=campaign, members=90, sent=90)
    FiguresFactory(campaign=campaign, channel="", members=10, sent=0, suppressed={"no_channel": 10})

    html = login_as("carol").get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()

    # Then the channel funnel's headers are LINE, "No channel" and "All", in that order
    funnel = html.split('data-testid="report-funnel"', 1)[1].split("</thead>", 1)[0]
    assert funnel.index("LINE") < funnel.index("No channel") < funnel.index("All")
    assert funnel.count("All") == 1
