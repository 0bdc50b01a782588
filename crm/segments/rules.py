"""crm's own segment rules: profile, tags, consent, identifiers, purchases, RFM.

Semantics worth knowing (tests pin them):
- A negative operator (is not, is none of, has none of, not opted in) is the exact complement
  of its positive among active members, so "gender is not female" includes members whose
  gender is not given.
- Purchase figures come from MemberStats; a member without a row counts as zeros, so "orders
  at most 0" and "shopper type: no purchase" include them. Spend and orders in a period are
  aggregated from orders set-wise (`member IN (… GROUP BY member HAVING …)`). A sale is a
  placed order with amount >= 0; spend is net (a return is its own negative row), as in
  MemberStats.
- Recency (days since the last purchase) matches only members who bought at least once.
- Ages and birthday months count in Asia/Taipei from the compile moment.
"""

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.utils.dates import MONTHS
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.models import (
    CONSENT_NONE,
    Consent,
    Gender,
    Identity,
    Order,
    RfmGroup,
    Store,
    Tag,
    consent_current_q,
)
from crm.segments.definition import day_start
from crm.segments.registry import (
    Choices,
    ChoiceValue,
    CompileContext,
    DateRangeValue,
    DateValue,
    IntRangeValue,
    IntValue,
    Operator,
    Period,
    PeriodUse,
    SegmentRule,
    positive_id,
    register_segment_rule,
)
from omnichannel.channels import Channel, MessagingChannel, SalesChannel

PROFILE = _("Profile")
ENGAGEMENT = _("Tags and consent")
PURCHASES = _("Purchases")

NOT_GIVEN = _("Not given")


def operator_label(text: str):
    """Operators are short words (\"is\", \"has\"): translated in their own context."""
    return pgettext_lazy("segment operator", text)


# --- Operator sets -------------------------------------------------------------------------


def choice_operators(
    choices: Choices | Callable[[], Choices], accepts: Callable[[Any], bool] | None = None
) -> dict[str, Operator]:
    one = ChoiceValue(choices, accepts=accepts)
    many = ChoiceValue(choices, many=True, accepts=accepts)
    return {
        "is": Operator(operator_label("is"), one),
        "is_not": Operator(operator_label("is not"), one),
        "in": Operator(operator_label("is any of"), many),
        "not_in": Operator(operator_label("is none of"), many),
    }


def compile_choice(positive: Callable[[tuple], Q]) -> Callable:
    """A compile function for choice_operators from a Q of 'value is one of these'."""

    def compile_(operator: str, value: Any, period: Period | None, context: CompileContext) -> Q:
        values = value if isinstance(value, tuple) else (value,)
        q = positive(values)
        return ~q if operator in ("is_not", "not_in") else q

    return compile_


def number_operators(
    minimum: int = 0, maximum: int = 10**12, unit: Any = ""
) -> dict[str, Operator]:
    return {
        "gte": Operator(operator_label("at least"), IntValue(minimum, maximum, unit)),
        "lte": Operator(operator_label("at most"), IntValue(minimum, maximum, unit)),
        "eq": Operator(operator_label("exactly"), IntValue(minimum, maximum, unit)),
        "between": Operator(operator_label("between"), IntRangeValue(minimum, maximum, unit)),
    }


def bounds(operator: str, value: Any) -> tuple[int | None, int | None]:
    """(low, high) of a number_operators condition, both included, None for open."""
    if operator == "gte":
        return value, None
    if operator == "lte":
        return None, value
    if operator == "eq":
        return value, value
    return value


def _contains(low: int | None, high: int | None, number: int) -> bool:
    return (low is None or number >= low) and (high is None or number <= high)


def _range_q(field: str, low: int | None, high: int | None) -> Q:
    q = Q()
    if low is not None:
        q &= Q(**{f"{field}__gte": low})
    if high is not None:
        q &= Q(**{f"{field}__lte": high})
    return q


def stats_range_q(field: str, low: int | None, high: int | None) -> Q:
    """A MemberStats figure in [low, high]; a member without figures counts as 0."""
    q = _range_q(f"stats__{field}", low, high)
    return q | Q(stats__isnull=True) if _contains(low, high, 0) else q


# --- Profile -------------------------------------------------------------------------------


def _with_blank(choices: Choices) -> list:
    return [*choices, ("", NOT_GIVEN)]


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def _compile_age(operator: str, value: Any, period: Period | None, context: CompileContext) -> Q:
    low, high = bounds(operator, value)
    q = Q(birthday__isnull=False)
    if low is not None:  # at least `low` years old: born on or before today, low years ago
        q &= Q(birthday__lte=_years_before(context.today, low))
    if high is not None:  # not yet high + 1
        q &= Q(birthday__gt=_years_before(context.today, high + 1))
    return q


MONTH_CHOICES = list(MONTHS.items())


def _compile_birthday_month(
    operator: str, value: Any, period: Period | None, context: CompileContext
) -> Q:
    if operator == "this_month":
        return Q(birthday__month=context.today.month)
    if operator == "next_month":
        return Q(birthday__month=context.today.month % 12 + 1)
    q = Q(birthday__month__in=value)
    return ~q if operator == "not_in" else q


def _store_choices() -> Choices:
    return [
        (pk, f"{code} {name}") for pk, code, name in Store.objects.values_list("pk", "code", "name")
    ]


def _compile_joined(operator: str, value: Any, period: Period | None, context: CompileContext) -> Q:
    if operator == "before":
        return Q(joined_at__lt=day_start(value))
    if operator == "on_or_after":
        return Q(joined_at__gte=day_start(value))
    if operator == "between":
        return Q(
            joined_at__gte=day_start(value[0]),
            joined_at__lt=day_start(value[1]) + timedelta(days=1),
        )
    since = context.now - timedelta(days=value)
    return Q(joined_at__gte=since) if operator == "within_last_days" else Q(joined_at__lt=since)


# --- Tags, consent, identifiers ------------------------------------------------------------


def _tag_choices() -> Choices:
    return list(Tag.objects.values_list("pk", "name"))


def _has_tags(tag_ids: tuple) -> Exists:
    links = Tag.members.through.objects.filter(member_id=OuterRef("pk"), tag_id__in=tag_ids)
    return Exists(links)


def _compile_tags(operator: str, value: Any, period: Period | None, context: CompileContext) -> Q:
    if operator == "has_all":
        q = Q()
        for tag_id in value:
            q &= Q(_has_tags((tag_id,)))
        return q
    q = Q(_has_tags(value))
    return ~q if operator == "has_none" else q


def _compile_consent(
    operator: str, value: Any, period: Period | None, context: CompileContext
) -> Q:
    if operator == "opted_in":
        return consent_current_q(value, Consent.State.OPTED_IN)
    if operator == "opted_out":
        return consent_current_q(value, Consent.State.OPTED_OUT)
    if operator == "not_opted_in":
        return ~consent_current_q(value, Consent.State.OPTED_IN)
    return consent_current_q(value, CONSENT_NONE)


def _compile_identifier(
    operator: str, value: Any, period: Period | None, context: CompileContext
) -> Q:
    q = Q(Exists(Identity.objects.filter(member_id=OuterRef("pk"), kind=value)))
    return ~q if operator == "has_not" else q


# --- Purchases -----------------------------------------------------------------------------


def sales_in(period: Period | None):
    """Placed sales (not returns) in the period, of known members."""
    return _in_period(Order.objects.sales(), period)


def _in_period(orders, period: Period | None):
    if period is not None and period.start is not None:
        orders = orders.filter(placed_at__gte=period.start)
    if period is not None and period.end is not None:
        orders = orders.filter(placed_at__lt=period.end)
    return orders


def _aggregate_in_period(orders, aggregate, low: int | None, high: int | None) -> Q:
    """Members whose aggregate of their orders in the period lies in [low, high], set-wise:
    `pk IN (SELECT member_id … GROUP BY member_id HAVING …)`. A member without orders in the
    period has 0, so when 0 is in range they match too (NOT EXISTS an order)."""
    grouped = (
        orders.filter(member__isnull=False)
        .values("member_id")
        .annotate(figure=aggregate)
        .filter(_range_q("figure", low, high))
        .values("member_id")
    )
    q = Q(pk__in=grouped)
    if _contains(low, high, 0):
        q |= ~Q(Exists(orders.filter(member_id=OuterRef("pk"))))
    return q


def _compile_spend(operator: str, value: Any, period: Period | None, context: CompileContext) -> Q:
    low, high = bounds(operator, value)
    if period is None:
        return stats_range_q("total_spend_twd", low, high)
    placed = _in_period(Order.objects.counted_in_revenue(), period)
    return _aggregate_in_period(placed, Sum("amount_twd"), low, high)


def _compile_orders(operator: str, value: Any, period: Period | None, context: CompileContext) -> Q:
    low, high = bounds(operator, value)
    if period is None:
        return stats_range_q("orders_count", low, high)
    bought = Q(Exists(sales_in(period).filter(member_id=OuterRef("pk"))))
    # "At least one" and "none" need no counting: a semi- or anti-join instead of a GROUP BY
    # over every order of the period.
    if high is None and (low or 0) <= 1:
        return bought if low == 1 else Q()
    if high == 0:
        return ~bought
    return _aggregate_in_period(sales_in(period), Count("pk"), low, high)


def _compile_recency(
    operator: str, value: Any, period: Period | None, context: CompileContext
) -> Q:
    low, high = bounds(operator, value)
    q = Q(stats__last_purchase_at__isnull=False)
    if low is not None:
        q &= Q(stats__last_purchase_at__lte=context.now - timedelta(days=low))
    if high is not None:
        q &= Q(stats__last_purchase_at__gt=context.now - timedelta(days=high + 1))
    return q


def _bought_in(channel: str, period: Period | None) -> Q:
    if period is None:
        return Q(**{f"stats__bought_{channel}": True})
    return Q(Exists(sales_in(period).filter(member_id=OuterRef("pk"), channel=channel)))


def _compile_channels(
    operator: str, value: Any, period: Period | None, context: CompileContext
) -> Q:
    if operator == "all_of":
        q = Q()
        for channel in value:
            q &= _bought_in(channel, period)
        return q
    if period is None:
        q = Q()
        for channel in value:
            q |= _bought_in(channel, None)
    else:
        q = Q(Exists(sales_in(period).filter(member_id=OuterRef("pk"), channel__in=value)))
    return ~q if operator == "none_of" else q


class ShopperType:
    OMO = "omo"
    ONLINE_ONLY = "online_only"
    OFFLINE_ONLY = "offline_only"
    NONE = "none"

    CHOICES = [
        (OMO, _("Online and in store (OMO)")),
        (ONLINE_ONLY, _("Online only")),
        (OFFLINE_ONLY, _("In store only")),
        (NONE, _("No purchase yet")),
    ]


def _shopper_q(kind: str) -> Q:
    if kind == ShopperType.OMO:
        return Q(stats__orders_online__gt=0, stats__orders_offline__gt=0)
    if kind == ShopperType.ONLINE_ONLY:
        return Q(stats__orders_online__gt=0, stats__orders_offline=0)
    if kind == ShopperType.OFFLINE_ONLY:
        return Q(stats__orders_offline__gt=0, stats__orders_online=0)
    return Q(stats__orders_count=0) | Q(stats__isnull=True)


def _shopper_types(values: tuple) -> Q:
    q = Q()
    for kind in values:
        q |= _shopper_q(kind)
    return q


RFM_NONE = "none"


def _rfm_groups(values: tuple) -> Q:
    q = Q(stats__rfm_group__in=[v for v in values if v != RFM_NONE])
    if RFM_NONE in values:
        q |= Q(stats__rfm_group="") | Q(stats__isnull=True)
    return q


# --- Registration --------------------------------------------------------------------------

PERIOD_HELP = _("Without a period: ever.")
MONTHS_VALUE = ChoiceValue(MONTH_CHOICES, many=True)
TAGS_VALUE = ChoiceValue(_tag_choices, many=True, accepts=positive_id)
CHANNEL_VALUE = ChoiceValue(MessagingChannel.choices)


def register_crm_rules() -> None:
    for rule in (
        SegmentRule(
            key="gender",
            member_columns_only=True,
            label=_("Gender"),
            category=PROFILE,
            operators=choice_operators(_with_blank(Gender.choices)),
            compile=compile_choice(lambda values: Q(gender__in=values)),
        ),
        SegmentRule(
            key="age",
            member_columns_only=True,
            label=_("Age"),
            category=PROFILE,
            operators=number_operators(0, 130, _("years")),
            compile=_compile_age,
            help_text=_("Members without a birthday never match."),
        ),
        SegmentRule(
            key="birthday_month",
            member_columns_only=True,
            label=_("Birthday month"),
            category=PROFILE,
            operators={
                "in": Operator(operator_label("is any of"), MONTHS_VALUE),
                "not_in": Operator(operator_label("is none of"), MONTHS_VALUE),
                "this_month": Operator(operator_label("is this month")),
                "next_month": Operator(operator_label("is next month")),
            },
            compile=_compile_birthday_month,
        ),
        SegmentRule(
            key="home_store",
            member_columns_only=True,
            label=_("Home store"),
            category=PROFILE,
            operators=choice_operators(_store_choices, accepts=positive_id),
            compile=compile_choice(lambda values: Q(home_store_id__in=values)),
        ),
        SegmentRule(
            key="acquisition_channel",
            member_columns_only=True,
            label=_("Acquisition channel"),
            category=PROFILE,
            operators=choice_operators(_with_blank(Channel.choices)),
            compile=compile_choice(lambda values: Q(acquisition_channel__in=values)),
        ),
        SegmentRule(
            key="joined",
            member_columns_only=True,
            label=_("Joined"),
            category=PROFILE,
            operators={
                "within_last_days": Operator(
                    operator_label("in the last N days"), IntValue(1, 36_600, _("days"))
                ),
                "more_than_days_ago": Operator(
                    operator_label("more than N days ago"), IntValue(1, 36_600, _("days"))
                ),
                "on_or_after": Operator(operator_label("on or after"), DateValue()),
                "before": Operator(operator_label("before"), DateValue()),
                "between": Operator(operator_label("between"), DateRangeValue()),
            },
            compile=_compile_joined,
        ),
        SegmentRule(
            key="tags",
            label=_("Tags"),
            category=ENGAGEMENT,
            operators={
                "has_any": Operator(operator_label("has any of"), TAGS_VALUE),
                "has_all": Operator(operator_label("has all of"), TAGS_VALUE),
                "has_none": Operator(operator_label("has none of"), TAGS_VALUE),
            },
            compile=_compile_tags,
        ),
        SegmentRule(
            key="consent",
            label=_("Consent"),
            category=ENGAGEMENT,
            operators={
                "opted_in": Operator(operator_label("opted in to"), CHANNEL_VALUE),
                "opted_out": Operator(operator_label("opted out of"), CHANNEL_VALUE),
                "not_opted_in": Operator(operator_label("not opted in to"), CHANNEL_VALUE),
                "no_decision": Operator(operator_label("never decided on"), CHANNEL_VALUE),
            },
            compile=_compile_consent,
            help_text=_("The newest decision per channel counts."),
        ),
        SegmentRule(
            key="identifier",
            label=_("Identifier"),
            category=ENGAGEMENT,
            operators={
                "has": Operator(operator_label("has"), ChoiceValue(Identity.Kind.choices)),
                "has_not": Operator(operator_label("has no"), ChoiceValue(Identity.Kind.choices)),
            },
            compile=_compile_identifier,
        ),
        SegmentRule(
            key="spend",
            label=_("Spend (NT$)"),
            category=PURCHASES,
            operators=number_operators(0, 10**12, "NT$"),
            compile=_compile_spend,
            period=PeriodUse.OPTIONAL,
            help_text=PERIOD_HELP,
        ),
        SegmentRule(
            key="orders",
            label=_("Orders"),
            category=PURCHASES,
            operators=number_operators(0, 1_000_000, _("orders")),
            compile=_compile_orders,
            period=PeriodUse.OPTIONAL,
            help_text=PERIOD_HELP,
        ),
        SegmentRule(
            key="recency",
            label=_("Days since the last purchase"),
            category=PURCHASES,
            operators=number_operators(0, 36_600, _("days")),
            compile=_compile_recency,
            help_text=_("Members who never bought never match."),
        ),
        SegmentRule(
            key="purchased_in",
            label=_("Bought in channel"),
            category=PURCHASES,
            operators={
                key: Operator(label, ChoiceValue(SalesChannel.choices, many=True))
                for key, label in (
                    ("any_of", operator_label("any of")),
                    ("all_of", operator_label("each of")),
                    ("none_of", operator_label("none of")),
                )
            },
            compile=_compile_channels,
            period=PeriodUse.OPTIONAL,
            help_text=PERIOD_HELP,
        ),
        SegmentRule(
            key="shopper_type",
            label=_("Online / in store (OMO)"),
            category=PURCHASES,
            operators=choice_operators(ShopperType.CHOICES),
            compile=compile_choice(_shopper_types),
            help_text=_("OMO: bought both online and in store."),
        ),
        SegmentRule(
            key="rfm_group",
            label=_("RFM group"),
            category=PURCHASES,
            operators=choice_operators(
                [*RfmGroup.choices, (RFM_NONE, _("No group (no purchase in 365 days)"))]
            ),
            compile=compile_choice(_rfm_groups),
        ),
    ):
        register_segment_rule(rule)
