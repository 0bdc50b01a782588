"""Loyalty's segment rules (crm's registry) and the tier filter of the member list.

Each rule compiles to ONE filter over members: `pk IN (SELECT member_id FROM points account
WHERE …)`, so a segment with points rules stays one query, however many members it counts.
Semantics (the tests pin them):
- "Tier is not" is the exact complement of "tier is" among active members: a member without a
  points account (or without a tier) is not in any tier.
- A member without a points account has a balance of 0: "balance at most 100" includes them.
- "At least X points expiring within N days" reads loyalty.expiry.expiring_by (the one
  first-in-first-out rule) for the day N days from the compile day (Asia/Taipei).
- "Has an unused coupon": issued, not used, not past its date at the compile moment
  (optionally of one of the chosen rewards).
- "Wallet card added to (any / Apple / Google)": the card is in that wallet now
  (WalletPass.installed); "not added to" is its exact complement among members, so holders and
  the rest split the audience with nothing left over. A card downloaded and never added, or
  removed since, is not held.
"""

from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.list_filters import MemberListFilter, register_member_list_filter
from crm.segments import (
    ChoiceValue,
    CompileContext,
    IntRangeValue,
    IntValue,
    InvalidValue,
    NoValue,
    Operator,
    Period,
    SegmentRule,
    ValueType,
    register_segment_rule,
)
from crm.segments.registry import positive_id
from crm.segments.rules import bounds, choice_operators, compile_choice, operator_label
from loyalty.expiry import expiring_by
from loyalty.models import Coupon, PointsAccount, Reward, Tier, WalletPass

LOYALTY = _("Loyalty")
MAX_POINTS = 10**9
MAX_DAYS = 3_660


def _member_ids(accounts) -> Q:
    return Q(pk__in=accounts.values("member_id"))


# --- Tier ----------------------------------------------------------------------------------


def tier_choices() -> list[tuple[int, str]]:
    return list(Tier.objects.order_by("rank").values_list("pk", "name"))


def in_tiers_q(tier_ids) -> Q:
    """Members whose account is in one of these tiers."""
    return _member_ids(PointsAccount.objects.filter(tier_id__in=tier_ids))


# --- Points balance ------------------------------------------------------------------------


def _compile_balance(
    operator: str, value: Any, period: Period | None, context: CompileContext
) -> Q:
    low, high = bounds(operator, value)
    accounts = PointsAccount.objects.all()
    if low is not None:
        accounts = accounts.filter(balance__gte=low)
    if high is not None:
        accounts = accounts.filter(balance__lte=high)
    q = _member_ids(accounts)
    if low is None or low <= 0:  # no account: no points
        q |= ~_member_ids(PointsAccount.objects.all())
    return q


# --- Points expiring -----------------------------------------------------------------------


class PointsWithinDays(ValueType):
    """[points, days]: at least `points` expiring within `days` days (two numbers the builder
    draws as a pair)."""

    def clean(self, raw: Any) -> tuple[int, int]:
        if not isinstance(raw, list | tuple) or len(raw) != 2:
            raise InvalidValue(_("Enter two numbers: the points and the days."))
        try:
            points = IntValue(1, MAX_POINTS).clean(raw[0])
        except InvalidValue as exc:
            raise InvalidValue(_("Points: %(error)s") % {"error": exc}) from None
        try:
            days = IntValue(1, MAX_DAYS).clean(raw[1])
        except InvalidValue as exc:
            raise InvalidValue(_("Days: %(error)s") % {"error": exc}) from None
        return points, days

    def schema(self) -> dict:
        # The builder's pair of numbers ("integer_range"): points, then days.
        return {"type": "integer_range", "min": 1, "max": MAX_POINTS, "unit": str(_("days"))}


def _compile_expiring(
    operator: str, value: Any, period: Period | None, context: CompileContext
) -> Q:
    points, days = value
    accounts = PointsAccount.objects.annotate(
        expiring_soon=expiring_by(context.today + timedelta(days=days))
    ).filter(expiring_soon__gte=points)
    return _member_ids(accounts)


# --- Coupons -------------------------------------------------------------------------------


def reward_choices() -> list[tuple[int, str]]:
    return list(Reward.objects.order_by("points_price", "name").values_list("pk", "name"))


def _compile_coupon(operator: str, value: Any, period: Period | None, context: CompileContext) -> Q:
    coupons = Coupon.objects.filter(status=Coupon.Status.ISSUED, expires_at__gt=context.now)
    if operator == "of_reward":
        coupons = coupons.filter(reward_id__in=value)
    q = _member_ids(PointsAccount.objects.filter(pk__in=coupons.values("account_id")))
    return ~q if operator == "has_none" else q


# --- Wallet card ---------------------------------------------------------------------------

ANY_WALLET = "any"


def wallet_choices() -> list[tuple[str, str]]:
    return [(ANY_WALLET, _("any wallet")), *WalletPass.Platform.choices]


def _compile_wallet(operator: str, value: Any, period: Period | None, context: CompileContext) -> Q:
    passes = WalletPass.objects.filter(installed=True)
    if value != ANY_WALLET:
        passes = passes.filter(platform=value)
    q = Q(pk__in=passes.values("member_id"))
    return ~q if operator == "not_added" else q


def register_loyalty_segment_rules() -> None:
    for rule in (
        SegmentRule(
            key="tier",
            label=_("Tier"),
            category=LOYALTY,
            operators=choice_operators(tier_choices, accepts=positive_id),
            compile=compile_choice(in_tiers_q),
            help_text=_("Members without a tier are in none of them."),
        ),
        SegmentRule(
            key="points_balance",
            label=_("Points balance"),
            category=LOYALTY,
            operators={
                "gte": Operator(operator_label("at least"), IntValue(0, MAX_POINTS, _("points"))),
                "lte": Operator(operator_label("at most"), IntValue(0, MAX_POINTS, _("points"))),
                "between": Operator(
                    operator_label("between"), IntRangeValue(0, MAX_POINTS, _("points"))
                ),
            },
            compile=_compile_balance,
            help_text=_("Members without points count as 0."),
        ),
        SegmentRule(
            key="points_expiring",
            label=_("Points expiring soon"),
            category=LOYALTY,
            operators={
                "at_least_within": Operator(
                    operator_label("at least … points expiring within … days"), PointsWithinDays()
                ),
            },
            compile=_compile_expiring,
            help_text=_("First number: points; second: days from today."),
        ),
        SegmentRule(
            key="coupon_unused",
            label=_("Unused coupon"),
            category=LOYALTY,
            operators={
                "has_any": Operator(operator_label("has one"), NoValue()),
                "of_reward": Operator(
                    operator_label("has one for"),
                    ChoiceValue(reward_choices, many=True, accepts=positive_id),
                ),
                "has_none": Operator(operator_label("has none"), NoValue()),
            },
            compile=_compile_coupon,
            help_text=_("Unused: issued, not used, and not past its date."),
        ),
        SegmentRule(
            key="wallet_card",
            label=_("Wallet card"),
            category=LOYALTY,
            operators={
                "added": Operator(operator_label("added to"), ChoiceValue(wallet_choices)),
                "not_added": Operator(operator_label("not added to"), ChoiceValue(wallet_choices)),
            },
            compile=_compile_wallet,
            help_text=_("In the wallet now: a card removed since, or never added, does not count."),
        ),
    ):
        register_segment_rule(rule)


# --- The member list's tier filter ---------------------------------------------------------


def _tier_filter_q(value: str) -> Q:
    try:
        tier_id = int(value)
    except ValueError:
        return Q(pk__in=[])  # not a tier: nobody (the form offers tiers only)
    return in_tiers_q([tier_id])


def register_loyalty_list_filters() -> None:
    register_member_list_filter(
        MemberListFilter(key="tier", label=_("Tier"), choices=tier_choices, q=_tier_filter_q)
    )
