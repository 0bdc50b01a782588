"""Push content: {"title", "body", "url"}. Owner: push helper."""

from django.utils.translation import gettext_lazy as _

from campaigns.content import ContentError, required_text

ERROR_NO_TITLE = _("Write a title.")
ERROR_NO_BODY = _("Write the message.")


def validate(content: dict) -> list[ContentError]:
    return required_text(content, "title", ERROR_NO_TITLE) + required_text(
        content, "body", ERROR_NO_BODY
    )


def texts(content: dict) -> list[tuple[str, str]]:
    return [(key, str(content.get(key) or "")) for key in ("title", "body", "url")]


def render(content: dict, substitute) -> dict:
    return {
        **content,
        **{key: substitute(str(content.get(key) or "")) for key in ("title", "body", "url")},
    }
