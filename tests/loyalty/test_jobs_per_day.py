"""The beat jobs' run campaign is per run day: the template's edits reach the next day's run, a
paused/cancelled day's campaign is recorded on the job run and stops only that day, the page's
figures are the day's, an ended run is extended only for members its snapshot would take; and
the birthday job catches up failed or missed days, once, and lets database errors retry."""

from datetime import date, datetime, timedelta

import pytest
from django.db import OperationalError
from django.urls import reverse

from campaigns.models import Campaign, Message
from campaigns.services import campaign_snapshot
from crm.models import Member
from loyalty.models import LoyaltyJob, LoyaltyJobMessage, LoyaltyJobRun
from loyalty.selectors_jobs import loyalty_job_sections
from loyalty.services.birthday import birthday_job_run
from tests.campaigns.settings_helpers import use_sandbox
from tests.loyalty.jobs_helpers import DAY, NOW, TAIPEI, deliveries, member, run_pipeline

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sandbox(settings, tmp_path):
    use_sandbox(settings, tmp_path)
    settings.LOYALTY_BIRTHDAY_ON = "day"


def _at(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), TAIPEI).replace(hour=9)


def _run(day: date) -> LoyaltyJobRun:
    return birthday_job_run(day=day, now=_at(day))


def _template() -> Campaign:
    return Campaign.objects.get(trigger="loyalty.birthday")


def test_an_edit_to_the_message_reaches_the_next_days_run():
    first = member(birthday=date(1985, 12, 7))
    second = member(birthday=date(1985, 12, 8))
    today = _run(DAY)
    Message.objects.filter(campaign=_template(), channel="email").update(
        content={"subject": "Edited", "text": "Happy birthday {{name}}"}
    )

    tomorrow = _run(DAY + timedelta(days=1))

    assert today.campaign.period == "2026-12-07"
    assert tomorrow.campaign.period == "2026-12-08"
    assert tomorrow.campaign_id != today.campaign_id
    email = Message.objects.get(campaign=tomorrow.campaign, channel="email")
    assert email.content["subject"] == "Edited"
    assert Message.objects.get(campaign=today.campaign, channel="email").content["subject"] != (
        "Edited"
    )
    run_pipeline(today.campaign, now=NOW)
    run_pipeline(tomorrow.campaign, now=_at(DAY + timedelta(days=1)))
    assert set(deliveries(today.campaign)) == {first.pk}
    assert set(deliveries(tomorrow.campaign)) == {second.pk}


@pytest.mark.parametrize(
    ("status", "warning"),
    [
        (Campaign.Status.PAUSED, "campaign_paused"),
        (Campaign.Status.CANCELLED, "campaign_cancelled"),
        (Campaign.Status.FAILED, "campaign_failed"),
        (Campaign.Status.SENDING, "campaign_busy"),  # its snapshot already taken
    ],
)
def test_a_stopped_days_campaign_is_recorded_and_stops_only_that_day(status, warning):
    early = member(birthday=date(1985, 12, 7))
    first = _run(DAY)
    campaign_snapshot(campaign_id=first.campaign_id, now=NOW)  # the morning's members taken
    Campaign.objects.filter(pk=first.campaign_id).update(status=status)
    late = member(birthday=date(1990, 12, 7))  # joined after the morning's run

    again = _run(DAY)

    assert again.status == LoyaltyJobRun.Status.DONE
    assert again.warning == warning
    assert again.counts["campaign"] == 1
    assert again.campaign_id == first.campaign_id
    # the next day's members get the next day's campaign
    nxt = member(birthday=date(1985, 12, 8))
    tomorrow = _run(DAY + timedelta(days=1))
    assert tomorrow.warning == ""
    assert tomorrow.campaign.status == Campaign.Status.LAUNCHING
    run_pipeline(tomorrow.campaign, now=_at(DAY + timedelta(days=1)))
    # the member the stopped campaign never took rides with the next day's; the morning's
    # member (in the stopped campaign's outbox) does not
    assert set(deliveries(tomorrow.campaign)) == {nxt.pk, late.pk}
    assert early.pk not in deliveries(tomorrow.campaign)


def test_the_pages_figures_are_the_days():
    member(birthday=date(1985, 12, 7))
    member(birthday=date(1985, 12, 8))
    today = _run(DAY)
    run_pipeline(today.campaign, now=NOW)
    tomorrow = _run(DAY + timedelta(days=1))
    run_pipeline(tomorrow.campaign, now=_at(DAY + timedelta(days=1)))

    (section,) = [s for s in loyalty_job_sections() if s.job == LoyaltyJob.BIRTHDAY]

    assert [(row.run.pk, row.sent) for row in section.runs] == [
        (tomorrow.pk, 1),
        (today.pk, 1),
    ]


def test_an_ended_run_is_not_relaunched_for_members_its_snapshot_never_takes():
    kept = member(birthday=date(1985, 12, 7))
    merged = member(birthday=date(1990, 12, 7))
    first = _run(DAY)
    Member.objects.filter(pk=merged.pk).update(status=Member.Status.MERGED, merged_into=kept)
    run_pipeline(first.campaign, now=NOW)
    campaign = Campaign.objects.get(pk=first.campaign_id)
    assert campaign.status == Campaign.Status.DONE
    assert set(deliveries(campaign)) == {kept.pk}

    again = _run(DAY)

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE  # not relaunched for the merged member
    assert again.warning == ""


def test_a_second_run_the_same_day_extends_the_days_campaign():
    member(birthday=date(1985, 12, 7))
    first = _run(DAY)
    run_pipeline(first.campaign, now=NOW)
    late = member(birthday=date(1990, 12, 7))

    again = _run(DAY)

    assert again.campaign_id == first.campaign_id
    assert again.campaign.status == Campaign.Status.LAUNCHING
    run_pipeline(again.campaign, now=NOW)
    assert late.pk in deliveries(again.campaign)


def _fail_coupons(monkeypatch, exc):
    def broken(**kwargs):
        raise exc

    monkeypatch.setattr("loyalty.services.birthday.birthday_coupons_issue", broken)


def test_a_failed_day_is_caught_up_the_next_day_once(monkeypatch):
    yesterday = DAY - timedelta(days=1)
    missed = member(birthday=date(1985, 12, 6))
    today_member = member(birthday=date(1985, 12, 7))
    _run(yesterday - timedelta(days=1))  # the last good morning
    with monkeypatch.context() as patch:
        _fail_coupons(patch, RuntimeError("boom"))
        assert _run(yesterday).status == LoyaltyJobRun.Status.FAILED

    today = _run(DAY)

    assert today.status == LoyaltyJobRun.Status.DONE, today.error
    reached = set(LoyaltyJobMessage.objects.filter(run=today).values_list("member_id", flat=True))
    assert reached == {missed.pk, today_member.pk}
    run_pipeline(today.campaign, now=NOW)
    assert set(deliveries(today.campaign)) == {missed.pk, today_member.pk}
    # and only once: the next day starts at today's successful run
    tomorrow = _run(DAY + timedelta(days=1))
    assert tomorrow.counts["new"] == 0
    assert LoyaltyJobMessage.objects.filter(member=missed).count() == 1


def test_a_missed_day_is_caught_up_but_no_further_than_a_week():
    _run(DAY - timedelta(days=20))  # a good run long ago
    missed = member(birthday=date(1985, 12, 5))  # two days ago: no run that morning
    too_old = member(birthday=date(1985, 11, 30))  # eight days ago

    today = _run(DAY)

    reached = set(LoyaltyJobMessage.objects.filter(run=today).values_list("member_id", flat=True))
    assert reached == {missed.pk}
    assert too_old.pk not in reached


def test_month_mode_catches_up_a_failed_first(settings, monkeypatch):
    settings.LOYALTY_BIRTHDAY_ON = "month"
    december = member(birthday=date(1985, 12, 20))
    with monkeypatch.context() as patch:
        _fail_coupons(patch, RuntimeError("boom"))
        assert _run(date(2026, 12, 1)).status == LoyaltyJobRun.Status.FAILED

    second = _run(date(2026, 12, 2))

    assert second.counts["new"] == 1
    assert LoyaltyJobMessage.objects.get(member=december).period == "2026"


def test_a_database_error_is_recorded_and_raised_for_the_retry(monkeypatch):
    member(birthday=date(1985, 12, 7))
    _fail_coupons(monkeypatch, OperationalError("server closed the connection"))

    with pytest.raises(OperationalError):
        _run(DAY)

    run = LoyaltyJobRun.objects.get(job=LoyaltyJob.BIRTHDAY)
    assert run.status == LoyaltyJobRun.Status.FAILED
    assert "server closed" in run.error
    assert not LoyaltyJobMessage.objects.exists()


def test_the_admin_shows_a_job_message_by_member_number_only(login_as):
    m = member(birthday=date(1985, 12, 7))
    Member.objects.filter(pk=m.pk).update(name="王小明")
    run = _run(DAY)
    row = LoyaltyJobMessage.objects.get(run=run)
    client = login_as("alice")

    page = client.get(reverse("admin:loyalty_loyaltyjobmessage_change", args=[row.pk]))
    run_page = client.get(reverse("admin:loyalty_loyaltyjobrun_change", args=[run.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    assert m.member_no in html
    assert "王小明" not in html
    assert "王小明" not in run_page.content.decode()


def test_the_jobs_tab_shows_the_warning(login_as):
    from django.utils import translation

    member(birthday=date(1985, 12, 7))
    first = _run(DAY)
    Campaign.objects.filter(pk=first.campaign_id).update(status=Campaign.Status.PAUSED)
    member(birthday=date(1990, 12, 7))
    _run(DAY)

    with translation.override("zh-hant"):
        page = login_as("bob").get(reverse("loyalty:jobs"), HTTP_ACCEPT_LANGUAGE="zh-hant")

    html = page.content.decode()
    assert 'data-warning="campaign_paused"' in html
    assert "當日訊息已暫停" in html


def test_a_day_whose_campaign_never_launched_rides_with_the_next_days():
    missed = member(birthday=date(1985, 12, 7))
    today = _run(DAY)
    # that day's campaign never got its audience (its launch failed, say)
    Campaign.objects.filter(pk=today.campaign_id).update(status=Campaign.Status.FAILED)
    nxt = member(birthday=date(1985, 12, 8))

    tomorrow = _run(DAY + timedelta(days=1))
    run_pipeline(tomorrow.campaign, now=_at(DAY + timedelta(days=1)))

    assert set(deliveries(tomorrow.campaign)) == {missed.pk, nxt.pk}
    # and only once: the day after, both are in an outbox already
    later = _run(DAY + timedelta(days=2))
    assert later.campaign is None or not set(deliveries(later.campaign))
