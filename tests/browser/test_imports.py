"""A marketer imports a file in the browser: upload, preview, confirm, progress, report."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from crm.models import Order

FIXTURES = Path(__file__).parents[1] / "crm" / "fixtures" / "imports"
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("celery-worker")]


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_upload_preview_confirm_and_download_the_report(browser_login, celery_worker):
    page = browser_login("bob")
    page.click("nav[data-testid=nav] a[href='/imports/']")

    page.set_input_files("input[name=file]", str(FIXTURES / "marketplace_orders.csv"))
    page.select_option("select[name=preset]", "marketplace_orders")
    page.click("form[data-testid=import-form] button[type=submit]")

    # The check runs in the worker; the page polls until the preview shows.
    expect(page.locator("[data-testid=preview-summary]")).to_be_visible(timeout=20_000)
    expect(page.locator("[data-testid=preview-issues]")).to_contain_text("09******78")
    assert not Order.objects.exists()

    page.click("[data-testid=confirm-import]")
    expect(page.locator("[data-testid=import-result]")).to_be_visible(timeout=20_000)
    expect(page.locator("[data-testid=job-status]")).to_have_attribute("data-status", "done")
    assert Order.objects.count() == 2

    with page.expect_download() as download:
        page.click("[data-testid=report-link]")
    report = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert report.startswith("行,欄位,值,嚴重程度,原因")
    assert "收件者電話" in report


def test_a_big5_file_with_a_bad_line_imports_its_good_rows(
    browser_login, celery_worker, live_server, tmp_path
):
    # Given a marketplace export saved by Excel on zh-Hant Windows (Big5) with one line whose
    # status no platform writes, and Shopee's own spelling of a return.
    header = (FIXTURES / "marketplace_orders.csv").read_text(encoding="utf-8").splitlines()[0]
    path = tmp_path / "shopee-big5.csv"
    path.write_bytes(
        (
            header + "\r\n"
            "shopee,A1,2025-03-12 10:22,退貨/退款,mei_chen88,陳美玲,,1190\r\n"
            "shopee,A2,2025-03-12 10:22,已寄達,mei_chen88,陳美玲,,990\r\n"
            "shopee,A3,2025-03-13 09:00,不成立,mei_chen88,陳美玲,,590\r\n"
        ).encode("cp950")
    )
    page = browser_login("bob")
    page.goto(f"{live_server.url}/imports/")

    page.set_input_files("input[name=file]", str(path))
    page.select_option("select[name=preset]", "marketplace_orders")
    page.select_option("select[name=encoding]", "big5")
    page.click("form[data-testid=import-form] button[type=submit]")

    expect(page.locator("[data-testid=preview-summary]")).to_be_visible(timeout=20_000)
    expect(page.locator("[data-testid=preview-issues]")).to_contain_text("已寄達")
    page.click("[data-testid=confirm-import]")
    expect(page.locator("[data-testid=job-status]")).to_have_attribute(
        "data-status", "done", timeout=20_000
    )
    assert dict(Order.objects.values_list("external_no", "status")) == {
        "shopee:A1": "returned",
        "shopee:A3": "cancelled",
    }
