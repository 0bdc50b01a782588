"""One cell's text → a value: amounts, dates and times (Minguo years too), choices, channels.

Each parser takes the raw text and returns the value or raises InvalidValue with the reason (a
msgid of crm.imports.messages); RowReader turns that into an error or a warning of the row. They
run once per cell of files of a million rows: the common spelling takes the fast path, the
regular expressions are compiled once, and what is cached is bounded.
"""

import functools
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from crm.imports.messages import (
    ERROR_AMOUNT,
    ERROR_AMOUNT_RANGE,
    ERROR_CHOICE,
    ERROR_DATE,
    ERROR_DATETIME,
    WARNING_CHANNEL,
)
from omnichannel.channels import Channel, channel_from_label

TAIPEI = ZoneInfo("Asia/Taipei")
AMOUNT_MAX = 2**31 - 1  # Order.amount_twd is an IntegerField


class InvalidValue(Exception):
    """A cell's text is not a value of its kind; `reason` is a msgid, `params` fill it in."""

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
_BLANKS = re.compile(r"\s+")


def fold(value: str) -> str:
    """Full-width letters, digits and signs as their ASCII forms (NFKC), trimmed."""
    return unicodedata.normalize("NFKC", value).strip()


def parse_amount(raw: str) -> int:
    """Whole NT$: 1280, -1280, 1,280, NT$ 1,280, １，２８０元, 1280.00."""
    try:
        amount = int(raw)  # "1280", " -1280 ", and full-width digits too
    except ValueError:
        match = _AMOUNT.fullmatch(raw.strip())  # "1,280"
        if match is None:  # "NT$ 1,280", "１，２８０元"
            match = _AMOUNT.fullmatch(_AMOUNT_NOISE.sub("", fold(raw).replace("−", "-")))
            if match is None:
                raise InvalidValue(ERROR_AMOUNT) from None
        sign, digits, fraction = match.groups()
        if (fraction and fraction.strip("0")) or len(digits) > 16:
            raise InvalidValue(ERROR_AMOUNT) from None
        amount = -int(digits.replace(",", "")) if sign == "-" else int(digits.replace(",", ""))
    if not -AMOUNT_MAX <= amount <= AMOUNT_MAX:
        raise InvalidValue(ERROR_AMOUNT_RANGE, {"max": AMOUNT_MAX})
    return amount


def minguo_year(text: str) -> int:
    """A year as written: 1990, or a Minguo (民國) year below 1000."""
    year = int(text)
    return year + _MINGUO_OFFSET if year < 1000 else year  # 79/02/28 is 民國 79 = 1990


@functools.lru_cache(maxsize=64)
def _utc_offset(text: str) -> timezone:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def parse_datetime(raw: str, example: str) -> datetime:
    """Taipei-aware; a value without an offset is Taipei local time (no DST since 1979).

    `example` is how the layout writes it, for the error message.
    """
    match = _DATETIME.fullmatch(raw.strip()) or _DATETIME.fullmatch(fold(raw))
    if match is None:
        raise InvalidValue(ERROR_DATETIME, {"example": example})
    year, month, day, noon_before, hour, minute, second, fraction, noon_after, offset = (
        match.groups()
    )
    hours = int(hour) if hour else 0
    meridiem = noon_before or noon_after
    if meridiem:
        if not 1 <= hours <= 12:
            raise InvalidValue(ERROR_DATETIME, {"example": example})
        hours = hours % 12 + (12 if meridiem == "下午" or meridiem.upper() == "PM" else 0)
    try:
        # An offset of ±24:00 or more, like a day 31 in April, is no time at all.
        tz = _utc_offset(offset) if offset else TAIPEI
        value = datetime(
            minguo_year(year),
            int(month),
            int(day),
            hours,
            int(minute) if minute else 0,
            int(second) if second else 0,
            int(fraction.ljust(6, "0")) if fraction else 0,
            tzinfo=tz,
        )
    except ValueError:
        raise InvalidValue(ERROR_DATETIME, {"example": example}) from None
    return value if tz is TAIPEI else value.astimezone(TAIPEI)


def parse_date(raw: str) -> date:
    """1990/02/28, 1990-02-28, 79/02/28 (Minguo) or 民國79年2月28日."""
    value = raw.strip()
    match = _DATE.fullmatch(value) or _DATE_CHINESE.fullmatch(fold(value))
    if match is None:
        raise InvalidValue(ERROR_DATE)
    try:
        return date(minguo_year(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise InvalidValue(ERROR_DATE) from None


def parse_choice(raw: str, choices: Mapping[str, str], expected: str, reason: str = ERROR_CHOICE):
    """choices[raw], also for full-width, spaced and upper-case spellings; `expected` lists the
    values for the message, `reason` is the msgid of an unknown one."""
    value = choices.get(raw.strip())
    if value is None:
        # Full-width and spaced spellings: "退貨 / 退款", "退貨／退款", "ＹＥＳ".
        value = choices.get(_BLANKS.sub("", fold(raw)).lower())
        if value is None:
            raise InvalidValue(reason, {"expected": expected})
    return value


CHANNELS_EXPECTED = ", ".join(Channel.values)


@functools.lru_cache(maxsize=128)
def parse_channel(raw: str) -> str:
    """Any Channel by its value or its label in English or Chinese (store, 門市, line, LINE)."""
    channel = channel_from_label(fold(raw))
    if channel is None:
        raise InvalidValue(WARNING_CHANNEL, {"expected": CHANNELS_EXPECTED})
    return channel.value
