"""E-mail content: {"subject", "text", "html"}. Owner: e-mail helper."""

from django.utils.translation import gettext_lazy as _

from campaigns.content import ContentError, required_text

ERROR_NO_SUBJECT = _("Write a subject.")
ERROR_NO_TEXT = _("An e-mail needs a plain-text part.")


def validate(content: dict) -> list[ContentError]:
    return required_text(content, "subject", ERROR_NO_SUBJECT) + required_text(
        content, "text", ERROR_NO_TEXT
    )


def texts(content: dict) -> list[tuple[str, str]]:
    return [(key, str(content.get(key) or "")) for key in ("subject", "text", "html")]


def render(content: dict, substitute) -> dict:
    return {
        **content,
        **{key: substitute(str(content.get(key) or "")) for key in ("subject", "text", "html")},
    }
