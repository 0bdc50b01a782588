"""Reads of loyalty that several pages, the API and the services share: one definition each.

- An OPEN HOLD is a hold still `held` and not past its time (a hold past its time holds
  nothing, even before the minute's sweep marks it expired): `holds_open`.
- AVAILABLE POINTS are the balance less the points of the open holds: what a new hold, a
  quote or a reward redemption may use: `points_available`.
- The NEXT TIER is the tier ranked just above the member's, or above the entry tier for a
  member not placed yet: `tier_next`.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import QuerySet, Sum

from loyalty.models import PointsAccount, PointsHold, Tier


def holds_open(*, now: datetime) -> QuerySet[PointsHold]:
    return PointsHold.objects.filter(status=PointsHold.Status.HELD, expires_at__gt=now)


def points_held(*, account_id: int, now: datetime) -> int:
    """Points of the account's open holds (one query, on the open-holds index)."""
    held = holds_open(now=now).filter(account_id=account_id).aggregate(total=Sum("points"))
    return held["total"] or 0


def points_held_by_account(*, account_ids: Iterable[int], now: datetime) -> dict[int, int]:
    """Points of the open holds of each of these accounts (absent: none). One query."""
    return dict(
        holds_open(now=now)
        .filter(account_id__in=list(account_ids))
        .values("account_id")
        .annotate(total=Sum("points"))
        .values_list("account_id", "total")
    )


def points_available(*, account: PointsAccount | None, now: datetime) -> int:
    """The balance less the open holds (0 without an account)."""
    if account is None:
        return 0
    return max(0, account.balance - points_held(account_id=account.pk, now=now))


def tier_next(*, tier: Tier | None) -> Tier | None:
    """The tier ranked just above `tier` (above the entry tier when None); None at the top."""
    tiers = Tier.objects.order_by("rank")
    if tier is not None:
        return tiers.filter(rank__gt=tier.rank).first()
    return tiers[1:2].first()  # the entry tier is the first: the one after it (one query)
