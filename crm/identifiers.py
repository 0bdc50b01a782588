"""Identifiers in their normal forms (formats/README.md): pure functions, no database.

Selectors (the member search) and services (resolution, imports, the API) both normalise what
a person typed or a file holds; it lives here so that selectors need no service.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from crm import normalize
from crm.models import Identity

Kind = Identity.Kind

NORMALIZERS = {
    Kind.PHONE: normalize.normalize_phone,
    Kind.EMAIL: normalize.normalize_email,
    Kind.LINE_USER_ID: normalize.normalize_line_user_id,
    Kind.POS_CARD: normalize.normalize_card,
    Kind.EINVOICE_CARRIER: normalize.normalize_einvoice_carrier,
    Kind.WEB_CUSTOMER_ID: normalize.normalize_plain,
    Kind.MARKETPLACE_BUYER: normalize.normalize_marketplace_buyer,
    Kind.APP_INSTALL_ID: normalize.normalize_plain,
    Kind.PUSH_TOKEN: normalize.normalize_plain,
}


class Identifier(NamedTuple):
    # A tuple, not a dataclass: imports hash millions of them, and a tuple hashes in C.
    kind: str
    value: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass
class NormalizedIdentifiers:
    identifiers: list[Identifier] = field(default_factory=list)
    member_no: str = ""
    # (kind, raw value, reason) of values that are no identifier; the record is still kept.
    skipped: list[tuple[str, str, str]] = field(default_factory=list)


def identifiers_normalize(
    raw: Mapping[str, str | None] | Iterable[tuple[str, str | None]],
) -> NormalizedIdentifiers:
    """Normal forms of raw identifier values by kind; invalid and masked ones are skipped."""
    items = raw.items() if isinstance(raw, Mapping) else raw
    result = NormalizedIdentifiers()
    seen: set[Identifier] = set()
    for kind, value in items:
        if value is None or not str(value).strip():
            continue
        if kind == "member_no":
            result.member_no = normalize.normalize_card(str(value))
            continue
        try:
            identifier = Identifier(kind, NORMALIZERS[kind](str(value)))
        except normalize.InvalidIdentifier as exc:
            result.skipped.append((kind, str(value), str(exc)))
            continue
        if identifier not in seen:
            seen.add(identifier)
            result.identifiers.append(identifier)
    return result
