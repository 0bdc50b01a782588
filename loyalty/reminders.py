"""Who gets an unused-points reminder: the one rule the reminder job and its tests use.

A member is reminded when, on the day the job runs,
- some of their points expire within LOYALTY_REMINDER_EXPIRY_DAYS days (loyalty.expiry's
  first-in-first-out rule, `expiring_by`), or
- they hold at least LOYALTY_REMINDER_MIN_POINTS and have redeemed nothing for
  LOYALTY_REMINDER_IDLE_DAYS days (counted from the account's opening when they never
  redeemed, so a new member is not nagged in their first weeks).

At most once per calendar month (the period), whichever reason comes first: the job's unique
row per member and period holds that, so a member whose points keep expiring is reminded
monthly, not daily. One query over points accounts; members who are not active are skipped.
"""

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.models import Member
from loyalty.expiry import expiring_by
from loyalty.models import PointsAccount

REASON_EXPIRING = "expiring"
REASON_IDLE = "idle"


def points_reminder_period(*, day: date) -> str:
    """The period a reminder sent on `day` belongs to: its calendar month ("2026-12")."""
    return f"{day:%Y-%m}"


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def points_reminder_accounts(*, day: date) -> QuerySet[PointsAccount]:
    """The points accounts due a reminder on `day`, annotated with `expiring` (points expiring
    within the window) and `idle_since` (the last redemption, or the account's opening)."""
    horizon = day + timedelta(days=settings.LOYALTY_REMINDER_EXPIRY_DAYS)
    idle_cutoff = _start_of(day - timedelta(days=settings.LOYALTY_REMINDER_IDLE_DAYS))
    return (
        PointsAccount.objects.filter(balance__gt=0, member__status=Member.Status.ACTIVE)
        .annotate(
            expiring=expiring_by(horizon),
            idle_since=Coalesce("last_redeemed_at", "created_at"),
        )
        .filter(
            Q(expiring__gt=0)
            | Q(balance__gte=settings.LOYALTY_REMINDER_MIN_POINTS, idle_since__lt=idle_cutoff)
        )
        .order_by()
    )


def points_reminder_due(*, day: date) -> QuerySet:
    """The member ids due a reminder on `day` (one column, usable as a subquery)."""
    return points_reminder_accounts(day=day).values("member_id")
