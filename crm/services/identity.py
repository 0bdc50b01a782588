"""Identity resolution: one member per real person (formats/README.md, DESIGN.md §4).

An incoming record (import row, API call, webhook) carries identifiers. None known → a new
member; one member → attach the new identifiers to it; several members → merge them into the
oldest. Every merge is written to MergeLog with what matched and what moved, so it can be undone.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from crm.bulk import column_remap
from crm.hooks import member_hooks
from crm.identifiers import (  # noqa: F401  (re-exported: crm.services.identity callers)
    NORMALIZERS,
    Identifier,
    NormalizedIdentifiers,
    identifiers_normalize,
)
from crm.models import (
    Consent,
    Identity,
    Member,
    MemberNote,
    MergeLog,
    NumberSequence,
    Order,
    OrderChange,
    Tag,
    Touchpoint,
)
from crm.services.order_feed import order_changes_record, order_changes_record_moves
from crm.services.stats import member_stats_forget, member_stats_refresh
from omnichannel.channels import SalesChannel

# Profile fields a merge or a later record may fill on a member where they are blank.
PROFILE_FIELDS = ("name", "birthday", "gender", "home_store_id", "acquisition_channel")
MAX_MERGE_CHAIN = 50
MEMBER_NO_SEQUENCE = "member_no"
MEMBER_NO_PG_SEQUENCE = "crm_member_no_seq"  # crm/migrations/0013
MEMBER_NO_PREFIX = "OC"

ERROR_MERGE_SELF = "A member cannot be merged with itself."
ERROR_MERGE_INACTIVE = "Only active members can be merged."
ERROR_ALREADY_UNDONE = "This merge has already been undone."
ERROR_REASON_REQUIRED = "Say why these members are the same person."
ERROR_ERASED = "This merge cannot be undone: the member's personal data was erased."


class MergeError(ValueError):
    pass


class UndoBlocked(MergeError):
    """A later merge depends on this one; undo `blocking` first."""

    def __init__(self, blocking: MergeLog):
        self.blocking = blocking
        super().__init__(
            f"Undo merge #{blocking.pk} ({blocking.merged.member_no} → "
            f"{blocking.survivor.member_no}) first: it depends on this one."
        )


@dataclass(frozen=True)
class MemberProfile:
    name: str = ""
    birthday: date | None = None
    gender: str = ""
    home_store_id: int | None = None
    acquisition_channel: str = ""
    joined_at: datetime | None = None


@dataclass
class Resolution:
    member: Member
    created: bool
    merges: list[MergeLog]
    attached: list[Identifier]


def member_resolve(
    *,
    identifiers: Sequence[Identifier],
    source: str,
    member_no: str = "",
    profile: MemberProfile | None = None,
    at: datetime | None = None,
    actor=None,
) -> Resolution:
    """The member these identifiers belong to, creating or merging members as needed.

    Raises ValueError when there is nothing to resolve on (no identifier, no member number).
    """
    if not identifiers and not member_no:
        raise ValueError("a record needs at least one identifier or a member number")
    at = at or timezone.now()
    # Two records with a new identifier can race to create it; the loser retries and finds it.
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _resolve_once(
                    identifiers=identifiers,
                    source=source,
                    member_no=member_no,
                    profile=profile or MemberProfile(),
                    at=at,
                    actor=actor,
                )
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _resolve_once(*, identifiers, source, member_no, profile, at, actor) -> Resolution:
    number_owner = member_survivor(member_no=member_no) if member_no else None
    if number_owner is not None and number_owner.status == Member.Status.ERASED:
        # An erased member's number identifies no one any more, and is not handed out again.
        member_no, number_owner = "", None
        if not identifiers:
            raise ValueError("a record needs at least one identifier or a member number")
    matched = _members_matching(identifiers, member_no, number_owner)
    if not matched:
        member = _member_create(member_no=member_no, profile=profile, source=source, at=at)
        _identities_create(member=member, identifiers=identifiers, source=source, at=at)
        member_stats_refresh(member_ids=[member.pk], at=at)
        return Resolution(member=member, created=True, merges=[], attached=list(identifiers))

    # Lock in pk order so two resolutions over the same members cannot deadlock.
    members = list(Member.objects.select_for_update().filter(pk__in=matched).order_by("pk"))
    survivor, others = members[0], members[1:]
    merges = [
        member_merge(
            survivor=survivor,
            merged=other,
            # Both sides: what tied the record to the survivor and to the merged member.
            matched_keys=[*matched[survivor.pk], *matched[other.pk]],
            source=source,
            actor=actor,
        )
        for other in others
    ]
    survivor.refresh_from_db()
    attached = _identities_attach(member=survivor, identifiers=identifiers, source=source, at=at)
    _profile_fill(member=survivor, profile=profile)
    return Resolution(member=survivor, created=False, merges=merges, attached=attached)


def _members_matching(
    identifiers: Sequence[Identifier], member_no: str, number_owner: Member | None
) -> dict[int, list[str]]:
    """Active member id → the identifier keys of the record that point to it (`number_owner`
    is the member its number leads to)."""
    matched: dict[int, list[str]] = {}
    if identifiers:
        condition = Q()
        for identifier in identifiers:
            condition |= Q(kind=identifier.kind, value=identifier.value)
        for kind, value, member_id in Identity.objects.filter(condition).values_list(
            "kind", "value", "member_id"
        ):
            matched.setdefault(member_id, []).append(f"{kind}:{value}")
    if number_owner is not None:
        matched.setdefault(number_owner.pk, []).append(f"member_no:{member_no}")
    return matched


def member_survivor(*, member_no: str) -> Member | None:
    """The active member a member number leads to, following merges; None if unknown."""
    member = Member.objects.filter(member_no=member_no).first()
    for _ in range(MAX_MERGE_CHAIN):
        if member is None or member.merged_into_id is None:
            return member
        member = Member.objects.get(pk=member.merged_into_id)
    raise MergeError(f"merge chain from {member_no} is longer than {MAX_MERGE_CHAIN}")


def member_numbers_allocate(*, count: int) -> list[str]:
    """`count` new member numbers (OC000000001…), unique across processes.

    The brand's own numbers (M…) arrive with their members; ours never collide with them.
    """
    if count <= 0:
        return []
    if connection.vendor == "postgresql":
        # A sequence takes no lock that lasts until commit; a rolled-back number is skipped.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(%s) FROM generate_series(1, %s)", [MEMBER_NO_PG_SEQUENCE, count]
            )
            return [f"{MEMBER_NO_PREFIX}{n:09d}" for (n,) in cursor.fetchall()]
    with transaction.atomic():
        NumberSequence.objects.get_or_create(name=MEMBER_NO_SEQUENCE)
        # One conditional UPDATE reserves the whole block; concurrent callers queue on the row.
        NumberSequence.objects.filter(name=MEMBER_NO_SEQUENCE).update(
            last_value=F("last_value") + count
        )
        last = NumberSequence.objects.get(name=MEMBER_NO_SEQUENCE).last_value
    return [f"{MEMBER_NO_PREFIX}{n:09d}" for n in range(last - count + 1, last + 1)]


def acquisition_channel_of(source: str) -> str:
    """The acquisition channel a record's source implies: a sales channel, or none (LINE, …)."""
    return source if source in SalesChannel.values else ""


def _member_create(*, member_no: str, profile: MemberProfile, source: str, at: datetime) -> Member:
    return Member.objects.create(
        member_no=member_no or member_numbers_allocate(count=1)[0],
        name=profile.name,
        birthday=profile.birthday,
        gender=profile.gender,
        home_store_id=profile.home_store_id,
        acquisition_channel=profile.acquisition_channel or acquisition_channel_of(source),
        joined_at=profile.joined_at or at,
    )


def _identities_create(
    *, member: Member, identifiers: Sequence[Identifier], source: str, at: datetime
) -> None:
    Identity.objects.bulk_create(
        Identity(
            member=member,
            kind=i.kind,
            value=i.value,
            source=source,
            first_seen_at=at,
            last_seen_at=at,
        )
        for i in identifiers
    )


def _identities_attach(
    *, member: Member, identifiers: Sequence[Identifier], source: str, at: datetime
) -> list[Identifier]:
    known = {
        Identifier(kind, value) for kind, value in member.identities.values_list("kind", "value")
    }
    new = [i for i in identifiers if i not in known]
    _identities_create(member=member, identifiers=new, source=source, at=at)
    seen_again = [i for i in identifiers if i in known]
    if seen_again:
        condition = Q()
        for identifier in seen_again:
            condition |= Q(kind=identifier.kind, value=identifier.value)
        member.identities.filter(condition, last_seen_at__lt=at).update(last_seen_at=at)
    return new


def _profile_fill(*, member: Member, profile: MemberProfile) -> None:
    changed = [
        name
        for name in PROFILE_FIELDS
        if getattr(profile, name) not in (None, "") and getattr(member, name) in (None, "")
    ]
    for name in changed:
        setattr(member, name, getattr(profile, name))
    if changed:
        member.save(update_fields=[*changed, "updated_at"])


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
    return MergeLog.objects.bulk_create(
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
    return merged
