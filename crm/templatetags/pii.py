"""{% pii value "phone" %}: shows personal data in full or masked, by the viewer's permission."""

from datetime import date

from django import template
from django.utils.translation import gettext as _

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


@register.simple_tag(takes_context=True)
def matched_identifiers(context, matched_keys) -> list[tuple[str, str]]:
    """A merge's matched keys (`phone:+886912345678`, `member_no:…`, `manual`) as (label, value)
    pairs a person reads: phones nationally for those who may see them, masked for the rest."""
    from crm.models import Identity

    unmasked = context.get("can_unmask", False)
    kinds = dict(Identity.Kind.choices)
    pairs = []
    for key in matched_keys or ():
        kind, sep, value = str(key).partition(":")
        if not sep:
            continue  # "manual", "erased": no identifier; the entry says how it merged
        if kind == "member_no":
            pairs.append((str(_("Member number")), value))
        else:
            label = str(kinds.get(kind, kind))
            pairs.append((label, pii.identifier_shown(kind, value, unmask=unmasked)))
    return pairs
