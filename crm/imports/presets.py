"""The four file layouts of formats/README.md: a header check and one row → one ParsedRow.

Pure functions, no database: the import reads a file with `read_rows`, parses each row with its
preset and writes the importable ones in batches. Files run to a million rows, so the per-row path
compiles nothing, translates nothing (a RowIssue keeps its English msgid; `.message` translates it
when shown) and caches nothing unbounded.
"""

import functools
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from crm import normalize
from crm.imports.readers import AUTO, ERROR, ImportFileError, RowIssue, Source, read_rows
from crm.models import Gender, Identity, Member, Order
from crm.services import MemberProfile, NormalizedIdentifiers, identifiers_normalize
from crm.services.identity import NORMALIZERS
from crm.source_files import HEADERS
from omnichannel.channels import Channel, channel_from_label

TAIPEI = ZoneInfo("Asia/Taipei")
Kind = Identity.Kind
# Plain strings, looked up once: an enum member's .value is a property call on every row.
PLACED = Order.Status.PLACED.value
CANCELLED = Order.Status.CANCELLED.value
RETURNED = Order.Status.RETURNED.value
STORE, WEB, MARKETPLACE = Channel.STORE.value, Channel.WEB.value, Channel.MARKETPLACE.value

EXTERNAL_NO_MAX = Order._meta.get_field("external_no").max_length
MEMBER_NO_MAX = Member._meta.get_field("member_no").max_length
NAME_MAX = Member._meta.get_field("name").max_length
AMOUNT_MAX = 2**31 - 1  # Order.amount_twd is an IntegerField

# Reasons of row issues: English msgids, translated when shown (RowIssue.message).
ERROR_REQUIRED = gettext_noop("This value is required.")
ERROR_AMOUNT = gettext_noop("Not a whole amount of NT$ (write it like 1280 or 1,280).")
ERROR_AMOUNT_RANGE = gettext_noop("Not an amount an order can have (at most %(max)s).")
ERROR_AMOUNT_NEGATIVE = gettext_noop("An order cannot have a negative amount.")
ERROR_SALE_NEGATIVE = gettext_noop("A sale cannot have a negative amount; a return is 退貨.")
ERROR_RETURN_POSITIVE = gettext_noop("A return has a negative amount.")
ERROR_RETURN_WITHOUT_SALE = gettext_noop("A return must name the sale it returns.")
ERROR_DATETIME = gettext_noop("Not a date and time (write it like %(example)s).")
ERROR_DATE = gettext_noop("Not a date (write it like 1990/02/28, 1990-02-28 or 79/02/28).")
ERROR_CHOICE = gettext_noop("Unknown value; expected one of %(expected)s.")
ERROR_STATUS = gettext_noop("Unknown order status; expected one of %(expected)s.")
ERROR_TOO_LONG = gettext_noop("Longer than %(max)s characters.")
ERROR_NO_PERSON = gettext_noop(
    "No member number and no identifier: the row cannot be tied to a person."
)
WARNING_MASKED = gettext_noop("Masked by the source system: not an identifier, skipped.")
WARNING_INVALID = {
    Kind.PHONE: gettext_noop("Not a valid phone number: skipped."),
    Kind.EMAIL: gettext_noop("Not a valid email address: skipped."),
    Kind.LINE_USER_ID: gettext_noop(
        "Not a LINE user ID (U followed by 32 lower-case hex digits): skipped."
    ),
    Kind.EINVOICE_CARRIER: gettext_noop(
        "Not an e-invoice carrier (/ followed by 7 of 0-9 A-Z . + -): skipped."
    ),
    Kind.MARKETPLACE_BUYER: gettext_noop("Not a marketplace buyer account: skipped."),
}
WARNING_INVALID_OTHER = gettext_noop("Not a valid identifier: skipped.")
WARNING_NAME_CUT = gettext_noop("Longer than %(max)s characters: cut short.")
# A value that is neither an identifier nor what decides money never costs the row: it is left
# out with one of these warnings and the row lands.
WARNING_BIRTHDAY = gettext_noop(
    "Not a date (write it like 1990/02/28, 1990-02-28 or 79/02/28): birthday left blank."
)
WARNING_BIRTHDAY_RANGE = gettext_noop(
    "A birthday before 1900 or in the future: birthday left blank."
)
WARNING_GENDER = gettext_noop("Unknown gender; expected one of %(expected)s: left blank.")
WARNING_CHANNEL = gettext_noop(
    "Unknown acquisition channel; expected a channel such as %(expected)s: left blank."
)
WARNING_JOINED = gettext_noop("Not a date (write it like %(example)s): join date left out.")
WARNING_CONSENT = gettext_noop(
    "Unknown answer; expected %(expected)s: no consent decision recorded."
)
# Header problems are shown once per file, so they are translated when found.
PROBLEM_MISSING_COLUMN = _("Missing column %(column)s.")
PROBLEM_DUPLICATE_COLUMN = _("Column %(column)s appears more than once.")


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


RowParser = Callable[[int, Mapping[str, str]], ParsedRow]


@dataclass(frozen=True)
class Preset:
    name: str
    label: Promise | str
    required: tuple[str, ...]  # columns the file must have, as the source system names them
    optional: tuple[str, ...]  # columns read when present
    parse: RowParser  # parse(line, row) -> ParsedRow
    channel: str = ""  # the sales channel of its orders; "" for members

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional

    def check_header(self, headers: Sequence[str]) -> list[str]:
        """Problems with a file's column names (translated), empty when the file fits."""
        present = set(headers)
        problems = [
            str(PROBLEM_MISSING_COLUMN % {"column": column})
            for column in self.required
            if column not in present
        ]
        seen: set[str] = set()
        for header in headers:
            if header in seen and header in self.columns:
                problems.append(str(PROBLEM_DUPLICATE_COLUMN % {"column": header}))
            seen.add(header)
        return problems


class UnknownPresetError(ValueError):
    pass


class HeaderError(ImportFileError):
    """The file's header does not fit the preset; `problems` lists why."""

    def __init__(self, problems: list[str]):
        super().__init__(" ".join(problems), line=1)
        self.problems = problems


# --- Values --------------------------------------------------------------------------------


class _Invalid(Exception):
    def __init__(self, reason: str, params: Mapping[str, object] | None = None):
        self.reason = reason
        self.params = params


_AMOUNT_NOISE = re.compile(r"NT\$?|TWD|[\s$元]", re.IGNORECASE)
# Thousands separators only where they belong: 1,280 and 12,800 but not 12,80.
_AMOUNT = re.compile(r"([+-]?)(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d*))?")
_DATETIME = re.compile(
    r"(\d{2,4})[/.-](\d{1,2})[/.-](\d{1,2})"
    r"(?:(?:T|\s+)(上午|下午)?\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?"
    r"\s*([AaPp][Mm])?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?"
)
_DATE = re.compile(r"(\d{2,4})[/.-](\d{1,2})[/.-](\d{1,2})(?:\s+0{1,2}:00(?::00)?)?")
_DATE_CHINESE = re.compile(r"(?:民國)?\s*(\d{2,4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?")
_MINGUO_OFFSET = 1911  # 民國 1 = 1912


def _fold(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def _amount(raw: str) -> int:
    try:
        amount = int(raw)  # "1280", " -1280 ", and full-width digits too
    except ValueError:
        match = _AMOUNT.fullmatch(raw.strip())  # "1,280"
        if match is None:  # "NT$ 1,280", "１，２８０元"
            match = _AMOUNT.fullmatch(_AMOUNT_NOISE.sub("", _fold(raw).replace("−", "-")))
            if match is None:
                raise _Invalid(ERROR_AMOUNT) from None
        sign, digits, fraction = match.groups()
        if (fraction and fraction.strip("0")) or len(digits) > 16:
            raise _Invalid(ERROR_AMOUNT) from None
        amount = -int(digits.replace(",", "")) if sign == "-" else int(digits.replace(",", ""))
    if not -AMOUNT_MAX <= amount <= AMOUNT_MAX:
        raise _Invalid(ERROR_AMOUNT_RANGE, {"max": AMOUNT_MAX})
    return amount


def _year(text: str) -> int:
    year = int(text)
    return year + _MINGUO_OFFSET if year < 1000 else year  # 79/02/28 is 民國 79 = 1990


@functools.lru_cache(maxsize=64)
def _utc_offset(text: str) -> timezone:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _datetime(raw: str, example: str) -> datetime:
    """Taipei-aware; a value without an offset is Taipei local time (no DST since 1979)."""
    match = _DATETIME.fullmatch(raw.strip()) or _DATETIME.fullmatch(_fold(raw))
    if match is None:
        raise _Invalid(ERROR_DATETIME, {"example": example})
    year, month, day, noon_before, hour, minute, second, fraction, noon_after, offset = (
        match.groups()
    )
    hours = int(hour) if hour else 0
    meridiem = noon_before or noon_after
    if meridiem:
        if not 1 <= hours <= 12:
            raise _Invalid(ERROR_DATETIME, {"example": example})
        hours = hours % 12 + (12 if meridiem == "下午" or meridiem.upper() == "PM" else 0)
    try:
        # An offset of ±24:00 or more, like a day 31 in April, is no time at all.
        tz = _utc_offset(offset) if offset else TAIPEI
        value = datetime(
            _year(year),
            int(month),
            int(day),
            hours,
            int(minute) if minute else 0,
            int(second) if second else 0,
            int(fraction.ljust(6, "0")) if fraction else 0,
            tzinfo=tz,
        )
    except ValueError:
        raise _Invalid(ERROR_DATETIME, {"example": example}) from None
    return value if tz is TAIPEI else value.astimezone(TAIPEI)


def _date(raw: str) -> date:
    value = raw.strip()
    match = _DATE.fullmatch(value) or _DATE_CHINESE.fullmatch(_fold(value))
    if match is None:
        raise _Invalid(ERROR_DATE)
    try:
        return date(_year(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise _Invalid(ERROR_DATE) from None


def _choice(raw: str, choices: Mapping[str, str], expected: str, reason: str = ERROR_CHOICE):
    value = choices.get(raw.strip())
    if value is None:
        # Full-width and spaced spellings: "退貨 / 退款", "退貨／退款", "ＹＥＳ".
        value = choices.get(_BLANKS.sub("", _fold(raw)).lower())
        if value is None:
            raise _Invalid(reason, {"expected": expected})
    return value


_BLANKS = re.compile(r"\s+")
CHANNELS_EXPECTED = ", ".join(Channel.values)


@functools.lru_cache(maxsize=128)
def _channel(raw: str) -> str:
    """Any Channel by its value or its label in English or Chinese (store, 門市, line, LINE)."""
    channel = channel_from_label(_fold(raw))
    if channel is None:
        raise _Invalid(WARNING_CHANNEL, {"expected": CHANNELS_EXPECTED})
    return channel.value


# --- Rows ----------------------------------------------------------------------------------


class _Row:
    """One row being parsed: reads values and collects issues with their column."""

    __slots__ = ("errors", "line", "row", "warnings")

    def __init__(self, line: int, row: Mapping[str, str]):
        self.line = line
        self.row = row
        self.errors: list[RowIssue] = []
        self.warnings: list[RowIssue] = []

    def text(self, column: str) -> str:
        return self.row.get(column, "").strip()

    def required(self, column: str, max_length: int | None = None) -> str:
        value = self.row.get(column, "").strip()
        if not value:
            self.errors.append(RowIssue(self.line, column, "", ERROR_REQUIRED))
        elif max_length is not None and len(value) > max_length:
            self.errors.append(
                RowIssue(self.line, column, value, ERROR_TOO_LONG, {"max": max_length})
            )
        return value

    def parsed(self, column: str, parse: Callable, *args, required: bool = True):
        """parse(value, *args), or None with an error; None for an empty optional value."""
        raw = self.row.get(column, "")
        if not raw.strip():
            if required:
                self.errors.append(RowIssue(self.line, column, raw, ERROR_REQUIRED))
            return None
        try:
            return parse(raw, *args)
        except _Invalid as exc:
            self.errors.append(RowIssue(self.line, column, raw, exc.reason, exc.params))
            return None

    def optional(self, column: str, parse: Callable, *args, warning: str | None = None):
        """parse(value, *args) of a value that does not decide whether the row lands: an empty
        or bad value is None, a bad one with a warning (`warning`, or the parser's reason)."""
        raw = self.row.get(column, "")
        if not raw.strip():
            return None
        try:
            return parse(raw, *args)
        except _Invalid as exc:
            reason = warning or exc.reason
            self.warnings.append(RowIssue(self.line, column, raw, reason, exc.params))
            return None

    def error(self, column: str, reason: str, params: Mapping[str, object] | None = None):
        self.errors.append(RowIssue(self.line, column, self.row.get(column, ""), reason, params))

    def name(self, column: str) -> str:
        value = self.row.get(column, "").strip()
        if len(value) > NAME_MAX:
            self.warnings.append(
                RowIssue(self.line, column, value, WARNING_NAME_CUT, {"max": NAME_MAX})
            )
            value = value[:NAME_MAX]
        return value

    def identifiers(
        self, columns: Sequence[tuple[str, str]], raw: list[tuple[str, str]] | None = None
    ) -> NormalizedIdentifiers:
        """Normal forms of the (column, kind) values; a skipped value becomes a warning."""
        row = self.row
        if raw is None:
            raw = [(kind, row.get(column, "")) for column, kind in columns]
        result = identifiers_normalize(raw)
        for kind, value, _detail in result.skipped:
            column = next(column for column, k in columns if k == kind)
            self.warnings.append(
                RowIssue(self.line, column, row.get(column, value), _skip_reason(kind, value))
            )
        return result


def _skip_reason(kind: str, value: str) -> str:
    try:
        NORMALIZERS[kind](value)
    except normalize.MaskedIdentifier:
        return WARNING_MASKED
    except normalize.InvalidIdentifier:
        pass
    return WARNING_INVALID.get(kind, WARNING_INVALID_OTHER)


# Store POS -----------------------------------------------------------------------------------

POS_TYPES = {"銷售": "sale", "退貨": "return"}
POS_TYPES_EXPECTED = "銷售, 退貨"
POS_TIME_EXAMPLE = "2025/03/12 14:05:33"
POS_IDENTIFIERS = (
    ("會員卡號", Kind.POS_CARD.value),
    ("會員手機", Kind.PHONE.value),
    ("載具號碼", Kind.EINVOICE_CARRIER.value),
)


def parse_pos_order(line: int, row: Mapping[str, str]) -> ParsedRow:
    r = _Row(line, row)
    store_code = r.required("門市代碼", max_length=20)
    external_no = r.required("交易序號", max_length=EXTERNAL_NO_MAX)
    placed_at = r.parsed("交易時間", _datetime, POS_TIME_EXAMPLE)
    amount = r.parsed("銷售金額", _amount)
    kind = r.parsed("交易類型", _choice, POS_TYPES, POS_TYPES_EXPECTED)
    is_return = kind == "return"
    returns_external_no = ""
    if is_return:
        returns_external_no = r.required("原交易序號", max_length=EXTERNAL_NO_MAX)
        if amount is not None and amount > 0:
            r.error("銷售金額", ERROR_RETURN_POSITIVE)
    elif kind is not None and amount is not None and amount < 0:
        r.error("銷售金額", ERROR_SALE_NEGATIVE)
    identifiers = r.identifiers(POS_IDENTIFIERS)
    order = None
    if not r.errors:
        order = OrderRecord(
            channel=STORE,
            external_no=external_no,
            amount_twd=amount,
            placed_at=placed_at,
            # A return is its own (negative) order, so revenue nets out; the sale stays placed.
            status=PLACED,
            store_code=store_code,
            store_name=r.text("門市名稱"),
            is_return=is_return,
            returns_external_no=returns_external_no,
        )
    return ParsedRow(line, identifiers, order=order, errors=r.errors, warnings=r.warnings)


# Web shop ------------------------------------------------------------------------------------

WEB_STATUSES = {
    "已付款": PLACED,
    "已出貨": PLACED,
    "已完成": PLACED,
    "已取消": CANCELLED,
    "已退貨": RETURNED,
}
WEB_STATUSES_EXPECTED = ", ".join(WEB_STATUSES)
WEB_TIME_EXAMPLE = "2025-03-12T21:14:09+08:00"
WEB_IDENTIFIERS = (
    ("顧客ID", Kind.WEB_CUSTOMER_ID.value),
    ("顧客Email", Kind.EMAIL.value),
    ("顧客電話", Kind.PHONE.value),
    ("會員卡號", Kind.POS_CARD.value),
)


def parse_web_order(line: int, row: Mapping[str, str]) -> ParsedRow:
    r = _Row(line, row)
    external_no = r.required("訂單號碼", max_length=EXTERNAL_NO_MAX)
    placed_at = r.parsed("訂單日期", _datetime, WEB_TIME_EXAMPLE)
    status = r.parsed("訂單狀態", _choice, WEB_STATUSES, WEB_STATUSES_EXPECTED, ERROR_STATUS)
    amount = r.parsed("訂單合計", _amount)
    if amount is not None and amount < 0:
        r.error("訂單合計", ERROR_AMOUNT_NEGATIVE)
    identifiers = r.identifiers(WEB_IDENTIFIERS)
    name = r.name("顧客姓名")
    order = None
    if not r.errors:
        order = OrderRecord(
            channel=WEB,
            external_no=external_no,
            amount_twd=amount,
            placed_at=placed_at,
            status=status,
        )
    return ParsedRow(
        line, identifiers, order=order, name=name, errors=r.errors, warnings=r.warnings
    )


# Marketplace ---------------------------------------------------------------------------------

# As the platforms write them (formats/README.md); 退貨/退款 is one value, Shopee Taiwan's.
MARKETPLACE_STATUSES = {
    "完成": PLACED,
    "已完成": PLACED,
    "已出貨": PLACED,
    "待出貨": PLACED,
    "取消": CANCELLED,
    "不成立": CANCELLED,
    "退貨/退款": RETURNED,
    "退貨": RETURNED,
    "退款": RETURNED,
}
MARKETPLACE_STATUSES_EXPECTED = ", ".join(MARKETPLACE_STATUSES)
MARKETPLACE_TIME_EXAMPLE = "2025-03-12 10:22"
MARKETPLACE_IDENTIFIERS = (
    ("買家帳號", Kind.MARKETPLACE_BUYER.value),
    ("收件者電話", Kind.PHONE.value),
)


def parse_marketplace_order(line: int, row: Mapping[str, str]) -> ParsedRow:
    r = _Row(line, row)
    platform = _fold(r.required("平台")).lower()
    order_no = r.required("訂單編號")
    external_no = f"{platform}:{order_no}"
    if platform and order_no and len(external_no) > EXTERNAL_NO_MAX:
        r.error("訂單編號", ERROR_TOO_LONG, {"max": EXTERNAL_NO_MAX - len(platform) - 1})
    placed_at = r.parsed("訂單成立日期", _datetime, MARKETPLACE_TIME_EXAMPLE)
    status = r.parsed(
        "訂單狀態", _choice, MARKETPLACE_STATUSES, MARKETPLACE_STATUSES_EXPECTED, ERROR_STATUS
    )
    amount = r.parsed("商品總價", _amount)
    if amount is not None and amount < 0:
        r.error("商品總價", ERROR_AMOUNT_NEGATIVE)
    # The buyer account is scoped to its platform: shopee:mei_chen88.
    buyer = r.text("買家帳號")
    identifiers = r.identifiers(
        MARKETPLACE_IDENTIFIERS,
        raw=[
            (Kind.MARKETPLACE_BUYER.value, f"{platform}:{buyer}" if buyer else ""),
            (Kind.PHONE.value, row.get("收件者電話", "")),
        ],
    )
    name = r.name("收件者姓名")
    order = None
    if not r.errors:
        order = OrderRecord(
            channel=MARKETPLACE,
            external_no=external_no,
            amount_twd=amount,
            placed_at=placed_at,
            status=status,
        )
    return ParsedRow(
        line, identifiers, order=order, name=name, errors=r.errors, warnings=r.warnings
    )


# Members -------------------------------------------------------------------------------------

GENDERS = {
    "男": Gender.MALE.value,
    "男性": Gender.MALE.value,
    "m": Gender.MALE.value,
    "male": Gender.MALE.value,
    "女": Gender.FEMALE.value,
    "女性": Gender.FEMALE.value,
    "f": Gender.FEMALE.value,
    "female": Gender.FEMALE.value,
    "其他": Gender.OTHER.value,
    "other": Gender.OTHER.value,
}
GENDERS_EXPECTED = "男, 女, 其他"
CONSENT_ANSWERS = {
    "Y": True,
    "N": False,
    "y": True,
    "n": False,
    "yes": True,
    "no": False,
    "是": True,
    "否": False,
    "true": True,
    "false": False,
    "1": True,
    "0": False,
}
CONSENT_EXPECTED = "Y, N"
CONSENT_COLUMNS = (
    ("簡訊同意", Channel.SMS.value),
    ("Email同意", Channel.EMAIL.value),
    ("LINE同意", Channel.LINE.value),
)
JOINED_EXAMPLE = "2023/05/01"
MEMBER_IDENTIFIERS = (
    ("手機", Kind.PHONE.value),
    ("Email", Kind.EMAIL.value),
    ("LINE UID", Kind.LINE_USER_ID.value),
    ("會員卡號", Kind.POS_CARD.value),
    ("載具號碼", Kind.EINVOICE_CARRIER.value),
)


BIRTHDAY_MIN = date(1900, 1, 1)


def _birthday(raw: str, today: date) -> date:
    try:
        value = _date(raw)
    except _Invalid:
        raise _Invalid(WARNING_BIRTHDAY) from None
    if not BIRTHDAY_MIN <= value <= today:
        raise _Invalid(WARNING_BIRTHDAY_RANGE)
    return value


def _consent(raw: str) -> bool:
    return _choice(raw, CONSENT_ANSWERS, CONSENT_EXPECTED)  # type: ignore[return-value]


def parse_member(line: int, row: Mapping[str, str]) -> ParsedRow:
    r = _Row(line, row)
    raw_member_no = row.get("會員編號", "")
    identifiers = r.identifiers(
        MEMBER_IDENTIFIERS,
        raw=[("member_no", raw_member_no)]
        + [(kind, row.get(column, "")) for column, kind in MEMBER_IDENTIFIERS],
    )
    if len(identifiers.member_no) > MEMBER_NO_MAX:
        r.error("會員編號", ERROR_TOO_LONG, {"max": MEMBER_NO_MAX})
    if not identifiers.identifiers and not identifiers.member_no:
        r.error("會員編號", ERROR_NO_PERSON)
    name = r.name("姓名")
    # None of these decides whether the person lands: a bad one is left out with a warning.
    birthday = r.optional("生日", _birthday, datetime.now(TAIPEI).date())
    gender = r.optional("性別", _choice, GENDERS, GENDERS_EXPECTED, warning=WARNING_GENDER)
    joined_at = r.optional("加入日期", _datetime, JOINED_EXAMPLE, warning=WARNING_JOINED)
    channel = r.optional("加入管道", _channel)
    consents = {}
    for column, consent_channel in CONSENT_COLUMNS:
        answer = r.optional(column, _consent, warning=WARNING_CONSENT)
        if answer is not None:
            consents[consent_channel] = answer
    member = None
    if not r.errors:
        member = MemberRecord(
            member_no=identifiers.member_no,
            name=name,
            birthday=birthday,
            gender=gender or "",
            joined_at=joined_at,
            acquisition_channel=channel or "",
            consents=consents,
        )
    return ParsedRow(
        line, identifiers, member=member, name=name, errors=r.errors, warnings=r.warnings
    )


# --- The presets ---------------------------------------------------------------------------


def _preset(
    *,
    name: str,
    label: Promise | str,
    required: tuple[str, ...],
    parse: RowParser,
    channel: str = "",
) -> Preset:
    """A preset for the layout of that name in formats/README.md (crm.source_files.HEADERS,
    which the demo and the bench write): `required` columns must be there, the others of the
    layout are read when present."""
    optional = tuple(column for column in HEADERS[name] if column not in required)
    return Preset(
        name=name, label=label, required=required, optional=optional, parse=parse, channel=channel
    )


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        _preset(
            name="pos_orders",
            label=_("Store POS orders"),
            required=("門市代碼", "交易序號", "交易時間", "銷售金額", "交易類型"),
            parse=parse_pos_order,
            channel=STORE,
        ),
        _preset(
            name="web_orders",
            label=_("Web shop orders"),
            required=("訂單號碼", "訂單日期", "訂單狀態", "訂單合計"),
            parse=parse_web_order,
            channel=WEB,
        ),
        _preset(
            name="marketplace_orders",
            label=_("Marketplace orders"),
            required=("平台", "訂單編號", "訂單成立日期", "訂單狀態", "商品總價"),
            parse=parse_marketplace_order,
            channel=MARKETPLACE,
        ),
        _preset(
            name="members",
            label=_("Member list"),
            required=("會員編號",),
            parse=parse_member,
        ),
    )
}
ERROR_UNKNOWN_PRESET = _("Unknown import preset %(name)s; the presets are %(names)s.")


def get_preset(name: str) -> Preset:
    """The preset of that name; raises UnknownPresetError naming the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise UnknownPresetError(
            str(ERROR_UNKNOWN_PRESET % {"name": name, "names": ", ".join(PRESETS)})
        ) from None


def parse_file(
    source: Source, *, filename: str, preset: Preset, encoding: str = AUTO
) -> Iterator[ParsedRow]:
    """Every data row of the file parsed by the preset, streamed; a line that cannot be read is
    a row with that error.

    Raises HeaderError (an ImportFileError) before the first row when the header does not fit,
    and ImportFileError for a file that cannot be read at all (see read_rows).
    """

    def check(headers: list[str]) -> None:
        problems = preset.check_header(headers)
        if problems:
            raise HeaderError(problems)

    parse = preset.parse
    for line, row, issues in read_rows(
        source, filename=filename, on_header=check, encoding=encoding
    ):
        if row is None:
            errors = [issue for _, issue in issues or ()]
            yield ParsedRow(line, NormalizedIdentifiers(), errors=errors)
            continue
        parsed = parse(line, row)
        if issues:
            for severity, issue in issues:
                (parsed.errors if severity == ERROR else parsed.warnings).append(issue)
            if parsed.errors:
                parsed = replace(parsed, order=None, member=None)
        yield parsed
