"""Identity resolution for a batch of records at once: a fixed number of queries per batch.

Used by imports (thousands of rows a batch). The records of a batch and the members they already
match are joined into connected components (union-find over shared identifiers); each component
is one person. A component with no member becomes a new member, one with one member attaches its
new identifiers to it, one with several merges them into the oldest (rare; per-merge queries).
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from crm.bulk import chunked, ids_reserve, models_write, uses_copy
from crm.models import BirthdayCalendar, Identity, Member, MergeLog
from crm.services.identity import (
    PROFILE_FIELDS,
    Identifier,
    MemberProfile,
    acquisition_channel_of,
    member_numbers_allocate,
    member_survivor,
)
from crm.services.merges import MergePair, members_merge

LOOKUP_CHUNK = 2_000
SQLITE_SPAN_CHUNK = 300  # 900 parameters, under SQLite's oldest limit of 999
NULLABLE_FIELDS = ("birthday", "home_store_id")


@dataclass(frozen=True)
class BatchRecord:
    identifiers: Sequence[Identifier]
    member_no: str = ""
    profile: MemberProfile | None = None
    # When the source saw these identifiers (an order's time); None: the batch's `at`.
    seen_at: datetime | None = None


@dataclass
class BatchResolution:
    member_ids: list[int | None]  # per record, None for an anonymous one (no identifiers)
    members_created: int
    merges: int
    merge_logs: list[MergeLog] = field(default_factory=list)
    attached: list[Identifier] = field(default_factory=list)  # identifiers new to the database


class _UnionFind:
    """Disjoint sets of hashable nodes, interned to ints: find runs once per identifier, so it
    walks a list with path halving instead of recursing through a dict. Roots are ints."""

    __slots__ = ("_ids", "_parent")

    def __init__(self) -> None:
        self._ids: dict = {}
        self._parent: list[int] = []

    def find(self, node) -> int:
        i = self._ids.get(node)
        if i is None:
            i = self._ids[node] = len(self._parent)
            self._parent.append(i)
            return i
        parent = self._parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, a, b) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self._parent[root_b] = root_a


class _Known(NamedTuple):
    member_id: int
    pk: int


def _existing_owners(identifiers: set[Identifier]) -> dict[Identifier, _Known]:
    if uses_copy():
        # One join against the batch's identifiers as arrays, instead of IN lists per kind.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.kind, i.value, i.member_id, i.id "
                "FROM crm_identity i "
                "JOIN unnest(%s::varchar[], %s::varchar[]) AS b(kind, value) "
                "ON i.kind = b.kind AND i.value = b.value",
                [[i.kind for i in identifiers], [i.value for i in identifiers]],
            )
            return {Identifier(row[0], row[1]): _Known(row[2], row[3]) for row in cursor}
    by_kind: dict[str, list[str]] = defaultdict(list)
    for identifier in identifiers:
        by_kind[identifier.kind].append(identifier.value)
    owners: dict[Identifier, _Known] = {}
    for kind, values in by_kind.items():
        for chunk in chunked(values, LOOKUP_CHUNK):
            rows = Identity.objects.filter(kind=kind, value__in=chunk).values_list(
                "value", "member_id", "pk"
            )
            owners.update({Identifier(kind, row[0]): _Known(row[1], row[2]) for row in rows})
    return owners


def _seen_times(
    records: Sequence[BatchRecord], at: datetime
) -> dict[Identifier, tuple[datetime, datetime]]:
    """Each identifier's earliest and latest time in the batch (its records' own times)."""
    seen: dict[Identifier, tuple[datetime, datetime]] = {}
    get = seen.get
    for record in records:
        when = record.seen_at or at
        for identifier in record.identifiers:
            span = get(identifier)
            if span is None:
                seen[identifier] = (when, when)
            elif when < span[0]:
                seen[identifier] = (when, span[1])
            elif when > span[1]:
                seen[identifier] = (span[0], when)
    return seen


def _seen_extend(owners: dict[Identifier, _Known], seen: dict) -> None:
    """Widen first/last seen of known identities to the batch's times in one UPDATE that writes
    only the rows whose span grows (the comparison runs in the database, so no stored time is
    read into Python), no UPDATE per identity."""
    spans = sorted((known.pk, *seen[identifier]) for identifier, known in owners.items())
    if not spans:
        return
    # Rows in id order: two imports widening the same identities lock them alike.
    if uses_copy():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE crm_identity AS i SET "
                "first_seen_at = LEAST(i.first_seen_at, b.first), "
                "last_seen_at = GREATEST(i.last_seen_at, b.last) "
                "FROM unnest(%s::text::bigint[], %s::text::timestamptz[], "
                "%s::text::timestamptz[]) AS b(id, first, last) "
                "WHERE i.id = b.id AND (b.first < i.first_seen_at OR b.last > i.last_seen_at)",
                # Array literals written here: psycopg dumps a list element by element in
                # Python, which cost more than the UPDATE itself for 20,000 datetimes.
                [
                    "{" + ",".join(str(s[0]) for s in spans) + "}",
                    "{" + ",".join(s[1].isoformat() for s in spans) + "}",
                    "{" + ",".join(s[2].isoformat() for s in spans) + "}",
                ],
            )
        return
    # SQLite (3.33+ has UPDATE … FROM): the same statement over a VALUES list per chunk; times
    # as Django stores them there (UTC text of one shape, so text order is time order).
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        for chunk in chunked(spans, SQLITE_SPAN_CHUNK):
            cursor.execute(
                "UPDATE crm_identity AS i SET "  # noqa: S608 (only placeholders are joined)
                "first_seen_at = MIN(i.first_seen_at, b.first), "
                "last_seen_at = MAX(i.last_seen_at, b.last) "
                "FROM (SELECT column1 AS id, column2 AS first, column3 AS last FROM (VALUES "
                + ",".join(["(%s, %s, %s)"] * len(chunk))
                + ")) AS b WHERE i.id = b.id "
                "AND (b.first < i.first_seen_at OR b.last > i.last_seen_at)",
                [value for pk, first, last in chunk for value in (pk, adapt(first), adapt(last))],
            )


def _member_no_owners(member_nos: set[str]) -> tuple[dict[str, int], set[str]]:
    """The active member of each known member number, and the numbers of erased members."""
    owners: dict[str, int] = {}
    erased: set[str] = set()
    rows = Member.objects.filter(member_no__in=member_nos).values_list("member_no", "pk", "status")
    for member_no, pk, status in rows:
        if status == Member.Status.ACTIVE:
            owners[member_no] = pk
        elif status == Member.Status.ERASED:
            erased.add(member_no)
        else:
            survivor = member_survivor(member_no=member_no)  # rare: a tombstone's number
            if survivor is None:
                erased.add(member_no)
            else:
                owners[member_no] = survivor.pk
    return owners, erased


@transaction.atomic
def members_resolve_batch(
    *,
    records: Sequence[BatchRecord],
    source: str,
    at: datetime,
    actor=None,
) -> BatchResolution:
    """The member of every record, creating and merging members set-wise.

    Identifiers' first and last seen widen to their records' `seen_at` (the source's time), for
    new and known identifiers alike, so a single API record and a file row agree.

    An erased member's number no longer identifies anyone: such a record resolves on its other
    identifiers. Raises IntegrityError if another writer attached one of the batch's new
    identifiers meanwhile; the caller retries the batch, which then finds it.
    """
    seen = _seen_times(records, at)
    all_identifiers = seen.keys()
    known = _existing_owners(set(all_identifiers))
    owners = {identifier: k.member_id for identifier, k in known.items()}
    number_owners, erased_numbers = _member_no_owners(
        {record.member_no for record in records if record.member_no}
    )

    def member_no_of(record: BatchRecord) -> str:
        return "" if record.member_no in erased_numbers else record.member_no

    forest = _UnionFind()
    for index, record in enumerate(records):
        node = ("record", index)
        forest.find(node)
        for identifier in record.identifiers:
            forest.union(node, ("id", identifier))
            if identifier in owners:
                forest.union(node, ("member", owners[identifier]))
        if member_no := member_no_of(record):
            forest.union(node, ("no", member_no))
            if member_no in number_owners:
                forest.union(node, ("member", number_owners[member_no]))

    components: dict = defaultdict(lambda: {"records": [], "members": set()})
    for index, record in enumerate(records):
        if record.identifiers or member_no_of(record):
            components[forest.find(("record", index))]["records"].append(index)
    keys_of_member: dict[int, list[tuple[object, str]]] = defaultdict(list)
    for identifier, member_id in owners.items():
        components[forest.find(("id", identifier))]["members"].add(member_id)
        keys_of_member[member_id].append((("id", identifier), identifier.key))
    for member_no, member_id in number_owners.items():
        components[forest.find(("no", member_no))]["members"].add(member_id)
        keys_of_member[member_id].append((("no", member_no), f"member_no:{member_no}"))

    merge_pairs: list[MergePair] = []
    component_member: dict = {}
    fresh: list = []
    for root, component in components.items():
        if not component["members"]:
            fresh.append(root)
            continue
        survivor_id, *others = sorted(component["members"])
        component_member[root] = survivor_id
        for other in others:
            # Both sides: the batch's keys that tied it to the survivor and to the merged member.
            keys = [
                key
                for member_id in (survivor_id, other)
                for node, key in keys_of_member[member_id]
                if forest.find(node) == root
            ]
            merge_pairs.append(MergePair(survivor_id, other, tuple(keys)))
    merge_logs = members_merge(pairs=merge_pairs, source=source, actor=actor)

    created_ids = _members_create(
        records,
        [components[root]["records"] for root in fresh],
        member_no_of=member_no_of,
        source=source,
        at=at,
    )
    component_member.update(zip(fresh, created_ids, strict=True))

    # First and last seen are when the source saw the identifier (the orders' times).
    models_write(
        Identity,
        ("member_id", "kind", "value", "source", "first_seen_at", "last_seen_at"),
        [
            (
                component_member[forest.find(("id", identifier))],
                identifier.kind,
                identifier.value,
                source,
                *span,
            )
            for identifier, span in seen.items()
            if identifier not in owners
        ],
        batch_size=LOOKUP_CHUNK,
    )
    _seen_extend(known, seen)
    _profiles_fill(records, components, component_member, exclude=set(created_ids))

    member_ids = [
        component_member[forest.find(("record", index))]
        if (record.identifiers or member_no_of(record))
        else None
        for index, record in enumerate(records)
    ]
    return BatchResolution(
        member_ids=member_ids,
        members_created=len(created_ids),
        merges=len(merge_pairs),
        merge_logs=merge_logs,
        attached=[identifier for identifier in all_identifiers if identifier not in owners],
    )


MEMBER_FIELDS = (
    "member_no",
    "name",
    "birthday",
    "birthday_calendar",
    "gender",
    "home_store_id",
    "acquisition_channel",
    "joined_at",
    "status",
    "attributes",
    "created_at",
    "updated_at",
)


def _members_create(
    records: Sequence[BatchRecord],
    components: list[list[int]],
    *,
    member_no_of,
    source: str,
    at: datetime,
) -> list[int]:
    """One new member per component of records (their indexes); returns the new ids in order."""
    if not components:
        return []
    given = [
        next((no for i in indexes if (no := member_no_of(records[i]))), "")
        for indexes in components
    ]
    generated = iter(member_numbers_allocate(count=sum(1 for no in given if not no)))
    rows = []
    for member_no, indexes in zip(given, components, strict=True):
        profile = _merged_profile(records, indexes)
        rows.append(
            (
                member_no or next(generated),
                profile.name,
                profile.birthday,
                BirthdayCalendar.SOLAR.value,  # a member chooses lunar later, by hand
                profile.gender,
                profile.home_store_id,
                profile.acquisition_channel or acquisition_channel_of(source),
                profile.joined_at or at,
                Member.Status.ACTIVE.value,
                "{}",
                at,
                at,
            )
        )
    if uses_copy():
        ids = ids_reserve(Member, len(rows))
        models_write(
            Member,
            ("id", *MEMBER_FIELDS),
            [(pk, *row) for pk, row in zip(ids, rows, strict=True)],
            batch_size=LOOKUP_CHUNK,
        )
        return ids
    members = [Member(**dict(zip(MEMBER_FIELDS, row, strict=True))) for row in rows]
    for member in members:
        member.attributes = {}
    return [m.pk for m in Member.objects.bulk_create(members, batch_size=LOOKUP_CHUNK)]


def _merged_profile(records: Sequence[BatchRecord], indexes: list[int]) -> MemberProfile:
    """The first non-blank value of each profile field among a component's records, and the
    earliest joined_at (a person joined at their first purchase or registration)."""
    values = {}
    joined = []
    for index in indexes:
        profile = records[index].profile
        if profile is None:
            continue
        for name in PROFILE_FIELDS:
            if values.get(name) in (None, "") and getattr(profile, name) not in (None, ""):
                values[name] = getattr(profile, name)
        if profile.joined_at is not None:
            joined.append(profile.joined_at)
    return MemberProfile(**values, joined_at=min(joined, default=None))


def _profiles_fill(records, components, component_member, *, exclude: set[int]) -> None:
    """Fill blank profile fields of existing members from the batch."""
    wanted: dict[int, MemberProfile] = {}
    for root, component in components.items():
        member_id = component_member[root]
        if member_id in exclude:
            continue
        profile = _merged_profile(records, component["records"])
        if any(getattr(profile, name) not in (None, "") for name in PROFILE_FIELDS):
            wanted[member_id] = profile
    if not wanted:
        return
    if uses_copy():
        _profiles_fill_sql(wanted)
        return
    blank = Q()
    for name in PROFILE_FIELDS:
        blank |= Q(**{f"{name}__isnull": True} if name in NULLABLE_FIELDS else {name: ""})
    changed, fields = set(), set()
    members = Member.objects.filter(blank, pk__in=list(wanted)).only("pk", *PROFILE_FIELDS)
    for member in members:
        profile = wanted[member.pk]
        for name in PROFILE_FIELDS:
            if getattr(member, name) in (None, "") and getattr(profile, name) not in (None, ""):
                setattr(member, name, getattr(profile, name))
                fields.add(name)
                changed.add(member)
    if changed:
        now = timezone.now()
        for member in changed:
            member.updated_at = now
        Member.objects.bulk_update(
            changed, [*sorted(fields), "updated_at"], batch_size=LOOKUP_CHUNK
        )


# Each field's SQL type, and how "blank" reads for it.
_FILL_TYPES = {
    "name": "varchar",
    "birthday": "date",
    "gender": "varchar",
    "home_store_id": "bigint",
    "acquisition_channel": "varchar",
}


def _profiles_fill_sql(wanted: dict[int, MemberProfile]) -> None:
    """PostgreSQL: one UPDATE over the batch's profiles as arrays; only blanks change."""

    def is_blank(table: str, name: str) -> str:
        return f"{table}.{name} IS NULL" if name in NULLABLE_FIELDS else f"{table}.{name} = ''"

    sets = ", ".join(
        f"{name} = CASE WHEN {is_blank('m', name)} THEN b.{name} ELSE m.{name} END"
        for name in PROFILE_FIELDS
    )
    changes = " OR ".join(
        f"({is_blank('m', name)} AND NOT ({is_blank('b', name)}))" for name in PROFILE_FIELDS
    )
    arrays = ", ".join(f"%s::{_FILL_TYPES[name]}[]" for name in PROFILE_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE crm_member AS m SET {sets}, updated_at = now() "  # noqa: S608
            f"FROM unnest(%s::bigint[], {arrays}) AS b(id, {', '.join(PROFILE_FIELDS)}) "
            f"WHERE m.id = b.id AND ({changes})",
            [
                list(wanted),
                *(
                    [
                        getattr(profile, name)
                        if name in NULLABLE_FIELDS
                        else getattr(profile, name) or ""
                        for profile in wanted.values()
                    ]
                    for name in PROFILE_FIELDS
                ),
            ],
        )
