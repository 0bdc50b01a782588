"""Reads of loyalty's beat jobs: the personalisation fields their messages use, and the jobs'
recent runs for /loyalty/jobs/ (bounded: a page of runs per job, their run campaigns' outcomes
in one grouped query)."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.db.models import Count, F, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from campaigns.models import Campaign, Delivery, DeliveryReason
from loyalty.models import Coupon, LoyaltyJob, LoyaltyJobRun, PointsAccount, PointsTransaction

# A formatting helper (ABCD-EFGH-JKLM), the one place coupon codes are printed.
from loyalty.services.rewards import coupon_code_display

BIRTHDAY_PURPOSE = "birthday"  # Reward.purpose of the birthday gift (loyalty.services.birthday)


# --- Personalisation fields (registered in loyalty.apps) ---------------------------------


def birthday_coupons_by_member(member_ids) -> dict[int, str]:
    """{{birthday_coupon}}: each member's newest unused coupon from the birthday job, as
    printed (ABCD-EFGH-JKLM); one query."""
    rows = (
        Coupon.objects.filter(
            reward__purpose=BIRTHDAY_PURPOSE,
            status=Coupon.Status.ISSUED,
            account__member_id__in=list(member_ids),
        )
        .order_by("account__member_id", "-issued_at", "-pk")
        .values_list("account__member_id", "code")
    )
    codes: dict[int, str] = {}
    for member_id, code in rows:
        codes.setdefault(member_id, coupon_code_display(code))
    return codes


def points_by_member(member_ids: Iterable[int]) -> dict[int, str]:
    """{{points}}: the balance, with thousands separators; one query."""
    rows = PointsAccount.objects.filter(member_id__in=list(member_ids)).values_list(
        "member_id", "balance"
    )
    return {member_id: f"{balance:,}" for member_id, balance in rows}


def _expiring(member_ids: Iterable[int], today: date) -> dict[int, tuple[int, date | None]]:
    """{member_id: (points expiring within the reminder window, the first day some expire)}:
    loyalty.expiry's first-in-first-out rule (expiring by D = max(0, credits expiring by D +
    all debits)) over two grouped queries, evaluated day by day in Python."""
    horizon = today + timedelta(days=settings.LOYALTY_REMINDER_EXPIRY_DAYS)
    ids = list(member_ids)
    entries = PointsTransaction.objects.filter(account__member_id__in=ids)
    debits = dict(
        entries.filter(points__lt=0)
        .values_list("account__member_id")
        .annotate(total=Sum("points"))
        .order_by()
    )
    lots: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for member_id, day, points in (
        entries.filter(points__gt=0, expires_on__isnull=False, expires_on__lte=horizon)
        .values_list("account__member_id", "expires_on")
        .annotate(total=Sum("points"))
        .order_by("account__member_id", "expires_on")
    ):
        lots[member_id].append((day, points))
    result: dict[int, tuple[int, date | None]] = {}
    for member_id in ids:
        running, first = debits.get(member_id, 0), None
        for day, points in lots.get(member_id, []):
            running += points
            if first is None and day >= today and running > 0:
                first = day
        result[member_id] = (max(running, 0), first)
    return result


def points_expiring_by_member(member_ids: Iterable[int]) -> dict[int, str]:
    """{{points_expiring}}: points expiring within LOYALTY_REMINDER_EXPIRY_DAYS of today."""
    today = timezone.localdate()
    return {
        member_id: f"{points:,}" for member_id, (points, _d) in _expiring(member_ids, today).items()
    }


def points_expiry_date_by_member(member_ids: Iterable[int]) -> dict[int, str]:
    """{{points_expiry_date}}: the first day (2027/01/06) some of those points expire; "" when
    none expire within the window."""
    today = timezone.localdate()
    return {
        member_id: f"{first:%Y/%m/%d}" if first else ""
        for member_id, (_p, first) in _expiring(member_ids, today).items()
    }


# --- The jobs page ----------------------------------------------------------------------------

RUNS_PER_JOB = 10
# The jobs that send: their automated message can be edited (trigger "loyalty.<job>").
SENDING_JOBS = (LoyaltyJob.BIRTHDAY, LoyaltyJob.POINTS_REMINDER)


@dataclass
class JobRunRow:
    run: LoyaltyJobRun
    # The run campaign's outbox now (the pipeline sends after the job): None without one.
    sent: int | None = None
    failed: int = 0
    waiting: int = 0
    suppressed: list[tuple[str, str, int]] = field(default_factory=list)  # reason, label, n

    @property
    def suppressed_total(self) -> int:
        return sum(n for _r, _l, n in self.suppressed)


@dataclass
class JobSection:
    job: str
    label: str
    runs: list[JobRunRow]
    template_id: int | None  # the automated message to edit (sending jobs)


def loyalty_job_sections(*, per_job: int = RUNS_PER_JOB) -> list[JobSection]:
    """Each loyalty job with its newest `per_job` runs and, for runs with a campaign, what its
    deliveries came to (sent, failed, waiting, suppressed by reason). Three queries, bounded
    by the number of jobs × per_job whatever the history."""
    runs = list(
        LoyaltyJobRun.objects.select_related("campaign")
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=F("job"),
                order_by=[F("started_at").desc(), F("pk").desc()],
            )
        )
        .filter(rank__lte=per_job)
        .order_by("-started_at", "-pk")
    )
    outcomes: dict[int, dict[tuple[str, str], int]] = defaultdict(dict)
    campaign_ids = {run.campaign_id for run in runs if run.campaign_id}
    if campaign_ids:
        for campaign_id, status, reason, n in (
            Delivery.objects.filter(campaign_id__in=campaign_ids)
            .values_list("campaign_id", "status", "reason")
            .annotate(n=Count("pk"))
            .order_by()
        ):
            outcomes[campaign_id][(status, reason)] = n
    templates = dict(
        Campaign.objects.filter(trigger__in=[f"loyalty.{job}" for job in SENDING_JOBS]).values_list(
            "trigger", "pk"
        )
    )
    by_job: dict[str, list[JobRunRow]] = defaultdict(list)
    for run in runs:
        row = JobRunRow(run=run)
        if run.campaign_id:
            counts = outcomes.get(run.campaign_id, {})
            row.sent = sum(n for (s, _r), n in counts.items() if s == Delivery.Status.SENT)
            row.failed = sum(n for (s, _r), n in counts.items() if s == Delivery.Status.FAILED)
            row.waiting = sum(
                n
                for (s, _r), n in counts.items()
                if s in (Delivery.Status.PENDING, Delivery.Status.SENDING)
            )
            row.suppressed = sorted(
                (
                    (reason, _reason_label(reason), n)
                    for (s, reason), n in counts.items()
                    if s in (Delivery.Status.SUPPRESSED, Delivery.Status.HELD_OUT)
                ),
                key=lambda item: -item[2],
            )
        by_job[run.job].append(row)
    return [
        JobSection(
            job=job.value,
            label=job.label,
            runs=by_job.get(job.value, []),
            template_id=templates.get(f"loyalty.{job.value}"),
        )
        for job in LoyaltyJob
    ]


def _reason_label(reason: str) -> str:
    return DeliveryReason(reason).label if reason in DeliveryReason.values else reason
