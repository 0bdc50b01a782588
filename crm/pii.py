"""Masks for personal data shown to people without crm.unmask_personal_data (Analysts)."""

from datetime import date

from crm.normalize import format_phone_national

MASK = "*"


def mask_phone(e164: str) -> str:
    """+886912345678 → 0912-***-678: enough to recognise, not enough to call."""
    national = format_phone_national(e164)
    if national != e164:
        return f"{national[:4]}-***-{national[-3:]}"
    return e164[:4] + MASK * max(len(e164) - 7, 3) + e164[-3:]


def mask_email(email: str) -> str:
    """meiling.chen@example.com → me***@example.com."""
    local, _, domain = email.partition("@")
    return f"{local[:2]}***@{domain}" if domain else "***"


def mask_birthday(birthday: date) -> str:
    """The year stays (age bands are analysis); month and day go."""
    return f"{birthday.year}/**/**"


def mask_token(value: str) -> str:
    """An identifier that is a code (LINE user ID, card, carrier, account): U4af4…b3c.

    Short enough to fit a card and recognise the same ID again, far too little to find it;
    a short code keeps only its first and last character.
    """
    if len(value) > 10:
        return f"{value[:5]}…{value[-3:]}"
    if len(value) > 3:
        return f"{value[:1]}…{value[-1:]}"
    return "…"


def mask_text(value: str) -> str:
    return value[:1] + MASK * max(len(value) - 1, 2) if value else value


def mask_identifier(kind: str, value: str) -> str:
    """An identifier as someone without crm.unmask_personal_data may see it."""
    if not value:
        return value
    if kind == "phone":
        return mask_phone(value)
    if kind == "email":
        return mask_email(value)
    return mask_token(value)


def readable_identifier(kind: str, value: str) -> str:
    """An identifier as a person reads it: phones nationally (0912-345-678), the rest as stored."""
    return format_phone_national(value) if kind == "phone" else value


def identifier_shown(kind: str, value: str, *, unmask: bool) -> str:
    """An identifier in full and readable, or masked, by what the viewer may see."""
    return readable_identifier(kind, value) if unmask else mask_identifier(kind, value)
