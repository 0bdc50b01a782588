"""/loyalty/jobs/: each job's recent runs, what they reached and what the pipeline held back
(reasons translated), a failed run's error, and the link to edit each sending job's message."""

from datetime import date

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import translation

from loyalty.models import LoyaltyJob, LoyaltyJobRun
from loyalty.selectors_jobs import loyalty_job_sections
from loyalty.services.birthday import birthday_job_run
from loyalty.services.jobs import loyalty_job_logged
from tests.campaigns.settings_helpers import use_sandbox
from tests.loyalty.jobs_helpers import DAY, NOW, member, run_pipeline

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sandbox(settings, tmp_path):
    use_sandbox(settings, tmp_path)
    settings.LOYALTY_BIRTHDAY_ON = "day"


@pytest.fixture
def birthday_run():
    member(birthday=date(1985, 12, 7))
    member(birthday=date(1986, 12, 7), email="out")
    run = birthday_job_run(day=DAY, now=NOW)
    run_pipeline(run.campaign, now=NOW)
    return run


def test_the_page_shows_each_jobs_runs_and_the_held_back(login_as, birthday_run):
    loyalty_job_logged(job=LoyaltyJob.EXPIRY, period="2026-12-07", work=lambda: 12)

    def broken():
        raise RuntimeError("disk full")

    loyalty_job_logged(job=LoyaltyJob.TIERS, period="2026-12-07", work=broken)
    with translation.override("zh-hant"):
        page = login_as("bob").get(reverse("loyalty:jobs"), HTTP_ACCEPT_LANGUAGE="zh-hant")
    html = page.content.decode()
    assert page.status_code == 200
    birthday = html.split('data-testid="job-birthday"')[1].split("</section>")[0]
    assert 'data-testid="job-run-due">2<' in birthday
    assert f'href="/campaigns/{birthday_run.campaign_id}/"' in birthday
    assert 'data-reason="unsubscribed"' in birthday
    assert "1 sent" in birthday or "已送出 1" in birthday or "1 則已送出" in birthday
    assert f'href="/campaigns/{birthday_run.campaign.template_id}/edit/"' in birthday
    tiers = html.split('data-testid="job-tiers"')[1].split("</section>")[0]
    assert "disk full" in tiers
    reminders = html.split('data-testid="job-points_reminder"')[1].split("</section>")[0]
    assert 'data-testid="job-no-runs"' in reminders


def test_an_analyst_sees_counts_and_no_edit_link(login_as, birthday_run):
    html = login_as("carol").get(reverse("loyalty:jobs")).content.decode()
    assert 'data-testid="job-edit-message"' not in html
    assert 'data-testid="job-run"' in html


@override_settings(LANGUAGE_CODE="zh-hant")
def test_reasons_are_translated(birthday_run):
    with translation.override("zh-hant"):
        (section,) = [s for s in loyalty_job_sections() if s.job == "birthday"]
        (row,) = section.runs
        ((reason, label, n),) = row.suppressed
        assert (reason, n) == ("unsubscribed", 1)
        assert str(label) != "Unsubscribed"


def test_the_list_is_bounded_and_costs_a_few_queries(login_as, django_assert_max_num_queries):
    for n in range(15):
        loyalty_job_logged(job=LoyaltyJob.EXPIRY, period=f"p{n}", work=lambda: 1)
    client = login_as("bob")
    client.get(reverse("loyalty:jobs"))  # session, user, permissions warm
    with django_assert_max_num_queries(8):
        html = client.get(reverse("loyalty:jobs")).content.decode()
    expiry = html.split('data-testid="job-expiry"')[1].split("</section>")[0]
    assert expiry.count('data-testid="job-run"') == 10


def test_expiry_and_tier_tasks_log_their_runs():
    from loyalty.tasks import points_expire_task, tiers_nightly_task

    points_expire_task()
    tiers_nightly_task()
    assert set(LoyaltyJobRun.objects.values_list("job", "status")) == {
        ("expiry", "done"),
        ("tiers", "done"),
    }


def test_the_jobs_are_on_the_beat_schedule_with_their_whys():
    from omnichannel.schedule import SCHEDULE

    tasks = {job.task: job for job in SCHEDULE}
    for task in (
        "loyalty.tasks.birthday_job_task",
        "loyalty.tasks.points_reminder_job_task",
        "loyalty.tasks.points_expire_task",
        "loyalty.tasks.tiers_nightly_task",
    ):
        assert tasks[task].why
    assert tasks["loyalty.tasks.birthday_job_task"].hour == "9"
