"""Message content per channel: what a provider would refuse is refused here, before launch.

Each channel has a module here (line.py, email.py, sms.py, push.py) with three functions:

    validate(content) -> list[ContentError]   the channel's own rules (sizes, required parts)
    texts(content) -> list[tuple[str, str]]   (field, text) pairs that carry personalisation
    render(content, substitute) -> dict       the content with `substitute` applied to each text

`content_validate` adds the rules every channel shares: personalisation fields that exist
(campaigns/personalise.py) and links that are https.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType

from django.utils.translation import gettext_lazy as _

from campaigns.personalise import FIELD_PATTERN, personalisation_field_names

ERROR_UNKNOWN_FIELD = _("The personalisation field {{%(field)s}} does not exist.")
ERROR_LINK_NOT_HTTPS = _("Links must start with https:// (%(link)s).")
ERROR_UNKNOWN_CHANNEL = _("Unknown channel.")

LINK_PATTERN = re.compile(r"\b(?:https?|ftp)://[^\s<>\"'{}]+|\bwww\.[^\s<>\"'{}]+", re.IGNORECASE)


@dataclass(frozen=True)
class ContentError:
    field: str  # "text", "subject", "messages.0.contents", … ("" = the content as a whole)
    message: str


def channel_module(channel: str) -> ModuleType | None:
    if channel not in ("line", "email", "sms", "push"):
        return None
    return import_module(f"campaigns.content.{channel}")


def content_validate(*, channel: str, content: dict) -> list[ContentError]:
    """Every reason the channel's provider (or our rules) would refuse this content."""
    module = channel_module(channel)
    if module is None:
        return [ContentError("", str(ERROR_UNKNOWN_CHANNEL))]
    if not isinstance(content, dict):
        content = {}
    errors = list(module.validate(content))
    known = personalisation_field_names()
    for field, text in module.texts(content):
        for name in dict.fromkeys(FIELD_PATTERN.findall(text)):
            if name not in known:
                errors.append(ContentError(field, str(ERROR_UNKNOWN_FIELD % {"field": name})))
        for link in LINK_PATTERN.findall(text):
            if not link.lower().startswith("https://"):
                errors.append(ContentError(field, str(ERROR_LINK_NOT_HTTPS % {"link": link})))
    return errors


def content_render(*, channel: str, content: dict, substitute: Callable[[str], str]) -> dict:
    module = channel_module(channel)
    if module is None:
        raise ValueError(f"unknown channel {channel!r}")
    return module.render(content, substitute)


def content_fields(*, channel: str, content: dict) -> set[str]:
    """The personalisation fields the content uses (so a batch fetches only those)."""
    module = channel_module(channel)
    if module is None:
        return set()
    return {name for _, text in module.texts(content) for name in FIELD_PATTERN.findall(text)}


def required_text(content: dict, key: str, message) -> list[ContentError]:
    value = content.get(key)
    if not isinstance(value, str) or not value.strip():
        return [ContentError(key, str(message))]
    return []
