"""SMS content: {"text"}. A text is required, and refused when a member's copy would be longer
than CAMPAIGN_SMS_MAX_SEGMENTS segments.

The limit is checked on the text as the longest realistic member would get it: each
personalisation field is replaced by a stand-in of its longest realistic value (WORST_CASE), so
a text that fits for "王小明" does not turn into six segments for a member with a long name, and
each link is counted as the tracked URL that replaces it at send (campaigns/tracking.py). A
name counts as Chinese, which makes the whole message UCS-2 (70 characters a segment): that is
the case for most of our members, and the marketer is told so in the reason.
"""

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from campaigns.content import ContentError, required_text
from campaigns.personalise import FIELD_PATTERN, personalisation_field_longest
from campaigns.sms import sms_counter
from campaigns.tracking import content_links_rewrite, tracked_url_stand_in

ERROR_NO_TEXT = _("Write the SMS text.")
ERROR_TOO_LONG = _(
    "This SMS takes %(segments)s segments for the longest member's copy (%(encoding)s, "
    "%(characters)s characters); the limit is %(limit)s. Shorten the text."
)
NOTE_FIELDS_COUNTED = _("Personalisation fields are counted at their longest: %(fields)s.")
FIELD_COUNTED_AS = _("{{%(field)s}} as %(length)s characters")
FIELD_COUNTED_AS_CHINESE = _("{{%(field)s}} as %(length)s Chinese characters")

# The longest realistic value per field: a stand-in of that length and alphabet. A Chinese name
# is 2-4 characters, a long one (a double surname, an indigenous or foreign name in Chinese)
# stays within 10; member numbers have 20 characters at most (crm.Member.member_no). A field a
# later app adds is counted at the `longest` value it registers (loyalty's {{wallet_link}}), or as
# 10 characters of GSM-7.
WORST_CASE = {"name": "王" * 10, "member_no": "M" * 20}
WORST_CASE_DEFAULT = "0" * 10


def validate(content: dict) -> list[ContentError]:
    errors = required_text(content, "text", ERROR_NO_TEXT)
    if errors:
        return errors
    text = content["text"]
    count = sms_counter(sms_worst_case(text))
    limit = settings.CAMPAIGN_SMS_MAX_SEGMENTS
    if count.segments > limit:
        message = str(
            ERROR_TOO_LONG
            % {
                "segments": count.segments,
                "encoding": count.encoding,
                "characters": count.characters,
                "limit": limit,
            }
        )
        fields = list(dict.fromkeys(FIELD_PATTERN.findall(text)))
        if fields:
            counted = "、".join(_field_counted_as(field) for field in fields)
            message += " " + str(NOTE_FIELDS_COUNTED % {"fields": counted})
        errors.append(ContentError("text", message))
    return errors


def sms_worst_case(text: str) -> str:
    """The text with each personalisation field at its longest realistic value and each link
    as its tracked URL (what the segment limit is checked on)."""
    text = sms_as_sent(text)
    return FIELD_PATTERN.sub(lambda match: _stand_in(match.group(1)), text)


def _stand_in(field: str) -> str:
    return WORST_CASE.get(field) or personalisation_field_longest(field) or WORST_CASE_DEFAULT


def sms_as_sent(text: str) -> str:
    """The text with each link as the tracked URL that replaces it at send
    (<public base>/r/<code>, the longest code), so segments and cost count what is sent. A
    link the marketer leaves untracked is counted as tracked too (the builder does not know
    yet); the links panel says so."""
    stand_in = tracked_url_stand_in()
    return content_links_rewrite(
        channel="sms", content={"text": text}, replace=lambda _url: stand_in
    )["text"]


def _field_counted_as(field: str) -> str:
    stand_in = _stand_in(field)
    template = FIELD_COUNTED_AS if stand_in.isascii() else FIELD_COUNTED_AS_CHINESE
    return str(template % {"field": field, "length": len(stand_in)})


def texts(content: dict) -> list[tuple[str, str]]:
    return [("text", str(content.get("text") or ""))]


def render(content: dict, substitute) -> dict:
    return {**content, "text": substitute(str(content.get("text") or ""))}
