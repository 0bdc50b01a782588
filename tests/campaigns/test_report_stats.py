"""The report's statistics equal statsmodels' and scipy's answers on small sets worked by hand,
say so in words, and give no number (but no error) when the data cannot carry one."""

import math

import numpy as np
import pytest
from django.utils import translation
from scipy.stats import ttest_ind_from_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from campaigns.models import CampaignFigures
from campaigns.report import report_build
from campaigns.stats import (
    Metric,
    holm_adjusted,
    mean_and_variance,
    mean_comparison,
    proportion_comparison,
)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _conversions(x_a=40, x_b=60, n=1000):
    return proportion_comparison(
        metric=Metric.CONVERSION_RATE, label_a="A", x_a=x_a, n_a=n, label_b="B", x_b=x_b, n_b=n
    )


def test_two_proportions_equal_statsmodels_and_the_hand_computed_z():
    # Given A: 1000 members, 40 converted; B: 1000 members, 60 converted.
    comparison = _conversions()

    z, p = proportions_ztest([60, 40], [1000, 1000])
    low, high = confint_proportions_2indep(60, 1000, 40, 1000, compare="diff")
    ratio_low, ratio_high = confint_proportions_2indep(60, 1000, 40, 1000, compare="ratio")
    assert comparison.p_value == pytest.approx(p)
    assert (comparison.ci_low, comparison.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert comparison.relative == pytest.approx(0.5)
    assert comparison.relative_low == pytest.approx(ratio_low - 1)
    assert comparison.relative_high == pytest.approx(ratio_high - 1)
    # By hand: pooled p = 100/2000 = 0.05; se = √(0.05 × 0.95 × (1/1000 + 1/1000)) = 0.0097468;
    # z = (0.06 − 0.04) / se = 2.0520, so p ≈ 0.0402 < 0.05.
    assert z == pytest.approx(0.02 / math.sqrt(0.05 * 0.95 * 0.002), rel=1e-9)
    assert z == pytest.approx(2.0520, abs=1e-4)
    assert comparison.diff == pytest.approx(0.02)
    assert comparison.significant


def test_the_sentence_says_higher_with_the_interval_and_significant():
    sentence = _conversions().sentence()

    assert sentence.startswith("B’s conversion rate is higher than A’s: 6.0 % vs 4.0 %")
    assert "difference +2.0 pt (95 % CI +0.1 pt to +4.0 pt)" in sentence
    assert sentence.endswith("significant at 95 %.")


def test_a_small_difference_is_said_to_be_maybe_chance():
    comparison = _conversions(x_a=40, x_b=45)

    assert not comparison.significant
    assert comparison.sentence().endswith("not significant — the difference could be chance.")


@pytest.mark.parametrize(
    ("x_a", "n_a", "x_b", "n_b"),
    [(0, 0, 5, 100), (1, 10, 2, 10), (0, 1000, 0, 1000), (50, 40, 1, 100), (-1, 100, 3, 100)],
    ids=["no members", "too few members", "no events", "more events than members", "negative"],
)
def test_too_little_or_broken_data_gives_a_sentence_not_a_number(x_a, n_a, x_b, n_b):
    comparison = proportion_comparison(
        metric=Metric.CLICK_RATE, label_a="A", x_a=x_a, n_a=n_a, label_b="B", x_b=x_b, n_b=n_b
    )

    assert not comparison.enough and not comparison.significant
    assert comparison.sentence().startswith("Not enough data yet to compare the click rate")


def _sums(values):
    values = np.asarray(values, dtype=float)
    return len(values), values.sum(), (values**2).sum()


def test_revenue_per_member_is_welch_from_the_kept_sums():
    # Given members' revenues (most buy nothing), kept as n, Σ and Σ².
    rng = np.random.default_rng(11)
    a = np.where(rng.random(400) < 0.05, rng.integers(300, 3000, 400), 0)
    b = np.where(rng.random(300) < 0.09, rng.integers(300, 3000, 300), 0)
    (n_a, s_a, q_a), (n_b, s_b, q_b) = _sums(a), _sums(b)

    comparison = mean_comparison(
        metric=Metric.REVENUE,
        label_a="A",
        n_a=n_a,
        sum_a=s_a,
        sumsq_a=q_a,
        label_b="B",
        n_b=n_b,
        sum_b=s_b,
        sumsq_b=q_b,
    )

    # Then: scipy's Welch test from the members' mean and ddof=1 deviation, and statsmodels'
    # Welch interval from the members themselves.
    _, p = ttest_ind_from_stats(
        b.mean(), b.std(ddof=1), n_b, a.mean(), a.std(ddof=1), n_a, equal_var=False
    )
    low, high = CompareMeans(DescrStatsW(b), DescrStatsW(a)).tconfint_diff(usevar="unequal")
    assert comparison.value_a == pytest.approx(a.mean())
    assert comparison.value_b == pytest.approx(b.mean())
    assert comparison.p_value == pytest.approx(p)
    assert (comparison.ci_low, comparison.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert comparison.relative == pytest.approx(b.mean() / a.mean() - 1)


def test_mean_and_variance_by_hand():
    # 2, 4, 6: mean 4, variance ((−2)² + 0 + 2²) / (3 − 1) = 4.
    assert mean_and_variance(n=3, total=12, sumsq=56) == (pytest.approx(4), pytest.approx(4))
    assert mean_and_variance(n=1, total=5, sumsq=25) is None
    assert mean_and_variance(n=3, total=12, sumsq=10) is None  # no sample has these sums


def test_revenue_without_variance_or_members_is_not_enough():
    nothing = mean_comparison(
        metric=Metric.REVENUE,
        label_a="A",
        n_a=500,
        sum_a=0,
        sumsq_a=0,
        label_b="B",
        n_b=500,
        sum_b=0,
        sumsq_b=0,
    )
    empty = mean_comparison(
        metric=Metric.REVENUE,
        label_a="A",
        n_a=0,
        sum_a=0,
        sumsq_a=0,
        label_b="B",
        n_b=0,
        sum_b=0,
        sumsq_b=0,
    )

    assert not nothing.enough and not empty.enough
    assert "Not enough data yet to compare the revenue per member" in empty.sentence()


def test_more_than_two_variants_are_holm_corrected():
    comparisons = [_conversions(40, 60), _conversions(40, 58), _conversions(40, 44)]

    adjusted = holm_adjusted(comparisons)

    _, expected, _, _ = multipletests([c.p_value for c in comparisons], method="holm")
    assert [c.p_adjusted for c in adjusted] == [pytest.approx(p) for p in expected]
    assert all(c.comparisons == 3 for c in adjusted)
    assert adjusted[0].p_value < 0.05 and not adjusted[0].significant  # 0.040 × 3 > 0.05
    assert "could be chance" in adjusted[0].sentence()


def test_a_single_comparison_is_not_corrected():
    (only,) = holm_adjusted([_conversions()])

    assert only.p_adjusted == only.p_value and only.comparisons == 1


def _row(**fields):
    defaults = {"campaign_id": 1, "arm": "sent", "variant": "A", "channel": "line"}
    return CampaignFigures(**{**defaults, **fields})


def test_the_report_tests_variants_and_the_holdout_from_the_figures():
    rows = [
        _row(variant="A", members=1000, sent=1000, converted=40, clicked=100),
        _row(variant="B", members=1000, sent=1000, converted=60, clicked=150),
        _row(arm="holdout", variant="", channel="", members=500, converted=10),
        _row(
            arm="store_holdout",
            variant="",
            channel="",
            members=200,
            revenue_store_twd=20000,
            revenue_store_sumsq=20000 * 1000,
        ),
    ]

    report = report_build(campaign_id=1, rows=rows, daily=[])

    conversions = report.variant_tests[Metric.CONVERSION_RATE]
    assert len(conversions) == 1 and conversions[0].p_value == pytest.approx(
        proportions_ztest([60, 40], [1000, 1000])[1]
    )
    holdout_conversion = report.lift[0]
    assert holdout_conversion.n_b == 2000 and holdout_conversion.n_a == 500
    assert holdout_conversion.p_value == pytest.approx(proportions_ztest([100, 10], [2000, 500])[1])
    assert report.store_lift[0].value_a == pytest.approx(100)


def test_one_broken_figure_does_not_break_the_report():
    rows = [
        _row(variant="A", members=0, sent=0, suppressed={"no_consent": "x", "bounced": 3}),
        _row(variant="B", members=10, revenue_online_twd=100, revenue_sumsq=1),  # Σ² < (Σ)²/n
        _row(arm="holdout", variant="", channel="", members=0),
    ]

    report = report_build(campaign_id=1, rows=rows, daily=[])

    assert report.by_variant[0].suppressed == {"bounced": 3}
    assert report.by_variant[0].conversion_rate is None and report.by_variant[0].roi is None
    for comparison in [c for tests in report.variant_tests.values() for c in tests]:
        assert not comparison.enough
        assert comparison.sentence()
    assert all(c.sentence() for c in report.lift)


def test_a_lower_rate_reads_with_a_minus_sign_and_no_relative_lift_from_zero():
    lower = _conversions(x_a=60, x_b=40)
    from_zero = _conversions(x_a=0, x_b=40)

    assert lower.sentence().startswith("B’s conversion rate is lower than A’s")
    assert "difference −2.0 pt" in lower.sentence()
    assert from_zero.enough and from_zero.relative is None  # no lift relative to nothing
