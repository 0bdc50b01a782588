"""The birthday job: a greeting with a birthday coupon, once a year per member.

On each day (beat, every morning) the members whose birthday it is (loyalty.birthdays: solar or
lunar, 29 February on the 28th, or the first of the birth month with LOYALTY_BIRTHDAY_ON =
"month") get one `LoyaltyJobMessage` for the year (the runner, loyalty.services.jobs), a coupon
of the "Birthday gift" reward (0 points; a marketer edits it on /loyalty/rewards/), issued
set-wise for the rows this run wrote and linked from them, and the automated message
"loyalty.birthday", whose content a marketer edits in the campaign builder and which carries
the coupon through the {{birthday_coupon}} field. The row's uniqueness gives one coupon and one
greeting per member per year, however often the job runs.
"""

from datetime import date, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from campaigns.services import automated_message_ensure
from loyalty.birthdays import birthday_members_due, birthday_period
from loyalty.models import Coupon, LoyaltyJob, LoyaltyJobMessage, LoyaltyJobRun, Reward
from loyalty.selectors_jobs import BIRTHDAY_PURPOSE
from loyalty.services.jobs import job_trigger, loyalty_job_run
from loyalty.services.ledger import accounts_ensure
from loyalty.services.rewards import CODE_ATTEMPTS, coupon_code_new, coupon_expires_at

CHUNK = 2_000
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


def birthday_job_run(*, day: date | None = None, now: datetime | None = None) -> LoyaltyJobRun:
    """The birthday job for `day` (default: today in Asia/Taipei): see the module docstring."""
    now = now or timezone.now()
    day = day or timezone.localdate(now)
    birthday_message_ensure()
    reward = birthday_reward_ensure()
    due = birthday_members_due(day=day, on=settings.LOYALTY_BIRTHDAY_ON).values("pk")
    return loyalty_job_run(
        job=LoyaltyJob.BIRTHDAY,
        period=birthday_period(day=day),
        due=due,
        now=now,
        prepare=lambda run: birthday_coupons_issue(run=run, reward=reward, now=now),
    )
