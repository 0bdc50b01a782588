"""E-mail content: {"subject", "text", "html", "preheader"}.

- subject: required, one line (a newline in a header is a header injection, and SMTP servers
  refuse it), at most SUBJECT_MAX characters (mail clients cut long subjects anyway);
- text: the plain-text part, required: a message with HTML only is refused (spam filters score
  it, and some clients show nothing);
- html: the HTML alternative, optional;
- preheader: optional preview text shown after the subject (hidden in the HTML part), one line.

Personalisation fields may appear in each of them.
"""

import re

from django.utils.html import escape
from django.utils.translation import gettext_lazy as _

from campaigns.content import ContentError, required_text
from campaigns.personalise import FIELD_PATTERN

SUBJECT_MAX = 200
PREHEADER_MAX = 250
PARTS = ("subject", "preheader", "text", "html")

ERROR_NO_SUBJECT = _("Write a subject.")
ERROR_SUBJECT_TOO_LONG = _("The subject may have at most %(max)d characters (it has %(count)d).")
ERROR_ONE_LINE = _("This must be one line.")
ERROR_NO_TEXT = _("An e-mail needs a plain-text part.")
ERROR_NOT_TEXT = _("This must be text.")
ERROR_PREHEADER_TOO_LONG = _(
    "The preview text may have at most %(max)d characters (it has %(count)d)."
)


def _one_line(field: str, value: str, limit: int, too_long) -> list[ContentError]:
    errors = []
    if "\n" in value or "\r" in value:
        errors.append(ContentError(field, str(ERROR_ONE_LINE)))
    if len(value) > limit:
        errors.append(ContentError(field, str(too_long % {"max": limit, "count": len(value)})))
    return errors


def validate(content: dict) -> list[ContentError]:
    errors = required_text(content, "subject", ERROR_NO_SUBJECT)
    if not errors:
        errors += _one_line("subject", content["subject"], SUBJECT_MAX, ERROR_SUBJECT_TOO_LONG)
    errors += required_text(content, "text", ERROR_NO_TEXT)
    for field in ("html", "preheader"):
        value = content.get(field)
        if value is not None and not isinstance(value, str):
            errors.append(ContentError(field, str(ERROR_NOT_TEXT)))
    preheader = content.get("preheader")
    if isinstance(preheader, str) and preheader:
        errors += _one_line("preheader", preheader, PREHEADER_MAX, ERROR_PREHEADER_TOO_LONG)
    return errors


def texts(content: dict) -> list[tuple[str, str]]:
    return [(key, str(content.get(key) or "")) for key in PARTS]


def render(content: dict, substitute) -> dict:
    rendered = {**content}
    for key in PARTS:
        if not content.get(key):
            continue
        text = str(content[key])
        if key == "html":
            # A member's values are text: "<" in a name is shown, not parsed as markup.
            rendered[key] = FIELD_PATTERN.sub(lambda m: escape(substitute(m.group(0))), text)
        else:
            rendered[key] = substitute(text)
    for key in ("subject", "preheader"):
        if rendered.get(key):
            # A value with a line break must not split the header (or the preview line).
            rendered[key] = re.sub(r"[\r\n]+", " ", rendered[key])
    return rendered
