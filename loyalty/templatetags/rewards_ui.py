"""How coupons look wherever they are shown: `{{ coupon.status|coupon_badge }}`, one colour per
status; `{{ coupon.code|coupon_code }}`, the code in groups of four."""

from django import template

from crm.pii import mask_token
from loyalty.services.rewards import coupon_code_display

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


@register.filter
def coupon_code(code: str) -> str:
    return coupon_code_display(code)


@register.filter
def coupon_code_masked(code: str) -> str:
    """A code for someone who may look but not redeem: enough to tell two apart, not to use."""
    return mask_token(code)
