"""The one earn rule (loyalty.earning.points_for), checked by hand."""

from datetime import datetime
from decimal import Decimal

import pytest

from loyalty.earning import EarnContext, RuleTerms, points_for
from loyalty.models import EarnRule

NOW = datetime(2026, 12, 7, 12, 0)
BASE = EarnContext(
    spend_per_point_twd=100, min_order_twd=0, excluded_store_ids=frozenset(), rules=()
)


def _points(context=BASE, **kw):
    order = {"net_twd": 1_250, "channel": "store", "store_id": 1, "placed_at": NOW}
    return points_for(context=context, **{**order, **kw})


def test_base_rate_rounds_down():
    assert _points() == 12
    assert _points(net_twd=99) == 0
    assert _points(net_twd=0) == 0 and _points(net_twd=-300) == 0


def test_minimum_and_excluded_stores_earn_nothing():
    context = EarnContext(100, 1_000, frozenset({7}), ())
    assert _points(context, net_twd=999) == 0
    assert _points(context, store_id=7) == 0
    assert _points(context) == 12


def test_multipliers_multiply_and_the_best_promotion_counts():
    app_double = RuleTerms(EarnRule.Kind.CHANNEL, Decimal(2), channel="app")
    promo_a = RuleTerms(
        EarnRule.Kind.PROMOTION,
        Decimal("1.5"),
        starts_at=datetime(2026, 12, 1),
        ends_at=datetime(2026, 12, 8),
    )
    promo_b = RuleTerms(EarnRule.Kind.PROMOTION, Decimal(3), store_ids=frozenset({2}))
    context = EarnContext(100, 0, frozenset(), (app_double, promo_a, promo_b))
    # store 1, in the store: promo A only → 12 × 1.5 = 18
    assert _points(context) == 18
    # app, store 2: × 2 (channel) × 3 (the best promotion, not 1.5 × 3)
    assert _points(context, channel="app", store_id=2) == 72
    # gold tier 1.5 in the app after the window: 12 × 1.5 × 2 = 36
    assert (
        _points(
            context, channel="app", placed_at=datetime(2026, 12, 9), tier_multiplier=Decimal("1.5")
        )
        == 36
    )
    # the window's end is open-ended on the right side only: placed at ends_at is outside
    assert _points(context, placed_at=datetime(2026, 12, 8)) == 12


@pytest.mark.parametrize("multiplier, expected", [(Decimal("1.2"), 14), (Decimal(0), 0)])
def test_fractions_round_down(multiplier, expected):
    assert _points(tier_multiplier=multiplier) == expected
