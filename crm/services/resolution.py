"""One record's member (the ingest API, touchpoints, a by-hand lookup): a batch of one.

There is one resolution engine, crm.services.resolution_batch, so a record resolves the same
whether it comes in a file of a million rows or in one API call. This module adds what a
single caller needs: retries when a concurrent writer created one of its identifiers, the
member itself, and its figures when the member is new.
"""

from collections.abc import Sequence
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Member
from crm.services.identity import Identifier, MemberProfile, Resolution
from crm.services.resolution_batch import BatchRecord, members_resolve_batch
from crm.services.stats import member_stats_refresh

ERROR_NOTHING_TO_RESOLVE = "a record needs at least one identifier or a member number"


def member_resolve(
    *,
    identifiers: Sequence[Identifier],
    source: str,
    member_no: str = "",
    profile: MemberProfile | None = None,
    at: datetime | None = None,
    seen_at: datetime | None = None,
    actor=None,
) -> Resolution:
    """The member these identifiers belong to, creating or merging members as needed.

    `seen_at` is when the source saw the identifiers (an order's or an event's time; default
    `at`): their first and last seen widen to it.

    Raises ValueError when there is nothing to resolve on (no identifier, and no member number
    or an erased member's number).
    """
    if not identifiers and not member_no:
        raise ValueError(ERROR_NOTHING_TO_RESOLVE)
    at = at or timezone.now()
    record = BatchRecord(
        identifiers=list(dict.fromkeys(identifiers)),
        member_no=member_no,
        profile=profile or MemberProfile(),
        seen_at=seen_at or at,
    )
    # Two records with a new identifier can race to create it; the loser retries and finds it.
    for attempt in range(3):
        try:
            with transaction.atomic():
                batch = members_resolve_batch(records=[record], source=source, at=at, actor=actor)
                (member_id,) = batch.member_ids
                if member_id is None:
                    raise ValueError(ERROR_NOTHING_TO_RESOLVE)
                created = batch.members_created == 1
                attached = set(batch.attached)
                if created:
                    member_stats_refresh(member_ids=[member_id], at=at)
                return Resolution(
                    member=Member.objects.get(pk=member_id),
                    created=created,
                    merges=batch.merge_logs,
                    attached=[i for i in record.identifiers if i in attached],
                )
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
