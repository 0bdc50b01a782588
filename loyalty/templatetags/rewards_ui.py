"""{{ coupon.status|coupon_badge }}: one colour per coupon status, wherever a coupon is shown."""

from django import template

register = template.Library()

BADGES = {
    "issued": "text-bg-primary",
    "used": "text-bg-success",
    "expired": "text-bg-secondary",
    "void": "text-bg-danger",
}


@register.filter
def coupon_badge(status: str) -> str:
    return BADGES.get(status, "text-bg-light")
