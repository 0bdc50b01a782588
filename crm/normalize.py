"""Normal forms of identifiers (shared/formats/README.md, "Identifier rules").

Each function returns the normal form, or raises InvalidIdentifier with a reason a person can
read; a masked value raises MaskedIdentifier (a warning, not an error: the row is kept).
"""

import re
import unicodedata

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email


class InvalidIdentifier(ValueError):
    pass


class MaskedIdentifier(InvalidIdentifier):
    pass


_MASK_CHARS = re.compile(r"[*＊xX×●•]")
_LINE_USER_ID = re.compile(r"^U[0-9a-f]{32}$")
_EINVOICE_CARRIER = re.compile(r"^/[0-9A-Z.+\-]{7}$")


def fold_width(value: str) -> str:
    """Full-width letters, digits and symbols (０９１２, ＠) to their ASCII forms."""
    return unicodedata.normalize("NFKC", value).strip()


# Plain Taiwan mobile numbers in any prefix spelling, the bulk of every file: answered without
# the phonenumbers parser (20 µs a call). tests/crm/test_normalize.py checks they agree.
_TW_MOBILE = re.compile(r"^(?:\+886|00886|886|0)(9\d{8})$")
_SEPARATORS = re.compile(r"[\s\-.()]")


def normalize_phone(raw: str, *, region: str | None = None) -> str:
    fast = _TW_MOBILE.match(_SEPARATORS.sub("", raw))
    if fast and (region or settings.PHONENUMBER_REGION) == "TW":
        return "+886" + fast.group(1)
    value = fold_width(raw)
    if _MASK_CHARS.search(value):
        raise MaskedIdentifier("masked phone number")
    digits = _SEPARATORS.sub("", value)
    # 00886… and 886… are the international prefix written without the plus.
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif digits.startswith("886") and len(digits) >= 11:
        digits = "+" + digits
    try:
        number = phonenumbers.parse(digits, region or settings.PHONENUMBER_REGION)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentifier(f"not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    value = fold_width(raw).lower()
    if _MASK_CHARS.search(value.split("@", 1)[0]) and "*" in value:
        raise MaskedIdentifier("masked email address")
    try:
        validate_email(value)
    except ValidationError:
        raise InvalidIdentifier("not a valid email address") from None
    return value


def normalize_line_user_id(raw: str) -> str:
    value = fold_width(raw)
    if not _LINE_USER_ID.match(value):
        raise InvalidIdentifier("a LINE user ID is U followed by 32 lower-case hex digits")
    return value


def normalize_card(raw: str) -> str:
    value = fold_width(raw).upper()
    if not value:
        raise InvalidIdentifier("empty card number")
    return value


def normalize_einvoice_carrier(raw: str) -> str:
    value = fold_width(raw).upper()
    if not _EINVOICE_CARRIER.match(value):
        raise InvalidIdentifier("an e-invoice carrier is / followed by 7 of 0-9 A-Z . + -")
    return value


def format_phone_national(e164: str) -> str:
    """+886912345678 → 0912-345-678, the way people in Taiwan write it."""
    digits = e164.removeprefix("+886")
    if digits == e164 or not digits.startswith("9") or len(digits) != 9:
        return e164
    return f"0{digits[:3]}-{digits[3:6]}-{digits[6:]}"


def normalize_plain(raw: str) -> str:
    value = fold_width(raw)
    if not value:
        raise InvalidIdentifier("empty value")
    return value


def normalize_marketplace_buyer(raw: str) -> str:
    """shopee:Mei_Chen88 → shopee:mei_chen88 (the account is scoped to its marketplace)."""
    value = fold_width(raw).lower()
    shop, sep, account = value.partition(":")
    if not sep or not shop or not account.strip():
        raise InvalidIdentifier("a marketplace buyer is written platform:account")
    return f"{shop.strip()}:{account.strip()}"
