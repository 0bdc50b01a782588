"""The member list (formats/README.md, members): one person per row, with their consents.

Only what ties the row to a person can refuse it (a member number or an identifier); a bad
birthday, gender, join date, acquisition channel or consent answer is left out with a warning.
"""

from collections.abc import Mapping
from datetime import date, datetime

from django.utils.translation import gettext_lazy as _

from crm.imports.messages import (
    ERROR_NO_PERSON,
    ERROR_TOO_LONG,
    WARNING_BIRTHDAY,
    WARNING_BIRTHDAY_RANGE,
    WARNING_CONSENT,
    WARNING_GENDER,
    WARNING_JOINED,
)
from crm.imports.presets.base import preset_for_layout
from crm.imports.records import MEMBER_NO_MAX, MemberRecord, ParsedRow
from crm.imports.rows import RowReader
from crm.imports.values import (
    TAIPEI,
    InvalidValue,
    parse_channel,
    parse_choice,
    parse_date,
    parse_datetime,
)
from crm.models import Gender, Identity
from omnichannel.channels import Channel

Kind = Identity.Kind

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


def parse_birthday(raw: str, today: date) -> date:
    """A date between 1900 and today."""
    try:
        value = parse_date(raw)
    except InvalidValue:
        raise InvalidValue(WARNING_BIRTHDAY) from None
    if not BIRTHDAY_MIN <= value <= today:
        raise InvalidValue(WARNING_BIRTHDAY_RANGE)
    return value


def parse_consent(raw: str) -> bool:
    """Y or N, and the other ways a yes or a no is written (是, yes, 1…)."""
    return parse_choice(raw, CONSENT_ANSWERS, CONSENT_EXPECTED)  # type: ignore[return-value]


def parse_member(line: int, row: Mapping[str, str]) -> ParsedRow:
    r = RowReader(line, row)
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
    birthday = r.optional("生日", parse_birthday, datetime.now(TAIPEI).date())
    gender = r.optional("性別", parse_choice, GENDERS, GENDERS_EXPECTED, warning=WARNING_GENDER)
    joined_at = r.optional("加入日期", parse_datetime, JOINED_EXAMPLE, warning=WARNING_JOINED)
    channel = r.optional("加入管道", parse_channel)
    consents = {}
    for column, consent_channel in CONSENT_COLUMNS:
        answer = r.optional(column, parse_consent, warning=WARNING_CONSENT)
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


MEMBERS = preset_for_layout(
    name="members",
    label=_("Member list"),
    required=("會員編號",),
    parse=parse_member,
)
