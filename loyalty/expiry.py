"""Which points expire when: the one first-in-first-out rule, as SQL every reader shares.

Credits (earn, and positive adjust / reverse / transfer entries) carry the day they expire
(`expires_on`, Asia/Taipei; null: never). Debits (redeem, expire, negative adjust / reverse /
transfer) are taken from the credits that expire first. So, for an account and a day D:

    points expiring by D = max(0, Σ credits expiring on or before D − Σ debits, all time)

Every debit has consumed the earliest lots first, so what is left of the lots up to D is what
they hold beyond all debits; expire entries are debits too, so a day already expired counts as
consumed and the nightly job is idempotent by construction (and by its key per account and day).
A reversal for a returned order is taken first-in-first-out like any debit rather than from
that order's own lot: simpler, and never more generous to the member than the lot rule.

The nightly expiry (points expiring by today), the profile's "expiring soon", the till's
GET …/points and the "points expiring within N days" segment rule all call this.
"""

import calendar
from datetime import date

from django.db.models import IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest

from loyalty.models import PointsAccount, PointsTransaction


def _sum_of(condition: Q) -> Subquery:
    return Subquery(
        PointsTransaction.objects.filter(condition, account=OuterRef("pk"))
        .values("account")
        .annotate(total=Sum("points"))
        .values("total")[:1],
        output_field=IntegerField(),
    )


def expiring_by(on: date) -> Greatest:
    """An expression over PointsAccount: the points that will have expired by the end of `on`
    unless spent first (0 when none)."""
    credits_due = Coalesce(
        _sum_of(Q(points__gt=0, expires_on__isnull=False, expires_on__lte=on)), Value(0)
    )
    # Debits are negative: adding their sum takes them off.
    debits = Coalesce(_sum_of(Q(points__lt=0)), Value(0))
    return Greatest(credits_due + debits, Value(0), output_field=IntegerField())


def accounts_with_expiring(accounts: QuerySet[PointsAccount], *, on: date) -> QuerySet:
    """The accounts annotated with `expiring` (points expiring by `on`)."""
    return accounts.annotate(expiring=expiring_by(on))


def expiring_points(*, account: PointsAccount, on: date) -> int:
    """One account's points expiring by `on` (one query)."""
    return (
        PointsAccount.objects.filter(pk=account.pk)
        .annotate(expiring=expiring_by(on))
        .values_list("expiring", flat=True)
        .get()
    )


def months_after(day: date, months: int) -> date:
    """The same day `months` later (or earlier), or that month's last day when it is shorter:
    31 January + 1 month is 28 (29) February."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def credit_expires_on(*, earned_on: date, months: int) -> date:
    """THE day a credit expires: the Programme's `expiry_months` after the Taipei day it was
    earned (an order's day, an adjustment's, a refund's). Every credit path asks this."""
    return months_after(earned_on, months)
