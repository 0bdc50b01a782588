"""The import presets, one per file layout of formats/README.md, by name.

crm/imports/ is laid out by concern; this package holds the presets themselves:
- base.py: Preset (a layout's columns, its header check, its row parser);
- pos_orders.py, web_orders.py, marketplace_orders.py, members.py: one layout each, with its
  columns, the spellings its source systems write (statuses, genders, consent answers) and its
  row parser.
Shared by all of them: values.py (one cell → a value), rows.py (RowReader: a row's cells and
its issues), messages.py (every reason), records.py (ParsedRow), parsing.py (parse_file).

The names that lived in the one crm/imports/presets.py before it was split stay importable
from here (messages, records, parse_file), so `from crm.imports import presets as p` still works.
"""

from crm.imports.messages import (
    ERROR_AMOUNT,
    ERROR_AMOUNT_NEGATIVE,
    ERROR_AMOUNT_RANGE,
    ERROR_CHOICE,
    ERROR_DATE,
    ERROR_DATETIME,
    ERROR_NO_PERSON,
    ERROR_REQUIRED,
    ERROR_RETURN_POSITIVE,
    ERROR_RETURN_WITHOUT_SALE,
    ERROR_SALE_NEGATIVE,
    ERROR_STATUS,
    ERROR_TOO_LONG,
    ERROR_UNKNOWN_PRESET,
    PROBLEM_DUPLICATE_COLUMN,
    PROBLEM_MISSING_COLUMN,
    WARNING_BIRTHDAY,
    WARNING_BIRTHDAY_RANGE,
    WARNING_CHANNEL,
    WARNING_CONSENT,
    WARNING_GENDER,
    WARNING_INVALID,
    WARNING_INVALID_OTHER,
    WARNING_JOINED,
    WARNING_MASKED,
    WARNING_NAME_CUT,
)
from crm.imports.parsing import HeaderError, parse_file
from crm.imports.presets.base import Preset, RowParser
from crm.imports.presets.marketplace_orders import MARKETPLACE_ORDERS, parse_marketplace_order
from crm.imports.presets.members import MEMBERS, parse_member
from crm.imports.presets.pos_orders import POS_ORDERS, parse_pos_order
from crm.imports.presets.web_orders import WEB_ORDERS, parse_web_order
from crm.imports.readers import RowIssue
from crm.imports.records import MemberRecord, OrderRecord, ParsedRow
from crm.imports.values import AMOUNT_MAX, TAIPEI

PRESETS: dict[str, Preset] = {
    preset.name: preset for preset in (POS_ORDERS, WEB_ORDERS, MARKETPLACE_ORDERS, MEMBERS)
}


class UnknownPresetError(ValueError):
    pass


def get_preset(name: str) -> Preset:
    """The preset of that name; raises UnknownPresetError naming the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise UnknownPresetError(
            str(ERROR_UNKNOWN_PRESET % {"name": name, "names": ", ".join(PRESETS)})
        ) from None


__all__ = [
    "AMOUNT_MAX",
    "ERROR_AMOUNT",
    "ERROR_AMOUNT_NEGATIVE",
    "ERROR_AMOUNT_RANGE",
    "ERROR_CHOICE",
    "ERROR_DATE",
    "ERROR_DATETIME",
    "ERROR_NO_PERSON",
    "ERROR_REQUIRED",
    "ERROR_RETURN_POSITIVE",
    "ERROR_RETURN_WITHOUT_SALE",
    "ERROR_SALE_NEGATIVE",
    "ERROR_STATUS",
    "ERROR_TOO_LONG",
    "ERROR_UNKNOWN_PRESET",
    "MARKETPLACE_ORDERS",
    "MEMBERS",
    "POS_ORDERS",
    "PRESETS",
    "PROBLEM_DUPLICATE_COLUMN",
    "PROBLEM_MISSING_COLUMN",
    "TAIPEI",
    "WARNING_BIRTHDAY",
    "WARNING_BIRTHDAY_RANGE",
    "WARNING_CHANNEL",
    "WARNING_CONSENT",
    "WARNING_GENDER",
    "WARNING_INVALID",
    "WARNING_INVALID_OTHER",
    "WARNING_JOINED",
    "WARNING_MASKED",
    "WARNING_NAME_CUT",
    "WEB_ORDERS",
    "HeaderError",
    "MemberRecord",
    "OrderRecord",
    "ParsedRow",
    "Preset",
    "RowIssue",
    "RowParser",
    "UnknownPresetError",
    "get_preset",
    "parse_file",
    "parse_marketplace_order",
    "parse_member",
    "parse_pos_order",
    "parse_web_order",
]
