"""The home dashboard in Chromium: the KPI headlines render with their figures, nothing is
logged to the console, nothing is fetched off the server, and a tile opens its KPI page."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from omnichannel.kpis.services import kpis_refresh
from tests.factories import MemberFactory
from tests.kpis.helpers import at, sale, write

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
WAIT = 20_000  # ms: a loaded 2-core machine


@pytest.fixture
def sales(transactional_db):
    today = timezone.localdate()
    ann = MemberFactory(home_store=None)
    write(
        sale("S1", 1_000, at(today - timedelta(days=3)), store="TPE01"),
        sale("W1", 2_000, at(today - timedelta(days=5)), channel="web"),
        sale("S0", 1_500, at(today - timedelta(days=40)), store="TPE01"),
        member=ann,
    )
    kpis_refresh()


def test_the_dashboard_shows_the_kpi_headlines_and_a_tile_opens_its_page(
    browser_login, live_server, offsite_requests, sales
):
    console_errors: list[str] = []
    page = browser_login("carol")
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else 0)
    page.reload()

    sales_part = page.locator("[data-testid=headline-sales]")
    expect(sales_part.locator("[data-testid=tile-orders] [data-testid=tile-value]")).to_have_text(
        "2", timeout=WAIT
    )
    expect(sales_part.locator("[data-testid=tile-revenue] [data-testid=tile-value]")).to_have_text(
        "NT$3,000"
    )
    expect(
        sales_part.locator("[data-testid=tile-revenue] [data-testid=tile-delta]")
    ).to_contain_text("+100.0%")
    expect(page.locator("[data-testid=kpi-freshness]")).to_be_visible()
    expect(page.locator("[data-testid=split-online]")).to_contain_text("NT$2,000")

    sales_part.locator("[data-testid=tile-revenue]").click()  # the whole tile is the link

    page.wait_for_url(f"{live_server.url}/kpis/channels/**", timeout=WAIT)
    expect(page.locator("[data-testid=kpi-body]")).to_have_attribute("data-page", "channels")
    expect(page.locator("[data-testid=tile-revenue] [data-testid=tile-value]")).to_have_text(
        "NT$3,000", timeout=WAIT
    )
    expect(page.locator("[data-testid=tile-revenue] [data-testid=tile-delta]")).to_be_visible()
    assert console_errors == []
    assert offsite_requests == []
