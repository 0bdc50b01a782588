"""The global control group: who is in it, as one rule in three spellings (STYLE.md 23).

A member is in the control group when their bucket is below CAMPAIGN_GLOBAL_CONTROL_PERCENT
× 100. The bucket (0..9999) is fixed by the member's id and CAMPAIGN_CONTROL_GROUP_SALT:
`int(md5("<salt>:<member id>")[:8], 16) × 10000 // 2³²`, so a member stays in (or out of) the
group from one campaign and one night to the next, and a new salt draws a new group.

Because the bucket is a monotone function of the md5's first 8 hex digits, "bucket < B" is the
same as "those 8 digits, as lowercase text, sort before a threshold": a string comparison
that PostgreSQL and SQLite (Django registers MD5 there) both run, so a queryset and raw SQL
ask exactly what `control_group_bucket` answers in Python.
"""

import hashlib
import math
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import CharField, Q, Value
from django.db.models.functions import MD5, Cast, Concat, Substr
from django.db.models.lookups import LessThan

BUCKETS = 10_000
_HEX_DIGITS = 8
_SPAN = 16**_HEX_DIGITS


def control_group_percent() -> int:
    """The share of members held out of every marketing campaign (0 = no control group)."""
    return max(0, min(50, int(settings.CAMPAIGN_GLOBAL_CONTROL_PERCENT or 0)))


def control_group_bucket(member_id: int) -> int:
    """The member's bucket, 0..9999."""
    digest = hashlib.md5(  # noqa: S324 (a stable draw, not security)
        f"{settings.CAMPAIGN_CONTROL_GROUP_SALT}:{member_id}".encode()
    ).hexdigest()
    return int(digest[:_HEX_DIGITS], 16) * BUCKETS // _SPAN


def _threshold_hex(percent: int) -> str:
    """The lowest 8-hex-digit prefix whose bucket is `percent` × 100 or more."""
    buckets = percent * BUCKETS // 100
    # Smallest value v with v × BUCKETS // SPAN >= buckets, i.e. ceil(buckets × SPAN / BUCKETS).
    lowest = -(-buckets * _SPAN // BUCKETS)
    return format(lowest, f"0{_HEX_DIGITS}x")  # percent ≤ 50: always 8 digits


def control_group_threshold(percent: int | None = None) -> str | None:
    """The 8 hex digits a member's md5 prefix must sort below to be in the group (the launch's
    raw SQL compares with it); None when there is no control group."""
    percent = control_group_percent() if percent is None else percent
    return _threshold_hex(percent) if percent > 0 else None


def in_control_group(member_id: int, *, percent: int | None = None) -> bool:
    percent = control_group_percent() if percent is None else percent
    return control_group_bucket(member_id) < percent * BUCKETS // 100


def control_group_q(field: str = "pk", *, percent: int | None = None) -> Q:
    """Members (or rows whose `field` is a member id) in the control group; matches nobody when
    the share is 0."""
    percent = control_group_percent() if percent is None else percent
    if percent <= 0:
        return Q(pk__in=[])
    prefix = Substr(
        MD5(
            Concat(
                Value(f"{settings.CAMPAIGN_CONTROL_GROUP_SALT}:"),
                Cast(field, output_field=CharField()),
                output_field=CharField(),
            )
        ),
        1,
        _HEX_DIGITS,
    )
    return Q(LessThan(prefix, Value(_threshold_hex(percent))))


def in_control_group_sql(column: str, *, percent: int | None = None) -> tuple[str, list]:
    """A SQL condition (and its parameters) true for rows whose `column` (a member id, a
    trusted column name such as "m.id") is in the control group; "1 = 0" when the share is 0.
    For the raw INSERT … SELECT of a launch and the nightly figures."""
    percent = control_group_percent() if percent is None else percent
    if percent <= 0:
        return "1 = 0", []
    # Hex compared as bytes: a PostgreSQL locale collation need not order digits and letters
    # as Python does.
    collate = ' COLLATE "C"' if connection.vendor == "postgresql" else ""
    return (
        f"SUBSTR(MD5(%s || CAST({column} AS TEXT)), 1, {_HEX_DIGITS}){collate} < %s{collate}",
        [f"{settings.CAMPAIGN_CONTROL_GROUP_SALT}:", _threshold_hex(percent)],
    )


# --- The programme's lift: revenue per member, the rest against the control group -----------

CONFIDENCE = 0.95


@dataclass(frozen=True)
class GroupFigures:
    members: int
    buyers: int
    revenue_twd: int
    revenue_sumsq: int  # Σ over members of (member's revenue)²

    @property
    def revenue_per_member(self) -> float:
        return self.revenue_twd / self.members if self.members else 0.0

    @property
    def buyer_rate(self) -> float:
        return self.buyers / self.members if self.members else 0.0

    @property
    def variance(self) -> float:
        """The sample variance of revenue per member (n − 1), from the kept sums."""
        if self.members < 2:
            return 0.0
        n = self.members
        mean = self.revenue_twd / n
        return max(0.0, (self.revenue_sumsq - n * mean * mean) / (n - 1))


@dataclass(frozen=True)
class Lift:
    """Revenue per member of everyone else minus the control group's, with Welch's test."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    relative: float | None  # difference / the control group's revenue per member

    @property
    def significant(self) -> bool:
        return self.p_value < 1 - CONFIDENCE


def _three_point_sample(group: GroupFigures):
    # Welch's test and its interval depend on a group's count, mean and variance only: a
    # frequency-weighted sample of three values with exactly those gives statsmodels the
    # group without a row per member.
    import numpy as np
    from statsmodels.stats.weightstats import DescrStatsW

    mean = group.revenue_per_member
    spread = math.sqrt(group.variance * (group.members - 1) / 2)
    return DescrStatsW(
        np.array([mean - spread, mean, mean + spread]),
        weights=np.array([1.0, group.members - 2.0, 1.0]),
    )


def revenue_lift(*, control: GroupFigures, rest: GroupFigures) -> Lift | None:
    """Welch's t-test (scipy) and the 95 % interval of the difference (statsmodels) of revenue
    per member; None when a group has fewer than two members or no spread at all."""
    if control.members < 2 or rest.members < 2:
        return None
    if control.variance == 0 and rest.variance == 0:
        return None
    # Imported here: the launch reads this module's rule and should not load scipy for it.
    from scipy import stats
    from statsmodels.stats.weightstats import CompareMeans

    test = stats.ttest_ind_from_stats(
        rest.revenue_per_member,
        math.sqrt(rest.variance),
        rest.members,
        control.revenue_per_member,
        math.sqrt(control.variance),
        control.members,
        equal_var=False,
    )
    low, high = CompareMeans(_three_point_sample(rest), _three_point_sample(control)).tconfint_diff(
        alpha=1 - CONFIDENCE, usevar="unequal"
    )
    difference = rest.revenue_per_member - control.revenue_per_member
    return Lift(
        difference=difference,
        ci_low=float(low),
        ci_high=float(high),
        p_value=float(test.pvalue),
        relative=difference / control.revenue_per_member if control.revenue_per_member else None,
    )
