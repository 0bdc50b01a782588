"""The home dashboard shows every registered KPI headline, the last 30 days against the 30
before, each tile linking to its KPI page; exact numbers on a small hand-checked set."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from omnichannel.kpis.registry import HEADLINES, Headline, Tile
from omnichannel.kpis.services import kpis_refresh
from tests.factories import MemberFactory
from tests.kpis.helpers import at, sale, write

pytestmark = pytest.mark.django_db(transaction=True)


def ago(days: int):
    return at(timezone.localdate() - timedelta(days=days))


@pytest.fixture
def sales():
    # Last 30 days: ann buys in store (1,000) and on the web (2,000, 500 of it returned);
    # bob buys in the app (600). The 30 days before: ann buys in store once (1,250).
    ann, bob = MemberFactory(home_store=None), MemberFactory(home_store=None)
    write(
        sale("S1", 1_000, ago(3), store="TPE01"),
        sale("W1", 2_000, ago(5), channel="web"),
        sale("W1-R", -500, ago(4), channel="web", returns="W1"),
        sale("S0", 1_250, ago(40), store="TPE01"),
        member=ann,
    )
    write(sale("A1", 600, ago(10), channel="app"), member=bob)
    kpis_refresh()


def section(html: str, key: str) -> str:
    return html.split(f'data-testid="headline-{key}"', 1)[1].split("</section>", 1)[0]


def tile(html: str, key: str) -> str:
    part = html.split(f'data-testid="tile-{key}"', 1)[1]
    return part.split('data-testid="tile-value">', 1)[1].split("<", 1)[0]


def test_the_sales_headline_shows_the_last_30_days_against_the_30_before(sales, login_as):
    html = login_as("carol").get("/").content.decode()

    sales_part = section(html, "sales")
    assert tile(sales_part, "orders") == "3"
    assert tile(sales_part, "revenue") == "NT$3,100"  # 1,000 + 2,000 − 500 + 600
    assert tile(sales_part, "average-order") == "NT$1,033"
    assert "+148.0%" in sales_part  # NT$3,100 against NT$1,250
    assert "NT$1,250" in sales_part  # before


def test_each_tile_links_to_its_kpi_page_with_the_same_period(sales, login_as):
    html = login_as("bob").get("/").content.decode()

    today = timezone.localdate()
    start = (today - timedelta(days=29)).isoformat()
    link = f'href="/kpis/channels/?start={start}&amp;end={today.isoformat()}&amp;compare=1"'
    sales_part = section(html, "sales")
    assert sales_part.count('data-testid="tile-link"') == 4
    assert sales_part.count(link) == 5  # the four tiles and "open the KPI page"


def test_the_online_and_store_split_reads_the_rollup(sales, login_as):
    html = login_as("carol").get("/").content.decode()

    online = html.split('data-testid="split-online"', 1)[1].split("</tr>", 1)[0]
    store = html.split('data-testid="split-store"', 1)[1].split("</tr>", 1)[0]
    assert "NT$2,100" in online and "68%" in online  # 2,000 − 500 + 600 of 3,100
    assert "NT$1,000" in store and "32%" in store


def test_the_dashboard_says_how_fresh_the_figures_are(login_as):
    client = login_as("carol")
    assert "rebuild_kpis" in client.get("/").content.decode()  # never computed

    kpis_refresh()

    html = client.get("/").content.decode()
    assert "rebuild_kpis" not in html
    assert 'data-testid="kpi-freshness">' in html


def test_every_registered_headline_shows_and_a_failing_one_does_not_break_the_page(login_as):
    def loyalty(filters):
        assert filters.compare and filters.days == 30
        return [Tile("points", "Points issued", 1_280, previous=1_000)]

    def broken(filters):
        raise RuntimeError("boom")

    with HEADLINES.scoped():
        HEADLINES.register(Headline("test-loyalty", "Loyalty", "channels", loyalty, order=1))
        HEADLINES.register(Headline("test-broken", "Broken", "channels", broken, order=2))
        response = login_as("carol").get("/")

    html = response.content.decode()
    assert response.status_code == 200
    assert tile(section(html, "test-loyalty"), "points") == "1,280"
    assert "+28.0%" in section(html, "test-loyalty")
    assert 'data-testid="headline-error"' in section(html, "test-broken")
    assert 'data-testid="headline-sales"' in html
    assert html.index("headline-test-loyalty") < html.index("headline-sales")  # in order


def test_a_user_without_the_kpi_permission_sees_no_kpi_figures(sales, client):
    dave = get_user_model().objects.create_user("dave", password="x")
    client.force_login(dave)

    response = client.get("/")

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="no-kpis"' in html
    assert "headline-sales" not in html and "NT$" not in html


def test_the_dashboard_runs_a_bounded_number_of_queries(login_as, django_assert_num_queries):
    # Given the queries of an empty dashboard whose rollups were refreshed once
    kpis_refresh()
    client = login_as("carol")
    client.get("/")
    with CaptureQueriesContext(connection) as empty:
        client.get("/")

    # When there are many members and orders, the count stays the same
    members = [MemberFactory(home_store=None) for _ in range(5)]
    for n, member in enumerate(members):
        write(
            *(sale(f"O{n}-{day}", 100 + day, ago(day), channel="web") for day in range(1, 70, 3)),
            member=member,
        )
    kpis_refresh()
    with django_assert_num_queries(len(empty)):
        client.get("/")
    assert len(empty) <= 40  # four headlines (sales, messaging, members, loyalty), each compared
