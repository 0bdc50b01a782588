"""Push content: {"title", "body", "url", "image"} for the app (FCM) and browsers (Web Push).

The limits are what still shows in full on a phone's lock screen and in a browser's
notification (Android cuts a title at about 65 characters; iOS and Chrome show about four
lines of body, 240 characters), not the providers' 4 KB payload ceiling, which a
message this short never nears. `url` (where a tap leads) and `image` are optional, and both
must be https: FCM and every browser refuse an http link or image in a notification.
"""

from urllib.parse import urlsplit

from django.utils.translation import gettext_lazy as _

from campaigns.content import ContentError, required_text
from campaigns.personalise import personalisation_url_field

TITLE_MAX = 65
BODY_MAX = 240

ERROR_NO_TITLE = _("Write a title.")
ERROR_NO_BODY = _("Write the message.")
ERROR_TITLE_TOO_LONG = _("The title has %(count)s characters; a push title can have %(max)s.")
ERROR_BODY_TOO_LONG = _("The message has %(count)s characters; a push message can have %(max)s.")
ERROR_URL = _("The link must be a full https:// address.")
ERROR_IMAGE = _("The image must be a full https:// address.")
ERROR_NOT_TEXT = _("This must be text.")

TEXT_FIELDS = ("title", "body", "url")


def _https_url(value: str) -> bool:
    parts = urlsplit(value.strip())
    # A personalised link ({{member_no}} in the path) is checked by its fixed part.
    return parts.scheme == "https" and bool(parts.netloc) and " " not in value.strip()


def validate(content: dict) -> list[ContentError]:
    errors = required_text(content, "title", ERROR_NO_TITLE) + required_text(
        content, "body", ERROR_NO_BODY
    )
    for key, limit, message in (
        ("title", TITLE_MAX, ERROR_TITLE_TOO_LONG),
        ("body", BODY_MAX, ERROR_BODY_TOO_LONG),
    ):
        value = content.get(key)
        if isinstance(value, str) and len(value) > limit:
            errors.append(ContentError(key, str(message % {"count": len(value), "max": limit})))
    for key, message in (("url", ERROR_URL), ("image", ERROR_IMAGE)):
        value = content.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            errors.append(ContentError(key, str(ERROR_NOT_TEXT)))
        elif key == "url" and personalisation_url_field(value):
            continue  # a field that is a whole address ({{wallet_link}}): its own https
        elif not _https_url(value):
            errors.append(ContentError(key, str(message)))
    return errors


def texts(content: dict) -> list[tuple[str, str]]:
    return [(key, str(content.get(key) or "")) for key in TEXT_FIELDS]


def render(content: dict, substitute) -> dict:
    return {
        **content,
        **{key: substitute(str(content.get(key) or "")) for key in TEXT_FIELDS},
    }
