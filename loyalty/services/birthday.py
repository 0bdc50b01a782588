"""The birthday job: a greeting with a birthday coupon, once a year per member.

On each day (beat, every morning) the members whose birthday it is (loyalty.birthdays: solar or
lunar, 29 February on the 28th, or the first of the birth month with LOYALTY_BIRTHDAY_ON =
"month") get one `LoyaltyJobMessage` for the year (the runner, loyalty.services.jobs), a coupon
of the "Birthday gift" reward (0 points; a marketer edits it on /loyalty/rewards/), issued
set-wise for the rows this run wrote and linked from them, and the automated message
"loyalty.birthday", whose content a marketer edits in the campaign builder and which carries
the coupon through the {{birthday_coupon}} field. The row's uniqueness gives one coupon and one
greeting per member per year (the Gregorian year, or the lunar year for lunar birthdays:
loyalty.birthdays), however often the job runs.

Catch-up: each run also covers the days since the last successful run (at most a week, never
before that run's day), so a morning that failed or did not run is caught up by the next one;
the unique row makes that safe. A database error is raised again after the run is logged as
failed, so the task's autoretry tries again within the hour.
"""

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Min, Q
from django.utils import timezone

from campaigns.services import automated_message_ensure
from loyalty.birthdays import birthday_members_due_on, birthday_period
from loyalty.models import Coupon, LoyaltyJob, LoyaltyJobMessage, LoyaltyJobRun, Reward
from loyalty.selectors_jobs import BIRTHDAY_PURPOSE
from loyalty.services.jobs import job_trigger, loyalty_job_run
from loyalty.services.ledger import accounts_ensure
from loyalty.services.rewards import CODE_ATTEMPTS, coupon_code_new, coupon_expires_at

CHUNK = 2_000
# How far back a run catches up the birthdays of days without a successful run (today too).
CATCH_UP_DAYS = 7
TRIGGER = job_trigger(LoyaltyJob.BIRTHDAY)

# The first content of the automated message; the marketer's edits replace it for good.
DEFAULT_NAME = "生日祝福"
DEFAULT_CHANNELS = ("line", "push", "email", "sms")
DEFAULT_CONTENTS = {
    "line": {
        "messages": [
            {
                "type": "text",
                "text": "{{name}} 生日快樂！🎂 送您一張生日禮券：{{birthday_coupon}}，"
                "結帳時出示即可使用，祝您有美好的一天。",
            }
        ]
    },
    "push": {"title": "生日快樂！", "body": "{{name}}，您的生日禮券 {{birthday_coupon}} 已送達。"},
    "email": {
        "subject": "{{name}}，生日快樂！送您一份生日禮",
        "text": "{{name}} 您好：\n\n祝您生日快樂！我們為您準備了生日禮券：{{birthday_coupon}}\n"
        "結帳時出示此代碼即可使用。\n\n會員編號：{{member_no}}",
    },
    "sms": {"text": "{{name}}生日快樂！生日禮券代碼{{birthday_coupon}}，結帳出示即可使用。"},
}

DEFAULT_REWARD_NAME = "生日禮"
DEFAULT_REWARD_DESCRIPTION = "會員生日當月贈送，結帳時出示折抵。"
DEFAULT_REWARD_DISCOUNT_TWD = 100


def birthday_message_ensure() -> None:
    """The birthday automated message (its template campaign), made on first use."""
    automated_message_ensure(
        trigger=TRIGGER, name=DEFAULT_NAME, channels=DEFAULT_CHANNELS, contents=DEFAULT_CONTENTS
    )


def birthday_reward_ensure() -> Reward:
    """The "Birthday gift" reward (0 points), made once; afterwards as the marketer left it
    (its name, value, validity and whether it is active). Safe when two jobs make it at once."""
    reward = Reward.objects.filter(purpose=BIRTHDAY_PURPOSE).first()
    if reward is not None:
        return reward
    try:
        with transaction.atomic():
            return Reward.objects.create(
                purpose=BIRTHDAY_PURPOSE,
                name=DEFAULT_REWARD_NAME,
                description=DEFAULT_REWARD_DESCRIPTION,
                points_price=0,
                discount_twd=DEFAULT_REWARD_DISCOUNT_TWD,
                coupon_valid_days=30,
            )
    except IntegrityError:
        return Reward.objects.get(purpose=BIRTHDAY_PURPOSE)


def birthday_coupons_issue(*, run: LoyaltyJobRun, reward: Reward, now: datetime) -> int:
    """A coupon of `reward` for every row `run` wrote, linked from its row; set-wise, a chunk
    at a time (three statements a chunk). Nothing when the reward is switched off."""
    if not reward.is_active:
        return 0
    expires_at = coupon_expires_at(issued_at=now, valid_days=reward.coupon_valid_days)
    issued = 0
    rows = LoyaltyJobMessage.objects.filter(run=run, coupon__isnull=True).order_by("pk")
    last = 0
    while True:
        chunk = list(rows.filter(pk__gt=last).values_list("pk", "member_id")[:CHUNK])
        if not chunk:
            break
        last = chunk[-1][0]
        accounts = accounts_ensure(member_ids=[member_id for _pk, member_id in chunk])
        coupons = _coupons_create(
            reward=reward,
            account_ids=[accounts[member_id] for _pk, member_id in chunk],
            now=now,
            expires_at=expires_at,
        )
        links = [
            LoyaltyJobMessage(pk=pk, coupon_id=coupon.pk)
            for (pk, _member), coupon in zip(chunk, coupons, strict=True)
        ]
        LoyaltyJobMessage.objects.bulk_update(links, ["coupon"], batch_size=500)
        issued += len(coupons)
    if issued:
        Reward.objects.filter(pk=reward.pk).update(issued_count=F("issued_count") + issued)
    return issued


def _coupons_create(
    *, reward: Reward, account_ids: list[int], now: datetime, expires_at: datetime
) -> list[Coupon]:
    """One INSERT for the chunk; a code drawn twice (one in 2^60 per pair) draws the chunk's
    codes again, inside a savepoint so the job's transaction goes on."""
    for _attempt in range(CODE_ATTEMPTS):
        coupons = [
            Coupon(
                code=coupon_code_new(),
                reward=reward,
                account_id=account_id,
                issued_at=now,
                expires_at=expires_at,
            )
            for account_id in account_ids
        ]
        try:
            with transaction.atomic():
                return Coupon.objects.bulk_create(coupons, batch_size=1000)
        except IntegrityError:
            continue
    raise IntegrityError(f"no free coupon codes after {CODE_ATTEMPTS} draws")


def birthday_catch_up_days(*, day: date) -> list[date]:
    """The days whose birthdays the run on `day` covers: `day` and the days since the last
    successful run before it, at most CATCH_UP_DAYS in all and never before that run's day (a
    failed or missed morning is caught up the next morning; the unique row per member and
    period keeps anyone from being greeted twice). Before any successful run: back to the
    first failed one in the window, if any (a first deployment greets no past birthdays)."""
    window_start = day - timedelta(days=CATCH_UP_DAYS - 1)
    bounds = LoyaltyJobRun.objects.filter(job=LoyaltyJob.BIRTHDAY, day__lt=day).aggregate(
        last_done=Max("day", filter=Q(status=LoyaltyJobRun.Status.DONE)),
        first=Min("day", filter=Q(day__gte=window_start)),
    )
    if bounds["last_done"] is not None:
        start = max(bounds["last_done"], window_start)
    else:
        start = bounds["first"] or day
    return [start + timedelta(days=n) for n in range((day - start).days + 1)]


def birthday_job_run(*, day: date | None = None, now: datetime | None = None) -> LoyaltyJobRun:
    """The birthday job for `day` (default: today in Asia/Taipei) and the days it catches up
    (`birthday_catch_up_days`): see the module docstring."""
    now = now or timezone.now()
    day = day or timezone.localdate(now)
    birthday_message_ensure()
    reward = birthday_reward_ensure()
    members, period = birthday_members_due_on(
        days=birthday_catch_up_days(day=day), on=settings.LOYALTY_BIRTHDAY_ON
    )
    return loyalty_job_run(
        job=LoyaltyJob.BIRTHDAY,
        period=birthday_period(day=day),
        member_period=period,
        due=members.values("pk"),
        day=day,
        now=now,
        prepare=lambda run: birthday_coupons_issue(run=run, reward=reward, now=now),
    )
