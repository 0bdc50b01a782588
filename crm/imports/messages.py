"""Why a row, a value or a header is refused or warned about: every reason the presets give.

Row issues keep their English msgid (gettext_noop) and are translated when shown
(RowIssue.message): a file of a million rows translates nothing while it is parsed. Header
problems and the unknown-preset error are shown once, so they are translated when raised.
"""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from crm.models import Identity

Kind = Identity.Kind

# Errors: the row does not land.
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

# Warnings: the row lands without the value.
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
ERROR_UNKNOWN_PRESET = _("Unknown import preset %(name)s; the presets are %(names)s.")
