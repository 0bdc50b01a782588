"""Profile fields the CRM works out from what members did, rather than what a file says."""

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import BirthdayCalendar, Identity, Member, MemberNote, Order, Tag
from crm.services.identity import identifiers_normalize
from crm.services.merges import member_merge_by_hand
from omnichannel.channels import Channel

UPDATE_CHUNK = 2_000


@transaction.atomic
def members_home_store_fill(*, member_ids: Sequence[int] | None = None) -> int:
    """Give active members without a home store the store where they bought most often.

    Counts the member's store orders (sales and returns alike: both are visits); a tie goes to
    the store with the lower id. Members who never bought in a store keep none. Streams one
    grouped query over the orders alone (no join: right after a bulk import the planner has no
    statistics, and a join planned blind took minutes) and writes one UPDATE per store and
    chunk of members; `member_ids` limits it to those members. Returns the number of members
    changed.
    """
    visits = Order.objects.filter(channel=Channel.STORE, store__isnull=False, member__isnull=False)
    if member_ids is not None:
        visits = visits.filter(member_id__in=member_ids)
    counts = (
        visits.values_list("member_id", "store_id")
        .annotate(visits=Count("pk"))
        .order_by("member_id", "-visits", "store_id")
    )
    by_store: dict[int, list[int]] = defaultdict(list)
    changed = 0
    for member_id, store_id in _first_per_member(counts.iterator(chunk_size=10_000)):
        by_store[store_id].append(member_id)
        if len(by_store[store_id]) >= UPDATE_CHUNK:
            changed += _home_store_set(store_id=store_id, member_ids=by_store.pop(store_id))
    for store_id, ids in by_store.items():
        changed += _home_store_set(store_id=store_id, member_ids=ids)
    return changed


def _home_store_set(*, store_id: int, member_ids: list[int]) -> int:
    return Member.objects.filter(
        pk__in=member_ids, status=Member.Status.ACTIVE, home_store__isnull=True
    ).update(home_store_id=store_id)


def _first_per_member(rows: Iterator[tuple[int, int, int]]) -> Iterator[tuple[int, int]]:
    """(member, store) of the first row of each member (the rows come ordered by member)."""
    last = None
    for member_id, store_id, _visits in rows:
        if member_id != last:
            last = member_id
            yield member_id, store_id


# --- The 360° profile's verbs: contact edits, tags, notes --------------------------------------

ERROR_NOT_ACTIVE = _("Only an active member can be changed.")
ERROR_NOTE_EMPTY = _("Write something in the note.")
ERROR_NOTE_TOO_LONG = _("A note has at most 2,000 characters.")
ERROR_TAG_EMPTY = _("Give the tag a name.")
ERROR_TAG_TOO_LONG = _("A tag name has at most 50 characters.")
ERROR_BIRTHDAY_FUTURE = _("A birthday cannot be in the future.")
NOTE_MAX_LENGTH = 2_000
TAG_MAX_LENGTH = 50
# The identifiers a marketer edits on the profile, each as one field of the contact form.
EDITABLE_KINDS = (Identity.Kind.PHONE, Identity.Kind.EMAIL, Identity.Kind.LINE_USER_ID)
MANUAL_SOURCE = "manual"
ERROR_INVALID = {
    Identity.Kind.PHONE: _("Not a valid phone number."),
    Identity.Kind.EMAIL: _("Not a valid email address."),
    Identity.Kind.LINE_USER_ID: _("Not a LINE user ID (U followed by 32 lower-case hex digits)."),
}


class ProfileError(ValueError):
    pass


class ContactInvalid(ProfileError):
    """Some typed values are no valid identifier; `errors` maps the field to the reason."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in errors.items()))


class IdentifierTaken(ProfileError):
    """The typed identifier belongs to another member: merge the two, or type another."""

    def __init__(self, *, kind: str, value: str, owner: Member, reason_missing: bool = False):
        self.kind, self.value, self.owner = kind, value, owner
        # The merge with `owner` was asked for, but without saying why.
        self.reason_missing = reason_missing
        super().__init__(f"{kind} {value} belongs to member {owner.member_no}")

    @property
    def kind_label(self) -> str:
        return str(Identity.Kind(self.kind).label)


@dataclass(frozen=True)
class ContactInput:
    """What the contact form holds: profile fields, and identifiers as typed (raw) by kind."""

    name: str = ""
    birthday: date | None = None
    birthday_calendar: str = BirthdayCalendar.SOLAR
    gender: str = ""
    home_store_id: int | None = None
    identifiers: Mapping[str, str] = field(default_factory=dict)


def primary_identities(*, member: Member) -> dict[str, Identity]:
    """The identity per editable kind that the contact form shows: the one seen last."""
    primary: dict[str, Identity] = {}
    for identity in member.identities.filter(kind__in=EDITABLE_KINDS).order_by(
        "kind", "-last_seen_at", "-pk"
    ):
        primary.setdefault(identity.kind, identity)
    return primary


@transaction.atomic
def member_contact_update(
    *,
    member: Member,
    contact: ContactInput,
    actor,
    merge_with: Member | None = None,
    merge_reason: str = "",
) -> Member:
    """Set a member's contact data; identifiers are normalised and re-resolved.

    A typed identifier replaces the one the form showed for its kind (a blank one removes it).
    When it belongs to another member the edit stops with IdentifierTaken naming that member,
    unless `merge_with` is that member: then the two are merged by hand (`merge_reason`) and
    the edit lands on the survivor, which is returned. Raises ContactInvalid (by field),
    IdentifierTaken (also when the merge was asked for without a reason), ProfileError for an
    inactive member, MergeError from the merge.
    """
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status != Member.Status.ACTIVE:
        raise ProfileError(ERROR_NOT_ACTIVE)
    errors: dict[str, str] = {}
    if contact.birthday and contact.birthday > timezone.localdate():
        errors["birthday"] = str(ERROR_BIRTHDAY_FUTURE)
    typed: dict[str, str] = {}
    for kind in EDITABLE_KINDS:
        raw = (contact.identifiers.get(kind) or "").strip()
        if not raw:
            typed[kind] = ""
            continue
        normalized = identifiers_normalize({kind: raw})
        if normalized.skipped:
            errors[kind] = str(ERROR_INVALID[kind])
        else:
            typed[kind] = normalized.identifiers[0].value
    if errors:
        raise ContactInvalid(errors)

    shown = primary_identities(member=member)
    changed = {kind: value for kind, value in typed.items() if value != _value(shown.get(kind))}
    owners = {
        (i.kind, i.value): i.member
        for i in Identity.objects.filter(_any_of(changed)).select_related("member")
    }
    target = member
    for (kind, value), owner in owners.items():
        if owner.pk == target.pk:
            continue
        if merge_with is None or owner.pk != merge_with.pk:
            raise IdentifierTaken(kind=kind, value=value, owner=owner)
        if not merge_reason.strip():
            raise IdentifierTaken(kind=kind, value=value, owner=owner, reason_missing=True)
        merge_log = member_merge_by_hand(
            first=target, second=owner, reason=merge_reason, actor=actor
        )
        target = Member.objects.select_for_update().get(pk=merge_log.survivor_id)
        merge_with = None  # one merge per edit; another conflict asks again

    now = timezone.now()
    for kind, value in changed.items():
        old = shown.get(kind)
        if old is not None and old.value != value:
            Identity.objects.filter(pk=old.pk).delete()
        if value and (kind, value) in owners:
            Identity.objects.filter(kind=kind, value=value).update(last_seen_at=now)
        elif value:
            Identity.objects.create(
                member=target,
                kind=kind,
                value=value,
                source=MANUAL_SOURCE,
                first_seen_at=now,
                last_seen_at=now,
            )
    target.name = contact.name.strip()
    target.birthday = contact.birthday
    target.birthday_calendar = contact.birthday_calendar
    target.gender = contact.gender
    target.home_store_id = contact.home_store_id
    target.save(
        update_fields=[
            "name",
            "birthday",
            "birthday_calendar",
            "gender",
            "home_store",
            "updated_at",
        ]
    )
    return target


def _value(identity: Identity | None) -> str:
    return identity.value if identity is not None else ""


def _any_of(identifiers: Mapping[str, str]) -> Q:
    condition = Q(pk__in=[])
    for kind, value in identifiers.items():
        if value:
            condition |= Q(kind=kind, value=value)
    return condition


@transaction.atomic
def member_tag_add(*, member: Member, name: str) -> Tag:
    """Tag a member, creating the tag if it is new. Raises ProfileError for a bad name."""
    name = " ".join(name.split())
    if not name:
        raise ProfileError(ERROR_TAG_EMPTY)
    if len(name) > TAG_MAX_LENGTH:
        raise ProfileError(ERROR_TAG_TOO_LONG)
    if member.status != Member.Status.ACTIVE:
        raise ProfileError(ERROR_NOT_ACTIVE)
    tag, _created = Tag.objects.get_or_create(name=name)
    tag.members.add(member)
    return tag


def member_tag_remove(*, member: Member, tag_id: int) -> None:
    """Take a tag off a member (the tag itself stays); a tag it does not have is no error."""
    Tag.members.through.objects.filter(member_id=member.pk, tag_id=tag_id).delete()


def member_note_add(*, member: Member, body: str, actor) -> MemberNote:
    """A note on the member's timeline. Raises ProfileError for an empty or long note."""
    body = body.strip()
    if not body:
        raise ProfileError(ERROR_NOTE_EMPTY)
    if len(body) > NOTE_MAX_LENGTH:
        raise ProfileError(ERROR_NOTE_TOO_LONG)
    if member.status != Member.Status.ACTIVE:
        raise ProfileError(ERROR_NOT_ACTIVE)
    return MemberNote.objects.create(member=member, body=body, author=actor)
