"""The nightly expiry: what loyalty.expiry.expiring_by(today) says has expired becomes an
EXPIRE entry, one per account and day.

The amount is the shared first-in-first-out rule (loyalty.expiry), never re-derived here. The
job walks the accounts in id ranges; per range, one read finds the accounts with points
expiring (most have none on a given night), then those are locked, their amount read again
under the lock (a redemption committed meanwhile took points first-in-first-out too, and may
have taken the expiring ones), and the entries are posted through ledger.entries_post with the
key "expire:<account>:<YYYY-MM-DD>". A second run of the day, or two at once, writes nothing
more: the key is taken, and the expire entry is a debit the rule already counts.

Points held at a till are not expired: the job takes at most balance − the points of the
account's open, unexpired holds (loyalty.selectors.points_held_by_account, read under the
lock). A cashier told "these 300 points pay NT$300" at 23:59 sees the commit succeed after
midnight. The points spared stay due under the first-in-first-out rule: the hold's commit
consumes them (a redeem takes the oldest lots first); if the hold is released or lapses, the
next night's run expires them (its key is that day's). So a member may keep such points for at
most a day more, never spend points twice, and the ledger never goes negative.
"""

from datetime import date

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from loyalty.expiry import accounts_with_expiring
from loyalty.models import PointsAccount, PointsTransaction
from loyalty.selectors import points_held_by_account
from loyalty.services.ledger import Entry, accounts_lock, entries_post

BATCH_SIZE = 10_000  # accounts per range


def expire_key(*, account_id: int, on: date) -> str:
    return f"expire:{account_id}:{on.isoformat()}"


def points_expire(*, today: date | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Expire what is due by `today` (Asia/Taipei) in every account. Returns points expired."""
    today = today or timezone.localdate()
    expired, after = 0, 0
    while True:
        bounds = list(
            PointsAccount.objects.filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[batch_size - 1 : batch_size]
        )
        last = bounds[0] if bounds else None
        span = Q(pk__gt=after) if last is None else Q(pk__gt=after, pk__lte=last)
        expired += _expire_range(span, today=today)
        if last is None:
            return expired
        after = last


def _due(scope: Q, *, today: date) -> dict[int, int]:
    accounts = PointsAccount.objects.filter(scope, balance__gt=0)
    return dict(
        accounts_with_expiring(accounts, on=today)
        .filter(expiring__gt=0)
        .values_list("pk", "expiring")
    )


def _expire_range(scope: Q, *, today: date) -> int:
    candidates = _due(scope, today=today)
    if not candidates:
        return 0
    with transaction.atomic():
        locked = accounts_lock(candidates)
        due = _due(Q(pk__in=list(locked)), today=today)
        # THE RULE FOR HELD POINTS: expiry never takes an account below its open holds. Read
        # under the lock, in its own statement, so a hold a till made before the lock counts.
        held = points_held_by_account(account_ids=due, now=timezone.now())
        due = {
            account_id: min(points, locked[account_id].balance - held.get(account_id, 0))
            for account_id, points in due.items()
        }
        reason = gettext("Points earned up to %(day)s expired") % {"day": today.isoformat()}
        entries = [
            Entry(
                account_id=account_id,
                kind=PointsTransaction.Kind.EXPIRE,
                points=-points,
                idempotency_key=expire_key(account_id=account_id, on=today),
                source=PointsTransaction.Source.NIGHTLY,
                reason=reason,
            )
            for account_id, points in sorted(due.items())
            if points > 0
        ]
        written = entries_post(entries=entries, locked=locked)
        return -sum(row.points for row in written)
