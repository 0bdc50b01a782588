"""A marketer opens the loyalty jobs tab, sees the birthday run with what it sent and held
back, and follows "Edit the message" to the automated message in the campaign builder."""

from datetime import date

import pytest
from playwright.sync_api import expect

from loyalty.services.birthday import birthday_job_run
from tests.campaigns.settings_helpers import use_sandbox
from tests.loyalty.jobs_helpers import DAY, NOW, member, run_pipeline

pytestmark = pytest.mark.browser


@pytest.fixture
def birthday_run(transactional_db, settings, tmp_path):
    use_sandbox(settings, tmp_path)
    settings.LOYALTY_BIRTHDAY_ON = "day"
    member(birthday=date(1985, 12, 7))
    member(birthday=date(1986, 12, 7), email="out")
    run = birthday_job_run(day=DAY, now=NOW)
    run_pipeline(run.campaign, now=NOW)
    return run


def test_jobs_tab_shows_the_run_and_leads_to_the_message(browser_login, live_server, birthday_run):
    page = browser_login("bob")
    page.goto(f"{live_server.url}/loyalty/")
    page.click("[data-testid=loyalty-tabs] a[href='/loyalty/jobs/']")
    section = page.locator("[data-testid=job-birthday]")
    expect(section.locator("[data-testid=job-run]")).to_have_count(1)
    expect(section.locator("[data-testid=job-run-due]")).to_have_text("2")
    expect(section.locator("[data-testid=job-run-suppressed] li")).to_have_count(1)
    section.locator("[data-testid=job-edit-message]").click()
    expect(page.locator("[data-testid=automated-message]")).to_be_visible()
    assert page.url.endswith(f"/campaigns/{birthday_run.campaign.template_id}/edit/")
