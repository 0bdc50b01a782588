"""Suppressions: the one place that records and lifts a member's block, bounce or complaint.

Every source (LINE's webhook, an ESP's tracking event, the sandbox, an operator) goes through
these two verbs, set-wise: one member that is already suppressed for the reason on the channel
gets no second active row (the reachability rule only asks whether one exists, and the history
stays readable), and lifting closes every active row of the reason.
"""

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from campaigns.models import Suppression


@transaction.atomic
def suppression_record(
    *,
    member_ids: Iterable[int],
    channel: str,
    reason: str,
    source: str,
    detail: str = "",
    at=None,
) -> int:
    """Suppress each member on the channel for the reason; answer how many rows were new."""
    wanted = set(member_ids)
    if not wanted:
        return 0
    already = set(
        Suppression.objects.filter(
            member_id__in=wanted, channel=channel, reason=reason, lifted_at__isnull=True
        ).values_list("member_id", flat=True)
    )
    at = at or timezone.now()
    rows = [
        Suppression(
            member_id=member_id,
            channel=channel,
            reason=reason,
            source=source[:50],
            detail=detail[:500],
            at=at,
        )
        for member_id in sorted(wanted - already)
    ]
    Suppression.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def suppression_lift(
    *, member_ids: Iterable[int], channel: str, reason: str | None = None, at=None
) -> int:
    """Lift the members' active suppressions on the channel (of one reason, or all)."""
    active = Suppression.objects.filter(
        member_id__in=set(member_ids), channel=channel, lifted_at__isnull=True
    )
    if reason:
        active = active.filter(reason=reason)
    return active.update(lifted_at=at or timezone.now())
