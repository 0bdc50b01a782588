"""Identity resolution for a batch of records at once: a fixed number of queries per batch.

Used by imports (thousands of rows a batch). The records of a batch and the members they already
match are joined into connected components (union-find over shared identifiers); each component
is one person. A component with no member becomes a new member, one with one member attaches its
new identifiers to it, one with several merges them into the oldest (rare; per-merge queries).
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from crm.models import Identity, Member
from crm.services.identity import (
    PROFILE_FIELDS,
    Identifier,
    MemberProfile,
    member_merge,
    member_numbers_allocate,
    member_survivor,
)

LOOKUP_CHUNK = 2_000


@dataclass(frozen=True)
class BatchRecord:
    identifiers: Sequence[Identifier]
    member_no: str = ""
    profile: MemberProfile | None = None


@dataclass
class BatchResolution:
    member_ids: list[int | None]  # per record, None for an anonymous one (no identifiers)
    members_created: int
    merges: int


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, node):
        parent = self.parent.setdefault(node, node)
        if parent != node:
            root = self.find(parent)
            self.parent[node] = root
            return root
        return node

    def union(self, a, b) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[root_b] = root_a


def _existing_owners(identifiers: set[Identifier]) -> dict[Identifier, int]:
    by_kind: dict[str, list[str]] = defaultdict(list)
    for identifier in identifiers:
        by_kind[identifier.kind].append(identifier.value)
    owners: dict[Identifier, int] = {}
    for kind, values in by_kind.items():
        for start in range(0, len(values), LOOKUP_CHUNK):
            rows = Identity.objects.filter(
                kind=kind, value__in=values[start : start + LOOKUP_CHUNK]
            ).values_list("value", "member_id")
            owners.update({Identifier(kind, value): member_id for value, member_id in rows})
    return owners


def _member_no_owners(member_nos: set[str]) -> dict[str, int]:
    owners: dict[str, int] = {}
    rows = Member.objects.filter(member_no__in=member_nos).values_list(
        "member_no", "pk", "merged_into_id"
    )
    for member_no, pk, merged_into in rows:
        if merged_into is None:
            owners[member_no] = pk
        else:
            survivor = member_survivor(member_no=member_no)  # rare: a tombstone's number
            owners[member_no] = survivor.pk
    return owners


@transaction.atomic
def members_resolve_batch(
    *, records: Sequence[BatchRecord], source: str, at: datetime
) -> BatchResolution:
    """The member of every record, creating and merging members set-wise.

    Raises IntegrityError if another writer attached one of the batch's new identifiers
    meanwhile; the caller retries the batch, which then finds it.
    """
    all_identifiers = {i for record in records for i in record.identifiers}
    member_nos = {record.member_no for record in records if record.member_no}
    owners = _existing_owners(all_identifiers)
    number_owners = _member_no_owners(member_nos)

    forest = _UnionFind()
    for index, record in enumerate(records):
        node = ("record", index)
        forest.find(node)
        for identifier in record.identifiers:
            forest.union(node, ("id", identifier))
            if identifier in owners:
                forest.union(node, ("member", owners[identifier]))
        if record.member_no:
            forest.union(node, ("no", record.member_no))
            if record.member_no in number_owners:
                forest.union(node, ("member", number_owners[record.member_no]))

    components: dict = defaultdict(lambda: {"records": [], "members": set()})
    for index, record in enumerate(records):
        if record.identifiers or record.member_no:
            components[forest.find(("record", index))]["records"].append(index)
    for identifier, member_id in owners.items():
        components[forest.find(("id", identifier))]["members"].add(member_id)
    for member_no, member_id in number_owners.items():
        components[forest.find(("no", member_no))]["members"].add(member_id)

    def component_keys(member_id: int) -> list[str]:
        return [i.key for i, owner in owners.items() if owner == member_id] + [
            f"member_no:{no}" for no, owner in number_owners.items() if owner == member_id
        ]

    merges = 0
    component_member: dict = {}
    to_create: list[tuple[object, Member]] = []
    fresh = [root for root, c in components.items() if not c["members"]]
    numbers_needed = sum(
        1 for root in fresh if not _first_member_no(records, components[root]["records"])
    )
    generated = iter(member_numbers_allocate(count=numbers_needed))
    for root, component in components.items():
        indexes = component["records"]
        if not component["members"]:
            profile = _merged_profile(records, indexes)
            to_create.append(
                (
                    root,
                    Member(
                        member_no=_first_member_no(records, indexes) or next(generated),
                        name=profile.name,
                        birthday=profile.birthday,
                        gender=profile.gender,
                        home_store_id=profile.home_store_id,
                        acquisition_channel=profile.acquisition_channel or source,
                        joined_at=profile.joined_at or at,
                    ),
                )
            )
            continue
        survivor_id, *others = sorted(component["members"])
        for other in others:
            # Both sides: the batch's keys that tied it to the survivor and to the merged member.
            keys = [
                key
                for member_id in (survivor_id, other)
                for key in component_keys(member_id)
                if _in_component(forest, root, key)
            ]
            member_merge(
                survivor=Member(pk=survivor_id),
                merged=Member(pk=other),
                matched_keys=keys,
                source=source,
            )
            merges += 1
        component_member[root] = survivor_id

    created = Member.objects.bulk_create([member for _, member in to_create])
    for (root, _), member in zip(to_create, created, strict=True):
        component_member[root] = member.pk

    new_identities = [
        Identity(
            member_id=component_member[forest.find(("id", identifier))],
            kind=identifier.kind,
            value=identifier.value,
            source=source,
            first_seen_at=at,
            last_seen_at=at,
        )
        for identifier in all_identifiers
        if identifier not in owners
    ]
    Identity.objects.bulk_create(new_identities, batch_size=LOOKUP_CHUNK)
    _profiles_fill(records, components, component_member, exclude={m.pk for m in created})

    member_ids = [
        component_member[forest.find(("record", index))]
        if (record.identifiers or record.member_no)
        else None
        for index, record in enumerate(records)
    ]
    return BatchResolution(member_ids=member_ids, members_created=len(created), merges=merges)


def _in_component(forest: _UnionFind, root, key: str) -> bool:
    kind, _, value = key.partition(":")
    node = ("no", value) if kind == "member_no" else ("id", Identifier(kind, value))
    return forest.find(node) == root


def _first_member_no(records: Sequence[BatchRecord], indexes: list[int]) -> str:
    return next((records[i].member_no for i in indexes if records[i].member_no), "")


def _merged_profile(records: Sequence[BatchRecord], indexes: list[int]) -> MemberProfile:
    """The first non-blank value of each profile field among a component's records."""
    values = {}
    for index in indexes:
        profile = records[index].profile
        if profile is None:
            continue
        for name in (*PROFILE_FIELDS, "joined_at"):
            if values.get(name) in (None, "") and getattr(profile, name) not in (None, ""):
                values[name] = getattr(profile, name)
    return MemberProfile(**values)


def _profiles_fill(records, components, component_member, *, exclude: set[int]) -> None:
    """Fill blank profile fields of existing members from the batch (bulk_update)."""
    wanted = {}
    for root, component in components.items():
        member_id = component_member[root]
        if member_id in exclude:
            continue
        profile = _merged_profile(records, component["records"])
        if any(getattr(profile, name) not in (None, "") for name in PROFILE_FIELDS):
            wanted[member_id] = profile
    if not wanted:
        return
    changed, fields = [], set()
    for member in Member.objects.filter(pk__in=wanted):
        profile = wanted[member.pk]
        for name in PROFILE_FIELDS:
            if getattr(member, name) in (None, "") and getattr(profile, name) not in (None, ""):
                setattr(member, name, getattr(profile, name))
                fields.add(name)
                changed.append(member)
    if changed:
        Member.objects.bulk_update(set(changed), sorted(fields), batch_size=LOOKUP_CHUNK)
