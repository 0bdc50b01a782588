"""What a preset makes of one row: a ParsedRow holding an OrderRecord or a MemberRecord.

Plain frozen dataclasses, no database: the import service writes them in batches.
"""

from dataclasses import dataclass, field
from datetime import date, datetime

from crm.imports.readers import RowIssue
from crm.models import Member, Order
from crm.services import MemberProfile, NormalizedIdentifiers

# The longest values the records' fields may hold (the models' columns).
EXTERNAL_NO_MAX = Order._meta.get_field("external_no").max_length
MEMBER_NO_MAX = Member._meta.get_field("member_no").max_length
NAME_MAX = Member._meta.get_field("name").max_length


@dataclass(frozen=True, slots=True)
class OrderRecord:
    channel: str  # a Channel value
    external_no: str
    amount_twd: int  # negative for a store return
    placed_at: datetime  # aware
    status: str  # an Order.Status value
    store_code: str = ""
    store_name: str = ""
    is_return: bool = False
    returns_external_no: str = ""


@dataclass(frozen=True, slots=True)
class MemberRecord:
    member_no: str  # normal form; "" when the file has none (a number is allocated)
    name: str = ""
    birthday: date | None = None
    gender: str = ""  # a Gender value or ""
    joined_at: datetime | None = None  # aware; Taipei midnight for a date without a time
    acquisition_channel: str = ""  # a Channel value (sales or messaging) or ""
    consents: dict[str, bool] = field(default_factory=dict)  # messaging Channel → opted in


@dataclass(frozen=True, slots=True)
class ParsedRow:
    line: int
    identifiers: NormalizedIdentifiers
    order: OrderRecord | None = None  # None for a member row or a row with errors
    member: MemberRecord | None = None  # None for an order row or a row with errors
    name: str = ""
    errors: list[RowIssue] = field(default_factory=list)
    warnings: list[RowIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Importable: no errors (warnings are fine)."""
        return not self.errors

    @property
    def profile(self) -> MemberProfile:
        """What this row says about the person, to fill blank profile fields of the member."""
        if self.member is None:
            # A person first met through an order joined when they first bought, not when the
            # file was imported.
            return MemberProfile(
                name=self.name, joined_at=self.order.placed_at if self.order else None
            )
        member = self.member
        return MemberProfile(
            name=member.name,
            birthday=member.birthday,
            gender=member.gender,
            acquisition_channel=member.acquisition_channel,
            joined_at=member.joined_at,
        )
