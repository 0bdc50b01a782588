"""How many points an order earns: the one function every path asks (the earning consumer, the
rule preview on the earn-rules page, the demo), so they can never disagree.

    points = floor( floor(net spend / NT$ per point)
                    × tier multiplier
                    × every matching channel rule's multiplier
                    × the highest matching promotion's multiplier )

An order earns nothing under the programme's minimum, in an excluded store, or with no net
spend. A rule matches an order when it is active, the order was placed inside its window
(either end may be open), in its channel (blank: any) and in one of its stores (none: any).
Rules are read once per batch (`earn_context`), then `points_for` is pure: a batch of a
thousand orders costs no query per order.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from loyalty.models import EarnRule, Programme


@dataclass(frozen=True)
class RuleTerms:
    """What of an EarnRule the rule needs (a saved rule, or a draft on the preview)."""

    kind: str  # EarnRule.Kind
    multiplier: Decimal
    channel: str = ""
    store_ids: frozenset[int] = frozenset()
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    def matches(self, *, channel: str, store_id: int | None, placed_at: datetime) -> bool:
        if self.channel and self.channel != channel:
            return False
        if self.store_ids and store_id not in self.store_ids:
            return False
        if self.starts_at is not None and placed_at < self.starts_at:
            return False
        return self.ends_at is None or placed_at < self.ends_at


@dataclass(frozen=True)
class EarnContext:
    spend_per_point_twd: int
    min_order_twd: int
    excluded_store_ids: frozenset[int]
    rules: tuple[RuleTerms, ...]


def rule_terms(rule: EarnRule, store_ids: Sequence[int] = ()) -> RuleTerms:
    return RuleTerms(
        kind=rule.kind,
        multiplier=Decimal(rule.multiplier),
        channel=rule.channel,
        store_ids=frozenset(store_ids),
        starts_at=rule.starts_at,
        ends_at=rule.ends_at,
    )


def earn_context(
    *, programme: Programme | None = None, rules: Sequence[RuleTerms] | None = None
) -> EarnContext:
    """The programme's terms and its active rules (3 queries), or the given draft rules."""
    programme = programme or Programme.current()
    if rules is None:
        active = list(EarnRule.objects.filter(is_active=True).prefetch_related("stores"))
        rules = [rule_terms(rule, [store.pk for store in rule.stores.all()]) for rule in active]
    excluded = programme.excluded_stores.values_list("pk", flat=True) if programme.pk else []
    return EarnContext(
        spend_per_point_twd=programme.spend_per_point_twd,
        min_order_twd=programme.min_order_twd,
        excluded_store_ids=frozenset(excluded),
        rules=tuple(rules),
    )


def points_for(
    *,
    context: EarnContext,
    net_twd: int,
    channel: str,
    store_id: int | None,
    placed_at: datetime,
    tier_multiplier: Decimal = Decimal(1),
) -> int:
    """The points an order of `net_twd` (its sale net of returns) earns. Pure: no query."""
    if net_twd <= 0 or net_twd < context.min_order_twd:
        return 0
    if store_id is not None and store_id in context.excluded_store_ids:
        return 0
    base = net_twd // context.spend_per_point_twd
    if base <= 0:
        return 0
    multiplier = Decimal(tier_multiplier)
    best_promotion = Decimal(1)
    promoted = False
    for rule in context.rules:
        if not rule.matches(channel=channel, store_id=store_id, placed_at=placed_at):
            continue
        if rule.kind == EarnRule.Kind.PROMOTION:
            best_promotion = (
                rule.multiplier if not promoted else max(best_promotion, rule.multiplier)
            )
            promoted = True
        else:
            multiplier *= rule.multiplier
    total = Decimal(base) * multiplier * best_promotion
    return int(total.to_integral_value(rounding=ROUND_FLOOR))
