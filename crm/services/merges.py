"""Merges of members who are one person, and their undo (DESIGN.md §4).

Every merge is written to MergeLog with what matched and what moved, so it can be undone. A
batch of merges is a fixed number of queries for them all; member hooks (crm.hooks) are called
once per batch, and the order-change feed gets a member_moved row per order moved.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from crm.bulk import column_remap
from crm.hooks import member_hooks
from crm.models import (
    Consent,
    Identity,
    Member,
    MemberNote,
    MergeLog,
    Order,
    OrderChange,
    Tag,
    Touchpoint,
)
from crm.services.identity import (
    ERROR_ALREADY_UNDONE,
    ERROR_ERASED,
    ERROR_MERGE_INACTIVE,
    ERROR_MERGE_SELF,
    ERROR_REASON_REQUIRED,
    PROFILE_FIELDS,
    MergeError,
    UndoBlocked,
)
from crm.services.order_feed import order_changes_record, order_changes_record_moves
from crm.services.stats import member_stats_forget, member_stats_refresh
from omnichannel.audit import audit_record
from omnichannel.models import AuditEvent

AUDIT_MERGED = gettext_noop("%(count)s merge(s): %(shown)s")
AUDIT_MERGED_FROM = gettext_noop("%(count)s merge(s) from %(source)s: %(shown)s")
AUDIT_UNMERGED = gettext_noop("%(merged)s split again from %(survivor)s")


@dataclass(frozen=True)
class MergePair:
    survivor_id: int
    merged_id: int
    # The keys that tied the record to both sides (`kind:value`, `member_no:…` or `manual`).
    matched_keys: Sequence[str]


def member_merge(
    *,
    survivor: Member,
    merged: Member,
    matched_keys: Sequence[str],
    source: str = "",
    reason: str = "",
    actor=None,
) -> MergeLog:
    """Move everything of `merged` to `survivor`; `merged` stays as a tombstone pointing to it.

    Raises MergeError for a member merged with itself or one that is not active.
    """
    (merge_log,) = members_merge(
        pairs=[MergePair(survivor.pk, merged.pk, tuple(matched_keys))],
        source=source,
        reason=reason,
        actor=actor,
    )
    return merge_log


@transaction.atomic
def members_merge(
    *, pairs: Sequence[MergePair], source: str = "", reason: str = "", actor=None
) -> list[MergeLog]:
    """Merge each pair's member into its survivor, with a fixed number of queries for them all.

    Identities, consents (history kept, so the newest decision per channel wins), orders,
    touchpoints, profile notes, tags, and every other app's rows (through crm.hooks) move;
    blank profile fields of a survivor are filled from its merged members, in the order given.
    A member may be merged once per call and may not also be a survivor in it. Raises
    MergeError for a member merged with itself or one that is not active, ValueError for pairs
    that break the rule above.
    """
    if not pairs:
        return []
    if any(pair.survivor_id == pair.merged_id for pair in pairs):
        raise MergeError(ERROR_MERGE_SELF)
    survivors = {pair.survivor_id: pair.survivor_id for pair in pairs}
    moves = {pair.merged_id: pair.survivor_id for pair in pairs}
    if len(moves) != len(pairs) or moves.keys() & survivors.keys():
        raise ValueError("each member is merged at most once and is not also a survivor")
    # Lock in pk order so two merges over the same members cannot deadlock.
    members = {
        m.pk: m
        for m in Member.objects.select_for_update()
        .filter(pk__in=[*moves, *survivors])
        .order_by("pk")
    }
    if len(members) != len(moves) + len(survivors) or any(
        m.status != Member.Status.ACTIVE for m in members.values()
    ):
        raise MergeError(ERROR_MERGE_INACTIVE)

    identities = _rows_by_member(Identity, moves, "pk", "kind", "value")
    consents = _rows_by_member(Consent, moves, "pk")
    orders = _rows_by_member(Order, moves, "pk")
    touchpoints = _rows_by_member(Touchpoint, moves, "pk")
    notes = _rows_by_member(MemberNote, moves, "pk")
    through = Tag.members.through
    tags: dict[int, set[int]] = defaultdict(set)
    for member_id, tag_id in through.objects.filter(member_id__in=members).values_list(
        "member_id", "tag_id"
    ):
        tags[member_id].add(tag_id)

    now = timezone.now()
    snapshots: dict[int, dict] = {}
    tag_links: list = []
    filled_fields: set[str] = set()
    filled_survivors: set[Member] = set()
    for pair in pairs:
        survivor, merged = members[pair.survivor_id], members[pair.merged_id]
        added_tags = tags[merged.pk] - tags[survivor.pk]
        tags[survivor.pk] |= added_tags
        tag_links += [through(tag_id=t, member_id=survivor.pk) for t in added_tags]
        filled = [
            name
            for name in PROFILE_FIELDS
            if getattr(survivor, name) in (None, "") and getattr(merged, name) not in (None, "")
        ]
        for name in filled:
            setattr(survivor, name, getattr(merged, name))
        if filled:
            filled_fields.update(filled)
            filled_survivors.add(survivor)
        moved_identities = identities.get(merged.pk, [])
        snapshots[merged.pk] = {
            "identities": [pk for pk, _, _ in moved_identities],
            "identity_keys": [f"{kind}:{value}" for _, kind, value in moved_identities],
            "consents": [pk for (pk,) in consents.get(merged.pk, [])],
            "orders": [pk for (pk,) in orders.get(merged.pk, [])],
            "touchpoints": [pk for (pk,) in touchpoints.get(merged.pk, [])],
            "notes": [pk for (pk,) in notes.get(merged.pk, [])],
            "tags": sorted(tags[merged.pk]),
            "tags_added_to_survivor": sorted(added_tags),
            "survivor_filled": sorted(filled),
            "hooks": {},
        }

    # The feed reads the orders' members before they move.
    order_changes_record_moves(moves={merged: moves[merged] for merged in orders}, at=now)
    for model, rows in (
        (Identity, identities),
        (Consent, consents),
        (Order, orders),
        (Touchpoint, touchpoints),
        (MemberNote, notes),
    ):
        column_remap(model, "member_id", {merged: moves[merged] for merged in rows})
    through.objects.bulk_create(tag_links, ignore_conflicts=True)
    through.objects.filter(member_id__in=moves).delete()
    # Once per batch: an app moves the rows of every pair with one statement.
    pair_ids = [(pair.survivor_id, pair.merged_id) for pair in pairs]
    for hook in member_hooks():
        returned = hook.on_merge(pair_ids) or {}
        for _, merged_id in pair_ids:
            snapshots[merged_id]["hooks"][hook.name] = returned.get(merged_id, {})

    if filled_survivors:
        for member in filled_survivors:
            member.updated_at = now
        Member.objects.bulk_update(filled_survivors, [*sorted(filled_fields), "updated_at"])
    column_remap(
        Member,
        "merged_into_id",
        moves,
        key="id",
        also={"status": Member.Status.MERGED.value, "updated_at": now},
    )
    # The survivors' figures now include the merged members' orders; tombstones have none.
    member_stats_refresh(member_ids=survivors, at=now)
    member_stats_forget(member_ids=list(moves))
    logs = MergeLog.objects.bulk_create(
        MergeLog(
            survivor_id=pair.survivor_id,
            merged_id=pair.merged_id,
            matched_keys=list(pair.matched_keys),
            source=source,
            reason=reason,
            actor=actor,
            at=now,
            snapshot=snapshots[pair.merged_id],
        )
        for pair in pairs
    )
    # One event per batch (an import merges thousands at once), naming members by number only.
    shown = ", ".join(
        f"{members[p.merged_id].member_no} → {members[p.survivor_id].member_no}" for p in pairs[:3]
    )
    if len(pairs) > 3:
        shown += f" (+{len(pairs) - 3})"
    audit_record(
        action=AuditEvent.Action.MERGE,
        actor=actor,
        object_type="crm.mergelog",
        object_id=logs[0].pk if logs and logs[0].pk else "",
        summary=AUDIT_MERGED_FROM if source else AUDIT_MERGED,
        summary_params={"count": len(pairs), "source": source, "shown": shown},
    )
    return logs


def _rows_by_member(model, member_ids: Iterable[int], *fields: str) -> dict[int, list[tuple]]:
    rows: dict[int, list[tuple]] = defaultdict(list)
    for member_id, *values in model.objects.filter(member_id__in=list(member_ids)).values_list(
        "member_id", *fields
    ):
        rows[member_id].append(tuple(values))
    return rows


def member_merge_by_hand(*, first: Member, second: Member, reason: str, actor) -> MergeLog:
    """A marketer's merge of two members they know are one person, into the older one."""
    if not reason.strip():
        raise MergeError(ERROR_REASON_REQUIRED)
    survivor, merged = sorted([first, second], key=lambda m: m.pk)
    return member_merge(
        survivor=survivor,
        merged=merged,
        matched_keys=["manual"],
        source="manual",
        reason=reason.strip(),
        actor=actor,
    )


def merge_blocking_undo(merge_log: MergeLog) -> MergeLog | None:
    """The earliest later merge that depends on this one, if any.

    A later merge depends on it when it moved the survivor away, or when it matched through an
    identifier that this merge brought to the survivor.
    """
    moved_keys = set(merge_log.snapshot.get("identity_keys", []))
    later = (
        MergeLog.objects.filter(undone_at__isnull=True, pk__gt=merge_log.pk)
        .filter(Q(merged=merge_log.survivor_id) | Q(survivor=merge_log.survivor_id))
        .select_related("survivor", "merged")
        .order_by("pk")
    )
    for candidate in later:
        if candidate.merged_id == merge_log.survivor_id:
            return candidate
        if moved_keys.intersection(candidate.matched_keys):
            return candidate
    return None


@transaction.atomic
def member_unmerge(*, merge_log: MergeLog, actor=None) -> Member:
    """Undo a merge: the merged member comes back with exactly what it brought.

    Raises MergeError if already undone, UndoBlocked naming the later merge to undo first.
    """
    merge_log = MergeLog.objects.select_for_update().get(pk=merge_log.pk)
    if merge_log.undone_at is not None:
        raise MergeError(ERROR_ALREADY_UNDONE)
    if merge_log.snapshot.get("erased"):
        raise MergeError(ERROR_ERASED)
    blocking = merge_blocking_undo(merge_log)
    if blocking is not None:
        raise UndoBlocked(blocking)
    members = {
        m.pk: m
        for m in Member.objects.select_for_update()
        .filter(pk__in=[merge_log.survivor_id, merge_log.merged_id])
        .order_by("pk")
    }
    survivor, merged = members[merge_log.survivor_id], members[merge_log.merged_id]
    snapshot = merge_log.snapshot

    Identity.objects.filter(pk__in=snapshot["identities"]).update(member=merged)
    Consent.objects.filter(pk__in=snapshot["consents"]).update(member=merged)
    order_changes_record(
        order_ids=snapshot["orders"],
        kind=OrderChange.Kind.MEMBER_MOVED,
        at=timezone.now(),
        member_id=merged.pk,
    )
    Order.objects.filter(pk__in=snapshot["orders"]).update(member=merged)
    Touchpoint.objects.filter(pk__in=snapshot["touchpoints"]).update(member=merged)
    # Merges logged before profile notes existed have no "notes" list.
    MemberNote.objects.filter(pk__in=snapshot.get("notes", [])).update(member=merged)
    through = Tag.members.through
    through.objects.filter(
        member_id=survivor.pk, tag_id__in=snapshot["tags_added_to_survivor"]
    ).delete()
    through.objects.bulk_create(
        [through(tag_id=t, member_id=merged.pk) for t in snapshot["tags"]], ignore_conflicts=True
    )
    hooks = {hook.name: hook for hook in member_hooks()}
    for name, hook_snapshot in snapshot["hooks"].items():
        if name in hooks:
            hooks[name].on_unmerge(survivor.pk, merged.pk, hook_snapshot)

    for name in snapshot["survivor_filled"]:
        setattr(survivor, name, None if name in ("birthday", "home_store_id") else "")
    if snapshot["survivor_filled"]:
        survivor.save(update_fields=[*snapshot["survivor_filled"], "updated_at"])
    merged.status = Member.Status.ACTIVE
    merged.merged_into = None
    merged.save(update_fields=["status", "merged_into", "updated_at"])
    member_stats_refresh(member_ids=[survivor.pk, merged.pk])
    merge_log.undone_at = timezone.now()
    merge_log.undone_by = actor
    merge_log.save(update_fields=["undone_at", "undone_by"])
    audit_record(
        action=AuditEvent.Action.UNMERGE,
        actor=actor,
        object_type="crm.mergelog",
        object_id=merge_log.pk,
        summary=AUDIT_UNMERGED,
        summary_params={"merged": merged.member_no, "survivor": survivor.member_no},
    )
    return merged
