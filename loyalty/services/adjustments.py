"""Adjusting a member's points by hand: a number of points ± and the reason, always both.

`points_adjust` is the one verb the member's points page (and any admin path) calls. It posts
one `adjust` entry through the ledger (entries_post: the account's row lock, the balance never
below zero), records who did it and why on the entry (the 360° timeline shows both) and in the
audit trail, in one transaction. Credits added by hand expire like earned points
(Programme.expiry_months after the day they were added): a goodwill gesture is points like any
other, not a balance that never lapses.

The caller names the adjustment with an idempotency key (the form's token): a form sent twice,
a double click or a retried request adjusts once, and the second call returns the first entry.
"""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from crm.models import Member
from loyalty.expiry import credit_expires_on
from loyalty.models import PointsTransaction, Programme
from loyalty.services.ledger import Entry, InsufficientPoints, accounts_ensure, entries_post
from omnichannel.audit import audit_record

MAX_ADJUST_POINTS = 1_000_000
AUDIT_ACTION_ADJUST = "points.adjusted"  # not an AuditEvent.Action choice: shown as written
AUDIT_ADJUSTED = gettext_noop(
    "Points of member %(member_no)s adjusted by %(points)s (entry %(seq)s)"
)
ERROR_NO_POINTS = _("Enter a number of points other than 0.")
ERROR_TOO_MANY = _("An adjustment is at most %(max)s points either way.")
ERROR_NO_REASON = _("Say why the points are adjusted: the reason is kept with the entry.")
ERROR_MEMBER_GONE = _("This member was merged or erased: adjust the points of the member kept.")

__all__ = ["AdjustmentInvalid", "InsufficientPoints", "points_adjust"]


class AdjustmentInvalid(ValueError):
    """An adjustment that cannot be posted as asked; str() says why, in the user's language."""


def points_adjust(
    *,
    member: Member,
    points: int,
    reason: str,
    actor_id: int | None,
    idempotency_key: str,
    source: str = PointsTransaction.Source.PAGE,
) -> PointsTransaction:
    """Add (points > 0) or take off (points < 0) a member's points, with the reason.

    Raises AdjustmentInvalid (0 points, too many, no reason, a merged or erased member) and
    InsufficientPoints (a debit larger than the balance: nothing is posted). Returns the entry,
    or the one posted earlier under the same idempotency key.
    """
    reason = " ".join(reason.split())
    if points == 0:
        raise AdjustmentInvalid(str(ERROR_NO_POINTS))
    if abs(points) > MAX_ADJUST_POINTS:
        raise AdjustmentInvalid(str(ERROR_TOO_MANY % {"max": f"{MAX_ADJUST_POINTS:,}"}))
    if not reason:
        raise AdjustmentInvalid(str(ERROR_NO_REASON))
    if member.status != Member.Status.ACTIVE:
        raise AdjustmentInvalid(str(ERROR_MEMBER_GONE))
    key = f"adjust:{idempotency_key}"
    with transaction.atomic():
        account_id = accounts_ensure(member_ids=[member.pk])[member.pk]
        expires_on = None
        if points > 0:
            months = Programme.current().expiry_months
            expires_on = credit_expires_on(earned_on=timezone.localdate(), months=months)
        written = entries_post(
            entries=[
                Entry(
                    account_id=account_id,
                    kind=PointsTransaction.Kind.ADJUST,
                    points=points,
                    idempotency_key=key,
                    source=source,
                    expires_on=expires_on,
                    reason=reason,
                    actor_id=actor_id,
                )
            ]
        )
        if not written:  # posted before under this key: the same adjustment, sent again
            return PointsTransaction.objects.get(idempotency_key=key)
        entry = written[0]
        audit_record(
            action=AUDIT_ACTION_ADJUST,
            actor=get_user_model().objects.filter(pk=actor_id).first() if actor_id else None,
            object_type="loyalty.pointsaccount",
            object_id=account_id,
            summary=AUDIT_ADJUSTED,
            summary_params={
                "member_no": member.member_no,
                "points": f"{points:+,}",
                "seq": entry.seq,
            },
        )
    return entry
