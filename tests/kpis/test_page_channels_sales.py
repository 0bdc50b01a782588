"""The Channels page's sales part, to exact numbers on a small hand-checked set."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Member, Segment
from omnichannel.kpis.filters import KpiFilters
from omnichannel.kpis.pages.channels import sales_section
from omnichannel.kpis.selectors_sales import active_members, sales_by_channel, sales_totals
from omnichannel.kpis.services import kpis_refresh
from tests.factories import MemberFactory
from tests.kpis.helpers import at, sale, write

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sales():
    # 1 Nov – 30 Nov: ann buys in store twice (1,000 + 500) and on the web (2,000, 300 of it
    # returned); bob buys in the app (700). In October ann bought once in store (900).
    ann, bob = MemberFactory(home_store=None), MemberFactory(home_store=None)
    write(
        sale("S0", 900, at(date(2026, 10, 20)), store="TPE01"),
        sale("S1", 1_000, at(date(2026, 11, 2)), store="TPE01"),
        sale("S2", 500, at(date(2026, 11, 3)), store="KHH01"),
        sale("W1", 2_000, at(date(2026, 11, 5)), channel="web"),
        sale("W1-R", -300, at(date(2026, 11, 6)), channel="web", returns="W1"),
        member=ann,
    )
    write(sale("A1", 700, at(date(2026, 11, 7)), channel="app"), member=bob)
    kpis_refresh()


def tile(html: str, key: str) -> str:
    part = html.split(f'data-testid="tile-{key}"', 1)[1]
    return part.split('data-testid="tile-value">', 1)[1].split("<", 1)[0]


def test_the_sales_tiles_add_up(sales, login_as):
    html = login_as("carol").get("/kpis/channels/?start=2026-11-01&end=2026-11-30").content.decode()

    assert tile(html, "orders") == "4"
    assert tile(html, "revenue") == "NT$3,900"  # 1,000 + 500 + 2,000 − 300 + 700
    assert tile(html, "average-order") == "NT$975"
    assert tile(html, "active-members") == "2"


def test_a_store_narrows_the_sales(sales, login_as):
    html = (
        login_as("carol")
        .get("/kpis/channels/?start=2026-11-01&end=2026-11-30&store=KHH01")
        .content.decode()
    )
    assert tile(html, "orders") == "1"
    assert tile(html, "revenue") == "NT$500"


def test_compare_shows_the_change_against_the_month_before(sales, login_as):
    html = (
        login_as("carol")
        .get("/kpis/channels/?start=2026-11-01&end=2026-11-30&compare=1")
        .content.decode()
    )
    orders = html.split('data-testid="tile-orders"', 1)[1].split('data-testid="tile-delta">', 1)[1]
    assert "+300.0%" in orders.split("</div>", 1)[0]  # 4 against 1 (31 Oct – 1 Oct: S0)


def test_the_channel_table_downloads_as_csv(sales, login_as):
    response = login_as("carol").get(
        "/kpis/channels/sales-channels.csv?start=2026-11-01&end=2026-11-30"
    )
    lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[0].startswith("通路,訂單數,")  # the page's language (zh-Hant by default)
    assert lines[1:] == [
        "門市,2,1500,750,38.5,1",
        "官網,1,1700,1700,43.6,1",
        "電商平台,0,0,,0.0,0",
        "App,1,700,700,17.9,1",
        "LINE 購物,0,0,,0.0,0",
    ]


def test_the_sales_section_counts_active_members_in_all_and_per_channel_in_one_pass(sales):
    # 25 Oct – 30 Nov: ann (store in October and November, web) and bob (app): 2 in all; per
    # channel ann twice (store, web), bob once. A segment of everyone gives the same.
    Member.objects.update(gender="female")
    everyone = Segment.objects.create(
        name="Everyone",
        definition={
            "op": "and",
            "rules": [{"rule": "gender", "operator": "is", "value": "female"}],
        },
    )
    for segment in (None, everyone):
        filters = KpiFilters(start=date(2026, 10, 25), end=date(2026, 11, 30), segment=segment)

        active = active_members(filters)

        assert active.total == sales_totals(filters).active_members == 2
        assert active.per_channel == {"store": 1, "web": 1, "app": 1}
        by_channel = {row.channel: row.active_members for row in sales_by_channel(filters)}
        assert {channel: n for channel, n in by_channel.items() if n} == active.per_channel
        with CaptureQueriesContext(connection) as captured:
            sales_section(filters)
        activity = [q for q in captured.captured_queries if "kpis_memberactivitydaily" in q["sql"]]
        assert len(activity) == 1, activity
