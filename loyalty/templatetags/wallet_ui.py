"""The add-to-wallet link on staff pages: `{% wallet_link member.pk as link %}` and
`{{ link|qr_svg }}` (an inline SVG made by segno on the server). The template decides who sees
them (crm.unmask_personal_data), so nothing is made for a role that may not see it."""

from django import template
from django.utils.safestring import mark_safe

from loyalty.qr import url_qr_svg
from loyalty.wallet.links import wallet_link_url

register = template.Library()


@register.simple_tag
def wallet_link(member_id: int) -> str:
    return wallet_link_url(member_id=member_id)


@register.filter
def qr_svg(url: str) -> str:
    return mark_safe(url_qr_svg(url))  # noqa: S308 (segno's SVG of our own address)
