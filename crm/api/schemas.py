"""Bodies of the ingest API: what the brand's systems send and get back (and the OpenAPI document).

Types are strict where a lax parse would hide a bug in the sender: an amount is a JSON integer
(not "1,280", not 12.5, not true), a time carries its offset, a consent is true or false.
Unknown fields are refused, so a misspelt field name is an error rather than a silent blank.
"""

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from django.utils import timezone
from ninja import Schema
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
)

from crm.models import Gender, Identity, Member, Order, Store, Touchpoint
from omnichannel.channels import Channel, SalesChannel

AMOUNT_MAX = 2**31 - 1  # Order.amount_twd is an IntegerField
EXTERNAL_NO_MAX = Order._meta.get_field("external_no").max_length
STORE_CODE_MAX = Store._meta.get_field("code").max_length
MEMBER_NO_MAX = Member._meta.get_field("member_no").max_length
NAME_MAX = Member._meta.get_field("name").max_length
IDENTIFIER_MAX = Identity._meta.get_field("value").max_length
KIND_MAX = Touchpoint._meta.get_field("kind").max_length
# Times outside these years are typing errors, and some cannot be stored at all.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
OFFSET_MAX = timedelta(hours=14)
JSON_DEPTH_MAX = 10

ERROR_NUL = "must not contain NUL characters"
ERROR_TIME_RANGE = "must be between 1900 and 2100"
ERROR_OFFSET = "the UTC offset must be between -14:00 and +14:00"
ERROR_BIRTHDAY_FUTURE = "a birthday cannot be in the future"
ERROR_BIRTHDAY_RANGE = "must be after 1900-01-01"
ERROR_JSON_DEPTH = f"nested deeper than {JSON_DEPTH_MAX} levels"
ERROR_NOT_A_NUMBER = "must be a JSON number of whole NT$ (like 1280), not a string or boolean"
ERROR_NOT_A_DATE = "must be a date as a string, YYYY-MM-DD (like 1990-05-17)"
ERROR_NOT_A_TIME = (
    "must be a time as an ISO 8601 string with its offset (like 2025-03-12T14:05:33+08:00)"
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _no_nul(value: str) -> str:
    # PostgreSQL text and jsonb cannot hold U+0000.
    if "\x00" in value:
        raise ValueError(ERROR_NUL)
    return value


def _moment(value: datetime) -> datetime:
    """The time in UTC; PostgreSQL refuses offsets past ±15:59, and real ones stop at ±14:00."""
    offset = value.utcoffset()
    if offset is None or abs(offset) > OFFSET_MAX:
        raise ValueError(ERROR_OFFSET)
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError(ERROR_TIME_RANGE) from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError(ERROR_TIME_RANGE)
    return utc


def _json_number(value: Any) -> Any:
    # A JSON number only: "1280" and true are refused rather than read as 1280 and 1.
    if isinstance(value, bool | str | bytes):
        raise ValueError(ERROR_NOT_A_NUMBER)
    return value


def _iso_date_text(value: Any) -> Any:
    # Pydantic's lax mode reads 0 or "0" as 1970-01-01 (a Unix time): only the text is a date.
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError(ERROR_NOT_A_DATE)
    return value


def _iso_time_text(value: Any) -> Any:
    # Likewise 1700000000 or "0" would be a time in 1970 or 2023: only ISO text is a time.
    if not isinstance(value, str) or not _ISO_TIME.match(value):
        raise ValueError(ERROR_NOT_A_TIME)
    return value


def _birthday(value: date) -> date:
    if value < EARLIEST.date():
        raise ValueError(ERROR_BIRTHDAY_RANGE)
    if value > timezone.localdate():
        raise ValueError(ERROR_BIRTHDAY_FUTURE)
    return value


def _clean_json(value: Any, depth: int = 0) -> Any:
    if depth > JSON_DEPTH_MAX:
        raise ValueError(ERROR_JSON_DEPTH)
    if isinstance(value, str):
        return _no_nul(value)
    if isinstance(value, dict):
        return {_no_nul(k): _clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_json(v, depth + 1) for v in value]
    return value


def _text(max_length: int, min_length: int = 0) -> Any:
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
        AfterValidator(_no_nul),
    ]


Moment = Annotated[AwareDatetime, BeforeValidator(_iso_time_text), AfterValidator(_moment)]
# A JSON object a column can hold: no NUL characters, at most JSON_DEPTH_MAX levels (other apps'
# API bodies use these too: campaigns' content).
JsonObject = Annotated[dict[str, Any], AfterValidator(_clean_json)]
text_field = _text
# 1280 and 1280.0 (the same JSON number); not 12.5, "1280" or true.
WholeTwd = Annotated[int, BeforeValidator(_json_number)]
IdentifierText = _text(IDENTIFIER_MAX)
ExternalNo = _text(EXTERNAL_NO_MAX, min_length=1)
StoreCode = _text(STORE_CODE_MAX)


class _In(Schema):
    model_config = ConfigDict(extra="forbid")


class IdentifiersIn(_In):
    """Any of the person's identifiers, in any spelling the source has (they are normalised).

    An empty value counts as absent; a value that is no identifier of its kind is an error.
    """

    phone: IdentifierText | None = Field(None, examples=["0912-345-678"])
    email: IdentifierText | None = Field(None, examples=["meiling.chen@example.com"])
    line_user_id: IdentifierText | None = Field(
        None, examples=["U4af4980629e06f7f64a1a0f1e5ad1b3c"]
    )
    pos_card: IdentifierText | None = Field(None, examples=["A00012345"])
    einvoice_carrier: IdentifierText | None = Field(None, examples=["/ABC+123"])
    web_customer_id: IdentifierText | None = Field(None, examples=["C-88213"])
    marketplace_buyer: IdentifierText | None = Field(
        None, description="platform:account", examples=["shopee:mei_chen88"]
    )
    app_install_id: IdentifierText | None = None
    member_no: _text(MEMBER_NO_MAX) | None = Field(
        None, description="The brand's member number.", examples=["M000123"]
    )


class ProfileIn(_In):
    """Fills the member's blank profile fields; what the member already has is kept."""

    name: _text(NAME_MAX) | None = None
    birthday: Annotated[date, BeforeValidator(_iso_date_text), AfterValidator(_birthday)] | None = (
        None
    )
    gender: Gender | None = None
    joined_at: Moment | None = Field(None, description="When the person joined; with an offset.")
    acquisition_channel: Channel | None = Field(
        None,
        description="How the person joined (any channel, `line` included); by default the "
        "channel of the API key.",
    )


class ConsentsIn(_In):
    """Decisions the person made: true (opted in), false (opted out), absent (no decision)."""

    line: StrictBool | None = None
    email: StrictBool | None = None
    sms: StrictBool | None = None
    push: StrictBool | None = None


class MemberIn(_In):
    identifiers: IdentifiersIn
    profile: ProfileIn = Field(default_factory=ProfileIn)
    consents: ConsentsIn = Field(default_factory=ConsentsIn)


class OrderIn(_In):
    channel: SalesChannel = Field(description="Must be the channel of the API key.")
    external_no: ExternalNo = Field(description="The order number, unique per channel.")
    amount_twd: Annotated[WholeTwd, Field(ge=0, le=AMOUNT_MAX)] = Field(
        description="Whole NT$, as a JSON integer.", examples=[1280]
    )
    placed_at: Moment = Field(
        description="With an offset; between 1900 and 2100.",
        examples=["2025-03-12T21:14:09+08:00"],
    )
    status: Order.Status = Order.Status.PLACED
    store_code: StoreCode | None = Field(None, description="Required for channel store.")
    identifiers: IdentifiersIn = Field(
        default_factory=IdentifiersIn, description="None: an anonymous sale."
    )


class ReturnIn(_In):
    channel: SalesChannel = Field(
        SalesChannel.STORE, description="Must be the channel of the API key."
    )
    external_no: ExternalNo = Field(description="The return's own number.")
    returns_external_no: ExternalNo = Field(description="The number of the sale it returns.")
    amount_twd: Annotated[WholeTwd, Field(lt=0, ge=-AMOUNT_MAX)] = Field(
        description="Negative whole NT$.", examples=[-1280]
    )
    placed_at: Moment
    store_code: StoreCode | None = Field(None, description="Required for channel store.")
    identifiers: IdentifiersIn = Field(default_factory=IdentifiersIn)


class EventIn(_In):
    identifiers: IdentifiersIn
    channel: Channel = Field(description="Must be the channel of the API key.")
    kind: Annotated[str, StringConstraints(pattern=rf"^[a-z][a-z0-9_]{{0,{KIND_MAX - 1}}}$")] = (
        Field(
            description="store_visit, page_view, line_follow, line_block, app_open, …",
            examples=["store_visit"],
        )
    )
    at: Moment = Field(examples=["2025-03-12T14:05:33+08:00"])
    properties: Annotated[dict[str, Any], AfterValidator(_clean_json)] = Field(
        default_factory=dict, examples=[{"store_code": "TPE01"}]
    )


class MemberOut(Schema):
    member_no: str = Field(description="The member's number (the survivor after a merge).")
    created: bool = Field(description="A new member was made for these identifiers.")
    merged: list[str] = Field(description="Member numbers merged into this member by this call.")


class OrderOut(Schema):
    channel: str
    external_no: str
    created: bool = Field(description="False: an order with this number was updated.")
    member_no: str | None = Field(description="None: an anonymous order.")
    member_created: bool
    merged: list[str]


class ReturnOut(OrderOut):
    sale_linked: bool = Field(description="The sale it returns is known and linked.")


class EventOut(Schema):
    touchpoint_id: int
    member_no: str
    member_created: bool
    merged: list[str]


class FieldErrorOut(Schema):
    loc: list[str | int] = Field(examples=[["body", "amount_twd"]])
    msg: str
    type: str


class ErrorOut(Schema):
    detail: str | list[FieldErrorOut]


# --- Segments (read by marketing tools choosing an audience) ----------------------------------

PAGE_LIMIT_DEFAULT = 50
PAGE_LIMIT_MAX = 100


class SegmentOut(Schema):
    id: int
    name: str
    count: int | None = Field(
        description="Active members the segment matches now (null: its rules no longer compile)."
    )


class SegmentsPageOut(Schema):
    items: list[SegmentOut]
    count: int = Field(description="How many segments there are in all.")
