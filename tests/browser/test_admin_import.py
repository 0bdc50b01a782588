"""An operator imports a member list from the Django admin: the preset import's own pages."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from crm.models import Member

FIXTURES = Path(__file__).parents[1] / "crm" / "fixtures" / "imports"
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("celery-worker")]


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_member_list_imported_from_the_admin(browser_login, live_server, celery_worker):
    page = browser_login("alice")
    page.goto(f"{live_server.url}/admin/crm/member/")

    page.click("[data-testid=preset-import-link]")
    page.set_input_files("input[name=file]", str(FIXTURES / "members.csv"))
    page.check("input[name=strict]")
    page.click("form[data-testid=preset-import-form] input[type=submit]")

    # The admin hands the file to the Imports page: preview, confirm, progress, report.
    expect(page.locator("[data-testid=preview-summary]")).to_be_visible(timeout=20_000)
    assert not Member.objects.exists()
    page.click("[data-testid=confirm-import]")
    expect(page.locator("[data-testid=job-status]")).to_have_attribute(
        "data-status", "done", timeout=20_000
    )
    expect(page.locator("[data-testid=report-link]")).to_be_visible()

    member = Member.objects.get()
    assert member.member_no == "M000123"
    page.goto(f"{live_server.url}/admin/crm/member/?q=0912-345-678")
    expect(page.locator("#result_list")).to_contain_text("M000123")
