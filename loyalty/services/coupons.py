"""Using a coupon: once, at the till through the API or by a marketer on its page.

`coupon_use` is the one verb both call. The coupon's row is locked FOR UPDATE before its status
is read, so two tills scanning the same code at once cannot both use it: the second reads
"used" after the first commits and is refused (CouponRefused, reason "used").
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models import Coupon


class CouponRefused(Exception):
    """Why a coupon cannot be used; `reason` is a stable code for the API, str() says it."""

    MESSAGES = {
        "unknown": _("No coupon has this code."),
        "used": _("This coupon has been used already."),
        "expired": _("This coupon has expired."),
        "void": _("This coupon was cancelled."),
    }

    def __init__(self, reason: str, coupon: Coupon | None = None):
        self.reason = reason
        self.coupon = coupon
        super().__init__(self.MESSAGES[reason])


def coupon_code_normalise(code: str) -> str:
    """Codes are printed upper case in groups; a cashier may type them with spaces or dashes."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def coupon_use(
    *,
    code: str,
    via: str,
    order_no: str = "",
    store_id: int | None = None,
    actor_id: int | None = None,
    at: datetime | None = None,
) -> Coupon:
    """Mark the coupon with this code used (Coupon.UsedVia `via`) and return it; raises
    CouponRefused (unknown, used, expired, void). Using an expired coupon is refused even
    before the nightly job has marked it expired."""
    at = at or timezone.now()
    with transaction.atomic():
        coupon = (
            Coupon.objects.select_for_update()
            .select_related("reward")
            .filter(code=coupon_code_normalise(code))
            .first()
        )
        if coupon is None:
            raise CouponRefused("unknown")
        if coupon.status == Coupon.Status.USED:
            raise CouponRefused("used", coupon)
        if coupon.status == Coupon.Status.VOID:
            raise CouponRefused("void", coupon)
        if coupon.status == Coupon.Status.EXPIRED or coupon.expires_at <= at:
            raise CouponRefused("expired", coupon)
        coupon.status = Coupon.Status.USED
        coupon.used_at = at
        coupon.used_via = via
        coupon.used_order_no = order_no[:64]
        coupon.used_store_id = store_id
        coupon.used_by_id = actor_id
        coupon.save(
            update_fields=[
                "status",
                "used_at",
                "used_via",
                "used_order_no",
                "used_store",
                "used_by",
            ]
        )
        return coupon
