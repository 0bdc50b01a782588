"""The KPI pages' shell: filters from the URL (wrong ones shown, not a 500), tiles with the
change against the period before, charts with their CSV, and a failing section that leaves the
rest of the page standing."""

from datetime import date

import pytest

from omnichannel.charts import bar_trace, figure_data, kpi_figure
from omnichannel.kpis.registry import PAGES, Chart, KpiContent, KpiPage, Tile
from tests.factories import StoreFactory

pytestmark = pytest.mark.django_db

SEEN = []


def figures(filters):
    SEEN.append(filters)
    figure = kpi_figure()
    figure.add_trace(bar_trace("Orders", ["2026-12-01"], [3], channel="store"))
    return KpiContent(
        tiles=[
            Tile("orders", "Orders", 120, previous=100 if filters.compare else None),
            Tile("rate", "Open rate", 25.0, unit="percent", previous=30.0),
        ],
        charts=[
            Chart(
                "per-day",
                "Orders per day",
                ["Day", "Orders"],
                [[date(2026, 12, 1), 3]],
                figure=figure_data(figure),
            ),
            Chart(
                "per-store",
                "Per store",
                ["Store", "Revenue"],
                [["台北", 1_280]],
                table=True,
                units=["text", "twd"],
            ),
        ],
    )


def broken(filters):
    raise ZeroDivisionError("a bad value")


@pytest.fixture
def test_page():
    SEEN.clear()
    with PAGES.scoped():
        PAGES.register(
            KpiPage(
                slug="test-page",
                title="Test",
                icon="graph-up",
                sections=(figures, broken),
                channels=(("store", "Store"),),
                order=0,
            )
        )
        yield


def test_the_page_shows_tiles_charts_and_a_failed_section_without_failing(test_page, login_as):
    response = login_as("carol").get("/kpis/test-page/?start=2026-11-01&end=2026-11-30&compare=1")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="tile-orders"' in html and "+20.0%" in html  # 120 against 100
    assert "−5.0 個百分點" in html  # a rate changes in percentage points
    assert 'data-plotly-figure="per-day"' in html
    assert "NT$1,280" in html
    assert 'data-testid="kpi-section-error"' in html
    (filters,) = SEEN
    assert (filters.start, filters.end, filters.compare) == (
        date(2026, 11, 1),
        date(2026, 11, 30),
        True,
    )
    assert (filters.previous().start, filters.previous().end) == (
        date(2026, 10, 2),
        date(2026, 10, 31),
    )


def test_wrong_filters_are_shown_beside_their_fields_and_ignored(test_page, login_as):
    url = "/kpis/test-page/?start=2026-12-05&end=2026-12-01&store=NOPE&segment=999&channel=fax"

    response = login_as("carol").get(url)

    assert response.status_code == 200
    html = response.content.decode()
    for field in ("end", "store", "segment", "channel"):
        assert f'data-testid="filter-error-{field}"' in html
    assert 'value="2026-12-05"' in html  # what was typed stays in the field
    (filters,) = SEEN
    assert filters.store is None and filters.segment is None and filters.channel == ""
    assert filters.days == 30  # the default period


def test_the_store_filter_reads_a_store_code(test_page, login_as):
    store = StoreFactory(code="TPE01")
    login_as("carol").get("/kpis/test-page/?store=TPE01&channel=store")
    (filters,) = SEEN
    assert filters.store == store and filters.channel == "store"
    assert "store=TPE01" in filters.query()


def test_a_chart_downloads_as_csv_with_the_same_filters(test_page, login_as):
    response = login_as("bob").get("/kpis/test-page/per-store.csv?start=2026-11-01&end=2026-11-30")

    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        'attachment; filename="kpis-test-page-per-store-20261101-20261130.csv"'
    )
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert body.splitlines() == ["Store,Revenue", "台北,1280"]


def test_an_unknown_chart_or_page_is_404(test_page, login_as):
    client = login_as("carol")
    assert client.get("/kpis/test-page/nope.csv").status_code == 404
    assert client.get("/kpis/nope/").status_code == 404


def test_kpis_redirects_to_the_first_page_with_its_filters(test_page, login_as):
    response = login_as("carol").get("/kpis/?start=2026-11-01")
    assert response.status_code == 302
    assert response["Location"] == "/kpis/test-page/?start=2026-11-01"


def test_an_htmx_filter_change_gets_the_body_only(test_page, login_as):
    response = login_as("carol").get("/kpis/test-page/?compare=1", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="kpi-body"')
    assert "<html" not in html
    # The tabs are in the swapped body: after an htmx filter change they carry the new query.
    assert 'data-testid="kpi-tab-test-page"' in html
    assert 'href="/kpis/test-page/?' in html
    tab = html[html.index('data-testid="kpi-tabs"') :]
    assert "compare=1" in tab[: tab.index("</nav>")]


def test_a_chart_csv_builds_only_the_sections_up_to_its_chart(login_as):
    """chart_csv stops at the section that has the key; one that raises is skipped (no 500)."""
    built = []

    def later(filters):
        built.append("later")
        return KpiContent()

    def first(filters):
        built.append("first")
        return figures(filters)

    with PAGES.scoped():
        PAGES.register(
            KpiPage(
                slug="csv-page",
                title="CSV",
                icon="graph-up",
                sections=(broken, first, later),
                order=1,
            )
        )
        response = login_as("carol").get("/kpis/csv-page/per-store.csv")
        assert response.status_code == 200
        assert "台北" in b"".join(response.streaming_content).decode("utf-8-sig")
        assert built == ["first"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("end=0001-01-01", "end"),  # would overflow the default start
        ("start=9999-12-31&compare=1", "start"),  # would overflow the period before
        ("start=2030-01-01&compare=1", "start"),  # no end: today, before the start
        ("start=1900-01-01", "start"),  # no end: a century
        ("start=2001-01-01", "start"),  # no end: longer than five years
    ],
)
def test_a_far_or_backwards_period_is_an_error_beside_its_field_not_a_500(
    test_page, login_as, query, field
):
    response = login_as("carol").get(f"/kpis/test-page/?{query}")

    assert response.status_code == 200
    assert f'data-testid="filter-error-{field}"' in response.content.decode()
    (filters,) = SEEN
    assert filters.days == 30  # the default period is shown
