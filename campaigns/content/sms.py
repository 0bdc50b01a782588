"""SMS content: {"text"}. Owner: SMS helper (segment counting and the segment limit)."""

from django.utils.translation import gettext_lazy as _

from campaigns.content import ContentError, required_text

ERROR_NO_TEXT = _("Write the SMS text.")


def validate(content: dict) -> list[ContentError]:
    return required_text(content, "text", ERROR_NO_TEXT)


def texts(content: dict) -> list[tuple[str, str]]:
    return [("text", str(content.get("text") or ""))]


def render(content: dict, substitute) -> dict:
    return {**content, "text": substitute(str(content.get("text") or ""))}
