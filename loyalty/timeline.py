"""Points on the member's 360° timeline (crm's timeline registry), without touching crm.

Three sources, each one query limited to the page, newest first (crm.timeline's contract):
- "points": the ledger entries (earn, redeem, expire, adjust with its reason and who made it,
  reverse, transfer) over the member's account;
- "coupon": coupons issued, and "coupon_used": coupons used (each at its own moment);
- "tier": tier changes with their reason.
The member's account is joined by member id (the account is one-to-one with the member), so a
member without an account simply has no such entries.
"""

from django.utils.translation import gettext as _

from crm.pii import mask_token
from crm.timeline import Cursor, TimelineEntry, TimelineSource, before_q, register_timeline_source
from loyalty.models import Coupon, PointsTransaction, TierChange

ICONS = {
    PointsTransaction.Kind.EARN: "plus-circle",
    PointsTransaction.Kind.REDEEM: "dash-circle",
    PointsTransaction.Kind.EXPIRE: "hourglass-bottom",
    PointsTransaction.Kind.ADJUST: "pencil-square",
    PointsTransaction.Kind.REVERSE: "arrow-counterclockwise",
    PointsTransaction.Kind.TRANSFER: "arrow-left-right",
}
POINTS_COLOUR = "#b45309"  # the timeline's loyalty entries share one colour


class _LoyaltyEntry(TimelineEntry):
    @property
    def colour(self) -> str:
        return POINTS_COLOUR


def _points_title(entry: PointsTransaction) -> str:
    values = {"n": f"{abs(entry.points):,}"}
    kind = entry.kind
    if kind == PointsTransaction.Kind.EARN:
        return _("Earned %(n)s points") % values
    if kind == PointsTransaction.Kind.REDEEM:
        return _("Redeemed %(n)s points") % values
    if kind == PointsTransaction.Kind.EXPIRE:
        return _("%(n)s points expired") % values
    if kind == PointsTransaction.Kind.TRANSFER:
        return (
            _("%(n)s points moved in from a merge")
            if entry.points > 0
            else _("%(n)s points moved out in a merge")
        ) % values
    if kind == PointsTransaction.Kind.REVERSE:
        return (
            _("Reversed: %(n)s points back") if entry.points > 0 else _("Reversed: %(n)s points")
        ) % values
    return (
        _("Adjusted by hand: +%(n)s points")
        if entry.points > 0
        else _("Adjusted by hand: −%(n)s points")
    ) % values


def _points_detail(entry: PointsTransaction) -> str:
    parts = []
    if entry.order_no:
        parts.append(_("Order %(no)s") % {"no": entry.order_no})
    if entry.reward_id:
        parts.append(_("Reward: %(name)s") % {"name": entry.reward.name})
    if entry.reason:
        parts.append(_("Reason: %(reason)s") % {"reason": entry.reason})
    if entry.actor_id:
        parts.append(_("By %(user)s") % {"user": entry.actor.get_username()})
    parts.append(_("Balance after: %(n)s") % {"n": f"{entry.balance_after:,}"})
    return " · ".join(parts)


def points_entries(member_id: int, before: Cursor | None, limit: int) -> list[TimelineEntry]:
    rows = (
        PointsTransaction.objects.filter(before_q("points", before), account__member_id=member_id)
        .select_related("reward", "actor")
        .order_by("-at", "-pk")[:limit]
    )
    return [
        _LoyaltyEntry(
            at=entry.at,
            kind="points",
            id=entry.pk,
            icon=ICONS.get(entry.kind, "star"),
            title=_points_title(entry),
            detail=_points_detail(entry),
            obj=entry,
        )
        for entry in rows
    ]


def _coupon_detail(coupon: Coupon) -> str:
    # The code is as good as money at the till: the timeline names it, masked.
    return _("Coupon %(code)s") % {"code": mask_token(coupon.code)}


def coupon_issued_entries(member_id: int, before: Cursor | None, limit: int) -> list[TimelineEntry]:
    rows = (
        Coupon.objects.filter(
            before_q("coupon", before, at="issued_at"), account__member_id=member_id
        )
        .select_related("reward")
        .order_by("-issued_at", "-pk")[:limit]
    )
    return [
        _LoyaltyEntry(
            at=coupon.issued_at,
            kind="coupon",
            id=coupon.pk,
            icon="ticket-perforated",
            title=_("Coupon issued: %(reward)s") % {"reward": coupon.reward.name},
            detail=_coupon_detail(coupon),
            obj=coupon,
        )
        for coupon in rows
    ]


def coupon_used_entries(member_id: int, before: Cursor | None, limit: int) -> list[TimelineEntry]:
    rows = (
        Coupon.objects.filter(
            before_q("coupon_used", before, at="used_at"),
            account__member_id=member_id,
            used_at__isnull=False,
        )
        .select_related("reward", "used_store")
        .order_by("-used_at", "-pk")[:limit]
    )
    entries = []
    for coupon in rows:
        detail = _coupon_detail(coupon)
        if coupon.used_store_id:
            detail += " · " + coupon.used_store.name
        if coupon.used_order_no:
            detail += " · " + _("Order %(no)s") % {"no": coupon.used_order_no}
        entries.append(
            _LoyaltyEntry(
                at=coupon.used_at,
                kind="coupon_used",
                id=coupon.pk,
                icon="ticket-detailed",
                title=_("Coupon used: %(reward)s") % {"reward": coupon.reward.name},
                detail=detail,
                status=coupon.get_used_via_display(),
                obj=coupon,
            )
        )
    return entries


def tier_entries(member_id: int, before: Cursor | None, limit: int) -> list[TimelineEntry]:
    rows = (
        TierChange.objects.filter(before_q("tier", before), account__member_id=member_id)
        .select_related("from_tier", "to_tier", "actor")
        .order_by("-at", "-pk")[:limit]
    )
    entries = []
    for change in rows:
        to_name = change.to_tier.name if change.to_tier else _("no tier")
        from_rank = change.from_tier.rank if change.from_tier else -1
        to_rank = change.to_tier.rank if change.to_tier else -1
        if change.from_tier is None:
            title = _("Tier: %(to)s") % {"to": to_name}
        elif to_rank > from_rank:
            title = _("Tier up: %(from)s → %(to)s") % {"from": change.from_tier.name, "to": to_name}
        else:
            title = _("Tier down: %(from)s → %(to)s") % {
                "from": change.from_tier.name,
                "to": to_name,
            }
        detail = _("%(reason)s · %(spend)s in 12 months") % {
            "reason": change.get_reason_display(),
            "spend": f"NT${change.spend_12m_twd:,}",
        }
        if change.actor_id:
            detail += " · " + _("By %(user)s") % {"user": change.actor.get_username()}
        entries.append(
            _LoyaltyEntry(
                at=change.at,
                kind="tier",
                id=change.pk,
                icon="award",
                title=title,
                detail=detail,
                obj=change,
            )
        )
    return entries


def register_loyalty_timeline_sources() -> None:
    for kind, fetch in (
        ("points", points_entries),
        ("coupon", coupon_issued_entries),
        ("coupon_used", coupon_used_entries),
        ("tier", tier_entries),
    ):
        register_timeline_source(TimelineSource(kind=kind, fetch=fetch))
