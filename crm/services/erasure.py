"""Erasure of a member's personal data on request (Taiwan PDPA; GDPR's right to be forgotten).

The member stays as a tombstone (status erased, member number kept so references resolve) with
no personal data: identities, touchpoints, profile notes and tags go, orders stay as anonymous
amounts for revenue figures, consent rows stay as proof of what was allowed. Members merged
into it are erased with it, and merge snapshots that held their identifiers are emptied (those
merges can no longer be undone). Other apps erase their rows through crm.hooks.
"""

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from crm.hooks import member_hooks
from crm.models import (
    ErasureLog,
    Identity,
    Member,
    MemberNote,
    MergeLog,
    Order,
    Tag,
    Touchpoint,
)
from crm.services.order_feed import order_changes_record_moves
from crm.services.stats import member_stats_forget
from omnichannel.audit import audit_record
from omnichannel.models import AuditEvent

ERROR_NOT_ALLOWED = _("You may not erase members' personal data.")
ERROR_REASON_REQUIRED = _("Say why this member is erased (e.g. the request's reference).")
ERROR_NOT_ACTIVE = _("Only an active member can be erased; a merged member goes with its survivor.")
MAX_MERGE_DEPTH = 50
AUDIT_ERASED = gettext_noop("Erased %(member_no)s and %(merged)s merged member(s)")


class ErasureError(ValueError):
    pass


@transaction.atomic
def member_forget(*, member: Member, actor, reason: str) -> ErasureLog:
    """Erase the member's personal data everywhere. Raises PermissionDenied or ErasureError."""
    if actor is None or not actor.has_perm("crm.forget_member"):
        raise PermissionDenied(ERROR_NOT_ALLOWED)
    if not reason.strip():
        raise ErasureError(ERROR_REASON_REQUIRED)
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status != Member.Status.ACTIVE:
        raise ErasureError(ERROR_NOT_ACTIVE)

    ids = _with_merged_members(member.pk)
    counts = {
        "identities": Identity.objects.filter(member_id__in=ids).delete()[0],
        "touchpoints": Touchpoint.objects.filter(member_id__in=ids).delete()[0],
        # A profile note is free text about the person: personal data, it goes too.
        "notes": MemberNote.objects.filter(member_id__in=ids).delete()[0],
        "tags": Tag.members.through.objects.filter(member_id__in=ids).delete()[0],
        "orders_anonymised": _orders_anonymise(ids),
        "merged_members": len(ids) - 1,
        "merge_snapshots_emptied": MergeLog.objects.filter(
            Q(survivor_id__in=ids) | Q(merged_id__in=ids)
            # The free-text reason of a merge may name the person too: it goes with the keys.
        ).update(snapshot={"erased": True}, matched_keys=["erased"], reason=""),
    }
    for hook in member_hooks():
        if hook.on_erase is not None:
            hook.on_erase(ids)
    Member.objects.filter(pk__in=ids).update(
        name="", birthday=None, gender="", home_store=None, attributes={}
    )
    Member.objects.filter(pk=member.pk).update(status=Member.Status.ERASED)
    member_stats_forget(member_ids=ids)
    log = ErasureLog.objects.create(
        member=member, actor=actor, reason=reason.strip(), counts=counts
    )
    audit_record(
        action=AuditEvent.Action.ERASE,
        actor=actor,
        object_type="crm.member",
        object_id=member.member_no,
        summary=AUDIT_ERASED,
        summary_params={"member_no": member.member_no, "merged": counts["merged_members"]},
    )
    return log


def _orders_anonymise(member_ids: list[int]) -> int:
    """The members' orders belong to no one from now on; the feed says so first."""
    order_changes_record_moves(moves=dict.fromkeys(member_ids), at=timezone.now())
    return Order.objects.filter(member_id__in=member_ids).update(member=None)


def _with_merged_members(member_id: int) -> list[int]:
    """The member and every tombstone merged into it, at any depth (one query per level)."""
    found, level = [member_id], [member_id]
    for _level in range(MAX_MERGE_DEPTH):
        level = list(Member.objects.filter(merged_into_id__in=level).values_list("pk", flat=True))
        if not level:
            return found
        found.extend(level)
    raise ErasureError(f"merge chain deeper than {MAX_MERGE_DEPTH}")
