"""A marketer reads the Channels page in the browser: every chart is drawn, nothing logs an
error or leaves the server, a filter swaps the page in place (htmx), a chart's CSV downloads."""

from datetime import date

import pytest
from playwright.sync_api import expect

from crm.services.touchpoints import TouchpointIn, touchpoints_write_batch
from omnichannel.kpis.services import kpis_refresh
from tests.factories import MemberFactory
from tests.kpis.helpers import at, sale, write
from tests.kpis.messaging_data import PRICES, messaging_seed

pytestmark = pytest.mark.browser

WAIT = 20_000  # ms: a loaded two-core machine
NOVEMBER = "start=2026-11-01&end=2026-11-30"
CHARTS = ("revenue-per-day", "orders-per-day", "messages-per-day", "conversions-per-day")


@pytest.fixture
def channels_data(transactional_db, settings):
    settings.CAMPAIGN_MESSAGE_PRICE_CENTS = PRICES
    messaging_seed()
    buyer = MemberFactory(home_store=None)
    write(sale("S9", 1_200, at(date(2026, 11, 4)), store="TPE01"), member=buyer)
    touchpoints_write_batch(
        touchpoints=[
            TouchpointIn("line", "line_follow", at(date(2026, 11, 3))),
            TouchpointIn("line", "line_block", at(date(2026, 11, 6))),
        ],
        member_ids=[buyer.pk, buyer.pk],
    )
    kpis_refresh()


def test_the_channels_page_draws_filters_and_downloads(browser_login, live_server, channels_data):
    page = browser_login("carol")
    console_errors: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and console_errors.append(msg.text))
    page.goto(f"{live_server.url}/kpis/channels/?{NOVEMBER}")

    for key in (*CHARTS, "line-friends"):
        chart = page.locator(f"[data-testid=chart-{key}] [data-plotly-figure]")
        expect(chart).to_have_attribute("data-drawn", "true", timeout=WAIT)
    drawn = page.locator("[data-plotly-figure]")
    assert drawn.count() == page.locator("[data-plotly-figure][data-drawn=true]").count()
    expect(page.locator("[data-testid=tile-messages-sent] [data-testid=tile-value]")).to_have_text(
        "7"
    )
    expect(page.locator("[data-testid=chart-messaging-channels] table")).to_be_visible()

    # A messaging channel: htmx swaps the body, the URL keeps the filter.
    page.select_option("[data-testid=kpi-filters] select[name=channel]", "email")
    page.wait_for_url("**channel=email**", timeout=WAIT)
    expect(page.locator("[data-testid=tile-messages-sent] [data-testid=tile-value]")).to_have_text(
        "2", timeout=WAIT
    )
    expect(page.locator("[data-testid=chart-line-friends]")).to_have_count(0)
    expect(
        page.locator("[data-testid=chart-messages-per-day] [data-plotly-figure]")
    ).to_have_attribute("data-drawn", "true", timeout=WAIT)

    with page.expect_download(timeout=WAIT) as download:
        page.locator("[data-testid=chart-messaging-channels] [data-testid=chart-csv]").click()
    lines = open(download.value.path(), encoding="utf-8-sig").read().splitlines()  # noqa: SIM115
    assert lines[1] == "Email,4,2,2,100.0,50.0,50.0,25.0,500,200,150.0,50.0,"
    assert console_errors == []
