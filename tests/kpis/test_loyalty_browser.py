"""The Loyalty KPI page in Chromium: every chart drawn, no console error, no request off the
server, a filter changed (htmx swap), a chart's CSV downloaded."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from loyalty.models import Coupon, Reward, WalletPass
from omnichannel.kpis.services import kpis_refresh
from tests.factories import MemberFactory
from tests.kpis.helpers import at, sale, write
from tests.loyalty.overview_data import Kind, account_for, post, taipei, tiers_ensure

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

TODAY = timezone.localdate()
WAIT = 20_000  # ms: a loaded machine


@pytest.fixture
def loyalty_data(transactional_db):
    tiers_ensure()
    holder, other = MemberFactory(), MemberFactory()
    account = account_for(holder, tier_rank=1)
    post(account, Kind.EARN, 1_200, taipei(TODAY - timedelta(days=60)))
    post(account, Kind.EARN, 800, taipei(TODAY - timedelta(days=3)))
    post(account, Kind.REDEEM, -300, taipei(TODAY - timedelta(days=2)))
    post(account, Kind.EXPIRE, -100, taipei(TODAY - timedelta(days=1)))
    reward = Reward.objects.create(name="Tea", points_price=300)
    issued = taipei(TODAY - timedelta(days=2))
    Coupon.objects.create(
        code="C00000001",
        reward=reward,
        account=account,
        issued_at=issued,
        expires_at=issued + timedelta(days=30),
    )
    WalletPass.objects.create(
        member=holder,
        platform=WalletPass.Platform.APPLE,
        serial="apple-1",
        authentication_token="t",
        installed=True,
        installed_at=taipei(TODAY - timedelta(days=5)),
    )
    # This month: the holder buys twice on the web, the other member once.
    write(
        sale("LB-1", 500, at(TODAY, hour=10), channel="web"),
        sale("LB-2", 700, at(TODAY, hour=11), channel="web"),
        member=holder,
    )
    write(sale("LB-3", 300, at(TODAY, hour=10), channel="web"), member=other)
    kpis_refresh()


def test_the_loyalty_page_draws_every_chart_filters_and_downloads_csv(
    browser_login, live_server, loyalty_data
):
    page = browser_login("carol")
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)

    page.goto(f"{live_server.url}/kpis/loyalty/")

    figures = page.locator("[data-plotly-figure]")
    expect(figures).to_have_count(5, timeout=WAIT)
    for index in range(5):
        expect(figures.nth(index)).to_have_attribute("data-drawn", "true", timeout=WAIT)
    expect(page.locator("[data-testid=tile-issued] [data-testid=tile-value]")).to_have_text("800")
    expect(
        page.locator("[data-testid=tile-holders-frequency] [data-testid=tile-value]")
    ).to_have_text("2.00×")
    expect(page.locator("[data-testid=kpi-section-error]")).to_have_count(0)

    # Compare with the period before: the body is swapped, the tiles get their change.
    page.locator("#id_compare").check()
    expect(page.locator("[data-testid=tile-issued] [data-testid=tile-delta]")).to_be_visible(
        timeout=WAIT
    )
    assert "compare=" in page.url  # the filters are in the address (bookmarkable)
    figures = page.locator("[data-plotly-figure]")
    for index in range(5):
        expect(figures.nth(index)).to_have_attribute("data-drawn", "true", timeout=WAIT)

    with page.expect_download(timeout=WAIT) as download:
        page.locator("[data-testid=chart-points-per-day] [data-testid=chart-csv]").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert len(text.splitlines()) == 31  # the header and the 30 days of the default period
    assert f"{TODAY - timedelta(days=2)},0,300,0,0" in text
    assert "compare" in download.value.url

    assert console_errors == []
