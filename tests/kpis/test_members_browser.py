"""The Members / OMO page in Chromium: every chart drawn, no console error, no request off the
test server, a filter changed through htmx, and a chart's numbers downloaded as CSV."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from crm.services.stats import member_stats_rebuild
from omnichannel.kpis.clv import ClvParams, clv_models_refresh
from omnichannel.kpis.services import kpis_rebuild
from tests.factories import MemberFactory
from tests.kpis.helpers import at, sale, write

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

TODAY = timezone.localdate()
KNOWN = ClvParams(r=0.25, alpha=4.0, a=0.8, b=2.5, p=6.0, q=4.0, v=15.0)
FIGURES = ("new-members-per-day", "omo-spend", "clv-by-channel", "rfm-grid", "cohort-retention")


@pytest.fixture
def members(transactional_db):
    # Three members joined in the last 30 days (two by LINE, one in a store) and one long ago;
    # two days ago (one calendar month: OMO counts per month) ann bought in store and on the
    # web, bob in store, cat in the app (he also bought 100 days ago).
    days = [TODAY - timedelta(days=n) for n in (20, 10, 2, 2)]
    ann = MemberFactory(home_store=None, acquisition_channel="line", joined_at=at(days[0]))
    bob = MemberFactory(home_store=None, acquisition_channel="store", joined_at=at(days[0]))
    MemberFactory(home_store=None, acquisition_channel="line", joined_at=at(days[1]))
    cat = MemberFactory(
        home_store=None, acquisition_channel="web", joined_at=at(TODAY - timedelta(days=200))
    )
    write(
        sale("A1", 1_000, at(days[2], 10), store="TPE01"),
        sale("A2", 2_000, at(days[2]), channel="web"),
        member=ann,
    )
    write(sale("B1", 500, at(days[2]), store="TPE01"), member=bob)
    write(
        sale("C1", 400, at(TODAY - timedelta(days=100)), channel="app"),
        sale("C2", 800, at(days[3]), channel="app"),
        member=cat,
    )
    member_stats_rebuild()
    kpis_rebuild()
    clv_models_refresh(params=KNOWN)


def test_the_members_page_draws_every_chart_filters_and_downloads(
    browser_login, live_server, members, tmp_path
):
    page = browser_login("carol")
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)

    page.goto(f"{live_server.url}/kpis/members/")

    for key in FIGURES:
        expect(page.locator(f"[data-plotly-figure='{key}']")).to_have_attribute(
            "data-drawn", "true", timeout=20_000
        )
    expect(page.locator("[data-testid=kpi-section-error]")).to_have_count(0)
    expect(page.locator("[data-testid=tile-new-members] [data-testid=tile-value]")).to_have_text(
        "3"
    )
    expect(page.locator("[data-testid=tile-omo-share] [data-testid=tile-value]")).to_have_text(
        "33.3%"
    )

    # Members who joined through LINE only: the htmx swap redraws the page's body.
    page.select_option("#id_channel", "line")
    expect(page.locator("[data-testid=tile-new-members] [data-testid=tile-value]")).to_have_text(
        "2", timeout=20_000
    )
    assert "channel=line" in page.url
    for key in FIGURES:
        expect(page.locator(f"[data-plotly-figure='{key}']")).to_have_attribute(
            "data-drawn", "true", timeout=20_000
        )

    with page.expect_download(timeout=20_000) as download:
        page.locator("[data-testid=chart-omo] [data-testid=chart-csv]").click()
    path = tmp_path / "omo.csv"
    download.value.save_as(path)
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    assert lines[1].startswith("同月 OMO（線上與門市）,1,33.3,3000,")
    assert "channel=line" in download.value.url

    assert console_errors == []
