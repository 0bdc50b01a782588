"""The report's statistics: is a variant better than another, did the campaign lift sales over
the holdout? Every number comes from statsmodels or scipy; this module only feeds them the kept
figures (campaigns.models.CampaignFigures) and says the answer in words.

- Rates (click rate, conversion rate) of two groups: statsmodels' two-proportion z-test
  (`proportions_ztest`, pooled) for the p-value; `confint_proportions_2indep` (Newcombe's
  interval, good with few events) for the 95 % interval of the difference and, for a lift, of
  the ratio (relative lift = ratio − 1).
- Revenue per member: Welch's t-test (`scipy.stats.ttest_ind_from_stats`, unequal variances) from
  n, Σ revenue and Σ revenue² of each group (mean = Σ/n, variance with ddof=1). The interval of
  the difference is statsmodels' Welch interval (`CompareMeans.tconfint_diff(usevar="unequal")`),
  fed a two-point weighted sample that has exactly the group's n, mean and variance — the figures
  keep sums, not members. The relative lift's interval divides the difference's interval by the
  control's mean (the control mean taken as known: an approximation, said in the docs).
- A/B/n: every variant is compared with A (A is the reference a marketer wrote first); with more
  than two variants the p-values are Holm-corrected (`multipletests(method="holm")`) so three
  comparisons do not get three chances at a false "significant". Intervals stay the plain 95 %.
- Intent-to-treat: groups are the members meant to be sent (arm "sent"), whatever happened to
  their message, against the held-out members; denominators are members, never messages.
- Too little data (fewer than MIN_MEMBERS in a group, fewer than MIN_EVENTS events or
  non-events for a rate, no variance for revenue) gives no number but a sentence saying so; a
  broken figure (a negative variance from inconsistent sums, a NaN) is treated the same way, so
  one bad value never breaks a page.
"""

import math
from dataclasses import dataclass, replace

import numpy as np
from django.utils.translation import gettext
from scipy.stats import ttest_ind_from_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

ALPHA = 0.05
MIN_MEMBERS = 30  # per group
MIN_EVENTS = 5  # clicks / conversions, and non-events, across both groups


class Metric:
    CLICK_RATE = "click_rate"
    CONVERSION_RATE = "conversion_rate"
    REVENUE = "revenue_per_member"
    STORE_REVENUE = "store_revenue_per_member"

    RATES = (CLICK_RATE, CONVERSION_RATE)


def metric_label(metric: str) -> str:
    return {
        Metric.CLICK_RATE: gettext("click rate"),
        Metric.CONVERSION_RATE: gettext("conversion rate"),
        Metric.REVENUE: gettext("revenue per member"),
        Metric.STORE_REVENUE: gettext("in-store revenue per member"),
    }[metric]


@dataclass(frozen=True)
class Comparison:
    """Group B against group A (the reference) on one metric. Values are fractions for rates
    (0.041) and NT$ for revenue per member; `diff` is B − A; `relative` is diff / A."""

    metric: str
    label_a: str
    label_b: str
    n_a: int
    n_b: int
    value_a: float | None = None
    value_b: float | None = None
    diff: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    relative: float | None = None
    relative_low: float | None = None
    relative_high: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None  # Holm-corrected when several comparisons share a test
    comparisons: int = 1

    @property
    def enough(self) -> bool:
        return self.p_value is not None

    @property
    def significant(self) -> bool:
        p = self.p_adjusted if self.p_adjusted is not None else self.p_value
        return p is not None and p < ALPHA

    @property
    def is_rate(self) -> bool:
        return self.metric in Metric.RATES

    @property
    def metric_text(self) -> str:
        return metric_label(self.metric)

    @property
    def numbers(self) -> dict[str, str]:
        return comparison_numbers(self)

    def sentence(self) -> str:
        return comparison_sentence(self)


def _finite(*values: float) -> bool:
    return all(value is not None and math.isfinite(value) for value in values)


def proportion_comparison(
    *, metric: str, label_a: str, x_a: int, n_a: int, label_b: str, x_b: int, n_b: int
) -> Comparison:
    """B's rate x_b/n_b against A's x_a/n_a: z-test, 95 % CI of the difference and ratio."""
    base = Comparison(metric=metric, label_a=label_a, label_b=label_b, n_a=n_a, n_b=n_b)
    if n_a <= 0 or n_b <= 0 or not (0 <= x_a <= n_a and 0 <= x_b <= n_b):
        return base
    rate_a, rate_b = x_a / n_a, x_b / n_b
    base = replace(base, value_a=rate_a, value_b=rate_b, diff=rate_b - rate_a)
    events, non_events = x_a + x_b, (n_a - x_a) + (n_b - x_b)
    if min(n_a, n_b) < MIN_MEMBERS or events < MIN_EVENTS or non_events < MIN_EVENTS:
        return base
    try:
        _, p_value = proportions_ztest([x_b, x_a], [n_b, n_a])
        low, high = confint_proportions_2indep(x_b, n_b, x_a, n_a, compare="diff", alpha=ALPHA)
        relative = rel_low = rel_high = None
        if x_a > 0:
            ratio_low, ratio_high = confint_proportions_2indep(
                x_b, n_b, x_a, n_a, compare="ratio", alpha=ALPHA
            )
            relative, rel_low, rel_high = rate_b / rate_a - 1, ratio_low - 1, ratio_high - 1
    except (ValueError, ArithmeticError):
        return base
    if not _finite(p_value, low, high):
        return base
    if relative is not None and not _finite(rel_low, rel_high):
        rel_low = rel_high = None  # the ratio's interval has no bound (a zero count)
    return replace(
        base,
        ci_low=float(low),
        ci_high=float(high),
        relative=relative,
        relative_low=float(rel_low) if rel_low is not None else None,
        relative_high=float(rel_high) if rel_high is not None else None,
        p_value=float(p_value),
    )


def mean_and_variance(*, n: int, total: float, sumsq: float) -> tuple[float, float] | None:
    """Mean and sample variance (ddof=1) from n, Σx and Σx²; None when they cannot be (n < 2,
    or sums that no sample has: a negative variance beyond rounding)."""
    if n < 2:
        return None
    mean = total / n
    variance = (sumsq - n * mean * mean) / (n - 1)
    if variance < -1e-9 * max(sumsq, 1):
        return None
    return mean, max(variance, 0.0)


def _weighted_sample(n: int, mean: float, variance: float) -> DescrStatsW:
    """Two points, n/2 members each, with exactly this n, mean and ddof=1 variance."""
    half = math.sqrt(variance * (n - 1) / n)
    return DescrStatsW(np.array([mean - half, mean + half]), weights=np.array([n / 2, n / 2]))


def mean_comparison(
    *,
    metric: str,
    label_a: str,
    n_a: int,
    sum_a: float,
    sumsq_a: float,
    label_b: str,
    n_b: int,
    sum_b: float,
    sumsq_b: float,
) -> Comparison:
    """B's mean per member against A's: Welch's t-test and the 95 % CI of the difference."""
    base = Comparison(metric=metric, label_a=label_a, label_b=label_b, n_a=n_a, n_b=n_b)
    stats_a = mean_and_variance(n=n_a, total=sum_a, sumsq=sumsq_a)
    stats_b = mean_and_variance(n=n_b, total=sum_b, sumsq=sumsq_b)
    if stats_a is None or stats_b is None:
        return base
    (mean_a, var_a), (mean_b, var_b) = stats_a, stats_b
    base = replace(base, value_a=mean_a, value_b=mean_b, diff=mean_b - mean_a)
    if min(n_a, n_b) < MIN_MEMBERS or var_a + var_b <= 0:
        return base
    try:
        _, p_value = ttest_ind_from_stats(
            mean_b, math.sqrt(var_b), n_b, mean_a, math.sqrt(var_a), n_a, equal_var=False
        )
        compare = CompareMeans(
            _weighted_sample(n_b, mean_b, var_b), _weighted_sample(n_a, mean_a, var_a)
        )
        low, high = compare.tconfint_diff(alpha=ALPHA, usevar="unequal")
    except (ValueError, ArithmeticError):
        return base
    if not _finite(p_value, low, high):
        return base
    relative = rel_low = rel_high = None
    if mean_a > 0:
        relative = (mean_b - mean_a) / mean_a
        rel_low, rel_high = low / mean_a, high / mean_a
    return replace(
        base,
        ci_low=float(low),
        ci_high=float(high),
        relative=relative,
        relative_low=rel_low,
        relative_high=rel_high,
        p_value=float(p_value),
    )


def holm_adjusted(comparisons: list[Comparison]) -> list[Comparison]:
    """The comparisons of one test (B, C, D each against A on one metric) with Holm-corrected
    p-values when there are two or more; the ones without a p-value are left as they are."""
    tested = [i for i, comparison in enumerate(comparisons) if comparison.p_value is not None]
    if len(tested) < 2:
        return [replace(c, p_adjusted=c.p_value) for c in comparisons]
    _, adjusted, _, _ = multipletests(
        [comparisons[i].p_value for i in tested], alpha=ALPHA, method="holm"
    )
    result = list(comparisons)
    for i, p in zip(tested, adjusted, strict=True):
        result[i] = replace(result[i], p_adjusted=float(p), comparisons=len(tested))
    return result


# --- In words ----------------------------------------------------------------------------------


def _percent(value: float) -> str:
    return f"{value * 100:.1f} %"


def _signed(text: str) -> str:
    return text.replace("-", "−")  # the minus sign, as the NT$ amounts have it


def _points(value: float) -> str:
    return _signed(f"{value * 100:+.1f} ") + gettext("pt")


def _twd(value: float) -> str:
    return f"NT${value:,.1f}"


def _twd_signed(value: float) -> str:
    sign = "+" if value >= 0 else "−"
    return f"{sign}NT${abs(value):,.1f}"


def comparison_numbers(comparison: Comparison) -> dict[str, str]:
    """The comparison's numbers as text: value_a, value_b, diff, low, high, relative."""
    if comparison.is_rate:
        value, signed = _percent, _points
    else:
        value, signed = _twd, _twd_signed
    text = {}
    if comparison.value_a is not None:
        text["value_a"] = value(comparison.value_a)
    if comparison.value_b is not None:
        text["value_b"] = value(comparison.value_b)
    if comparison.diff is not None:
        text["diff"] = signed(comparison.diff)
    if comparison.ci_low is not None and comparison.ci_high is not None:
        text["low"], text["high"] = signed(comparison.ci_low), signed(comparison.ci_high)
    if comparison.relative is not None:
        text["relative"] = _signed(f"{comparison.relative * 100:+.0f} %")
        if comparison.relative_low is not None and comparison.relative_high is not None:
            text["relative_low"] = _signed(f"{comparison.relative_low * 100:+.0f} %")
            text["relative_high"] = _signed(f"{comparison.relative_high * 100:+.0f} %")
    return text


def comparison_sentence(comparison: Comparison) -> str:
    """One sentence a marketer reads: which is higher, by how much, and whether it could be
    chance; or that there is not enough data yet."""
    names = {
        "a": comparison.label_a,
        "b": comparison.label_b,
        "metric": metric_label(comparison.metric),
        "min": MIN_MEMBERS,
    }
    if not comparison.enough:
        if comparison.is_rate:
            return (
                gettext(
                    "Not enough data yet to compare the %(metric)s of %(b)s and %(a)s: it needs "
                    "%(min)s members in each and a few events in both."
                )
                % names
            )
        return (
            gettext(
                "Not enough data yet to compare the %(metric)s of %(b)s and %(a)s: it needs "
                "%(min)s members in each and some revenue."
            )
            % names
        )
    words = {**names, **comparison_numbers(comparison)}
    if comparison.diff > 0:
        head = gettext("%(b)s’s %(metric)s is higher than %(a)s’s") % words
    elif comparison.diff < 0:
        head = gettext("%(b)s’s %(metric)s is lower than %(a)s’s") % words
    else:
        head = gettext("%(b)s’s %(metric)s is the same as %(a)s’s") % words
    body = (
        gettext("%(value_b)s vs %(value_a)s, difference %(diff)s (95 %% CI %(low)s to %(high)s)")
        % words
    )
    if comparison.significant:
        if comparison.comparisons > 1:
            verdict = gettext("significant at 95 %% (Holm-corrected for %(n)s comparisons)") % {
                "n": comparison.comparisons
            }
        else:
            verdict = gettext("significant at 95 %")
    else:
        verdict = gettext("not significant — the difference could be chance")
    return gettext("%(head)s: %(body)s, %(verdict)s.") % {
        "head": head,
        "body": body,
        "verdict": verdict,
    }
