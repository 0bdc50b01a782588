"""{% pii value "phone" %}: shows personal data in full or masked, by the viewer's permission."""

from datetime import date

from django import template

from crm import pii
from crm.normalize import format_phone_national

register = template.Library()


@register.simple_tag(takes_context=True)
def pii_value(context, value, kind: str) -> str:
    if value in (None, ""):
        return ""
    unmasked = context.get("can_unmask", False)
    if kind == "phone":
        return format_phone_national(value) if unmasked else pii.mask_phone(value)
    if kind == "email":
        return value if unmasked else pii.mask_email(value)
    if kind == "birthday" and isinstance(value, date):
        return value.strftime("%Y/%m/%d") if unmasked else pii.mask_birthday(value)
    if unmasked:
        return str(value)
    return pii.mask_text(str(value)) if kind == "name" else pii.mask_token(str(value))
