"""The birthday job: a greeting with a birthday coupon through campaigns' pipeline, once per
member per year, on the birthday or on the first of the birth month."""

import threading
from datetime import date, datetime

import pytest
from django.db import connection

from campaigns.models import Campaign, Delivery
from campaigns.personalise import personalisation_values
from crm.models import BirthdayCalendar
from loyalty.birthdays import celebrated_on
from loyalty.models import Coupon, LoyaltyJob, LoyaltyJobMessage, LoyaltyJobRun, Reward
from loyalty.services.birthday import birthday_job_run
from tests.campaigns.settings_helpers import use_sandbox
from tests.loyalty.jobs_helpers import DAY, NOW, TAIPEI, deliveries, member, run_pipeline

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _sandbox(settings, tmp_path):
    use_sandbox(settings, tmp_path)
    settings.LOYALTY_BIRTHDAY_ON = "day"


def test_birthday_members_get_a_coupon_and_the_greeting_once():
    # given two members born on 7 December and one born another day
    born_today = [member(birthday=date(1985, 12, 7)), member(birthday=date(1999, 12, 7))]
    other = member()

    run = birthday_job_run(day=DAY, now=NOW)

    assert run.status == LoyaltyJobRun.Status.DONE, run.error
    assert run.period == "2026"
    assert run.counts == {"due": 2, "new": 2, "already": 0, "campaign": 2, "wallet": 0}
    rows = LoyaltyJobMessage.objects.filter(job=LoyaltyJob.BIRTHDAY, period="2026")
    assert {r.member_id for r in rows} == {m.pk for m in born_today}
    assert all(r.coupon_id for r in rows)
    reward = Reward.objects.get(purpose="birthday")
    assert reward.points_price == 0
    assert reward.issued_count == 2
    # the run campaign, copied from the editable template, goes through the pipeline
    campaign = run.campaign
    assert campaign.template.trigger == "loyalty.birthday"
    assert campaign.audience_source == "loyalty.birthday"
    assert campaign.status == Campaign.Status.LAUNCHING
    run_pipeline(campaign, now=NOW)
    assert deliveries(campaign) == {m.pk: ("sent", "") for m in born_today}
    assert other.pk not in deliveries(campaign)
    # the greeting carries the member's coupon
    codes = personalisation_values(member_ids=[born_today[0].pk], names=["birthday_coupon"])
    coupon = Coupon.objects.get(account__member=born_today[0])
    assert codes[born_today[0].pk]["birthday_coupon"].replace("-", "") == coupon.code

    # when the job runs again (the same day, or later in the year)
    again = birthday_job_run(day=DAY, now=NOW)
    run_pipeline(again.campaign, now=NOW)

    assert again.counts == {"due": 2, "new": 0, "already": 2, "campaign": 0, "wallet": 0}
    assert again.campaign_id == campaign.pk
    assert Coupon.objects.count() == 2
    assert Delivery.objects.filter(campaign__template__trigger="loyalty.birthday").count() == 2


def test_next_year_is_a_new_period():
    m = member(birthday=date(1985, 12, 7))
    birthday_job_run(day=DAY, now=NOW)
    run = birthday_job_run(day=date(2027, 12, 7), now=datetime(2027, 12, 7, 9, tzinfo=TAIPEI))
    assert run.counts["new"] == 1
    assert Coupon.objects.filter(account__member=m).count() == 2
    assert Campaign.objects.filter(template__trigger="loyalty.birthday").count() == 2


def test_day_or_first_of_the_month(settings):
    m = member(birthday=date(1990, 12, 20))
    settings.LOYALTY_BIRTHDAY_ON = "month"
    assert birthday_job_run(day=date(2026, 12, 7), now=NOW).counts["due"] == 0
    first = birthday_job_run(day=date(2026, 12, 1), now=datetime(2026, 12, 1, 9, tzinfo=TAIPEI))
    assert first.counts["new"] == 1
    # the birthday itself, by day, is the same year's offer: not sent again
    settings.LOYALTY_BIRTHDAY_ON = "day"
    on_day = birthday_job_run(day=date(2026, 12, 20), now=datetime(2026, 12, 20, 9, tzinfo=TAIPEI))
    assert on_day.counts == {"due": 1, "new": 0, "already": 1, "campaign": 0, "wallet": 0}
    assert LoyaltyJobMessage.objects.filter(member=m).count() == 1


def _reached(day: date) -> set[int]:
    run = birthday_job_run(day=day, now=datetime.combine(day, datetime.min.time(), TAIPEI))
    return set(LoyaltyJobMessage.objects.filter(run=run).values_list("member_id", flat=True))


def test_lunar_and_29_february_birthdays():
    lunar = member(birthday=date(1960, 1, 27), calendar=BirthdayCalendar.LUNAR)
    leap = member(birthday=date(1996, 2, 29))
    (lunar_day,) = celebrated_on(birthday=lunar.birthday, calendar="lunar", year=2027)
    assert lunar_day != date(2027, 1, 27)  # the lunar date moves in the Gregorian calendar
    assert _reached(date(2027, 1, 27)) == set()
    assert _reached(lunar_day) == {lunar.pk}
    assert _reached(date(2027, 2, 28)) == {leap.pk}


def test_consent_is_the_pipelines_business():
    opted_out = member(birthday=date(1985, 12, 7), email="out")
    run = birthday_job_run(day=DAY, now=NOW)
    run_pipeline(run.campaign, now=NOW)
    # the job reached the member (a coupon, a row); the pipeline held the message back
    assert deliveries(run.campaign) == {opted_out.pk: ("suppressed", "unsubscribed")}


def test_quiet_hours_hold_the_greeting(settings):
    settings.CAMPAIGN_QUIET_HOURS = {"sms": "", "push": "", "line": "", "email": "21:00-10:00"}
    member(birthday=date(1985, 12, 7))
    run = birthday_job_run(day=DAY, now=NOW)  # 09:00 Taipei, inside the quiet hours
    campaign_id = run.campaign_id
    from campaigns.services import campaign_snapshot

    campaign_snapshot(campaign_id=campaign_id, now=NOW)
    batch = Campaign.objects.get(pk=campaign_id).batches.get()
    assert batch.not_before == datetime(2026, 12, 7, 10, 0, tzinfo=TAIPEI)


def test_a_failing_run_is_recorded(monkeypatch):
    member(birthday=date(1985, 12, 7))

    def broken(**kwargs):
        raise RuntimeError("the reward table is on fire")

    monkeypatch.setattr("loyalty.services.birthday.birthday_coupons_issue", broken)
    run = birthday_job_run(day=DAY, now=NOW)
    assert run.status == LoyaltyJobRun.Status.FAILED
    assert "on fire" in run.error
    # nothing was claimed: the next run reaches the member
    assert not LoyaltyJobMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency needs PostgreSQL")
def test_two_beat_processes_at_once_send_once_per_member():
    members = [member(birthday=date(1980 + i, 12, 7)) for i in range(30)]
    barrier = threading.Barrier(2)
    runs, errors = [], []

    def beat():
        try:
            barrier.wait()
            runs.append(birthday_job_run(day=DAY, now=NOW))
        except Exception as exc:  # pragma: no cover (reported below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert all(run.status == LoyaltyJobRun.Status.DONE for run in runs), [r.error for r in runs]
    assert sum(run.counts["new"] for run in runs) == len(members)
    assert LoyaltyJobMessage.objects.count() == len(members)
    assert Coupon.objects.count() == len(members)
    (campaign,) = Campaign.objects.filter(template__trigger="loyalty.birthday")
    run_pipeline(campaign, now=NOW)
    assert len(deliveries(campaign)) == len(members)


def test_the_birthday_gift_cannot_be_bought():
    from loyalty.selectors_rewards import rewards_redeemable
    from loyalty.services.birthday import birthday_reward_ensure
    from loyalty.services.rewards import RewardUnavailable, reward_redeem

    gift = birthday_reward_ensure()
    assert gift not in rewards_redeemable()
    with pytest.raises(RewardUnavailable):
        reward_redeem(reward_id=gift.pk, source="page", idempotency_key="k1", member_id=member().pk)


def test_the_coupon_is_masked_in_previews_without_unmask():
    from campaigns.selectors import message_preview

    m = member(birthday=date(1985, 12, 7))
    birthday_job_run(day=DAY, now=NOW)
    code = Coupon.objects.get(account__member=m).code
    content = {"text": "禮券 {{birthday_coupon}}"}
    masked = message_preview(channel="sms", content=content, member_id=m.pk, unmask=False)
    shown = message_preview(channel="sms", content=content, member_id=m.pk, unmask=True)
    assert code[4:8] not in masked["text"].replace("-", "")
    assert code in shown["text"].replace("-", "")


def test_a_lunar_birthday_twice_in_a_gregorian_year_is_greeted_both_times():
    # born 1961-01-08 (lunar 11/22): 2035-01-01 and 2035-12-21, each its lunar year's birthday
    m = member(birthday=date(1961, 1, 8), calendar=BirthdayCalendar.LUNAR)
    january = _reached(date(2035, 1, 1))
    december = _reached(date(2035, 12, 21))
    assert january == december == {m.pk}
    periods = LoyaltyJobMessage.objects.filter(member=m).values_list("period", flat=True)
    assert sorted(periods) == ["L2034", "L2035"]
    assert Coupon.objects.filter(account__member=m).count() == 2
