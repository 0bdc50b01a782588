"""Identity: the vocabulary that resolution and merges share (DESIGN.md §4).

The services are split by concern, and crm.services re-exports them all:
- crm.identifiers: identifiers in their normal forms (pure, also used by selectors);
- this module: profiles, results and errors, member numbers, following a merged number;
- crm.services.resolution_batch: the one resolution engine, records → members, set-wise;
- crm.services.resolution: member_resolve, one record (the API) as a batch of one;
- crm.services.merges: merges, their undo, and the by-hand merge.
"""

from dataclasses import dataclass
from datetime import date, datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from crm.identifiers import (  # noqa: F401  (re-exported: crm.services.identity callers)
    NORMALIZERS,
    Identifier,
    NormalizedIdentifiers,
    identifiers_normalize,
)
from crm.models import (
    Member,
    MergeLog,
    NumberSequence,
)
from omnichannel.channels import SalesChannel

# Profile fields a merge or a later record may fill on a member where they are blank.
PROFILE_FIELDS = ("name", "birthday", "gender", "home_store_id", "acquisition_channel")
MAX_MERGE_CHAIN = 50
MEMBER_NO_SEQUENCE = "member_no"
MEMBER_NO_PG_SEQUENCE = "crm_member_no_seq"  # crm/migrations/0013
MEMBER_NO_PREFIX = "OC"

ERROR_MERGE_SELF = _("A member cannot be merged with itself.")
ERROR_MERGE_INACTIVE = _("Only active members can be merged.")
ERROR_ALREADY_UNDONE = _("This merge has already been undone.")
ERROR_REASON_REQUIRED = _("Say why these members are the same person.")
ERROR_ERASED = _("This merge cannot be undone: the member's personal data was erased.")


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


def member_survivor(*, member_no: str) -> Member | None:
    """The active member a member number leads to, following merges; None if unknown."""
    member = Member.objects.filter(member_no=member_no).first()
    for _step in range(MAX_MERGE_CHAIN):
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
