"""What the builder and the confirm step show about cost and quota: SMS segments and NT$, the
LINE monthly quota left.

The SMS counter (campaigns.sms) and the LINE quota (campaigns.services.line_quota) come with
the SMS and LINE branches; until the SMS/LINE branches land, each is imported under a guard and
a missing one answers None, which the pages show as "unknown".
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class SmsEstimate:
    encoding: str  # "GSM-7" / "UCS-2"
    characters: int
    segments: int
    per_segment: int
    remaining: int
    cost_twd: int | None  # for the recipients given; None when not asked


@dataclass(frozen=True)
class LineQuotaLeft:
    limit: int | None  # None: no monthly limit (a paid plan without cap)
    used: int
    remaining: int | None
    problem: str | None  # why `needed` messages would not fit, in the user's language


def sms_estimate(*, text: str, recipients: int | None = None) -> SmsEstimate | None:
    """Segments of `text` and, for `recipients`, the cost in NT$; None when unknown."""
    try:  # until the SMS/LINE branches land
        from campaigns.sms import sms_cost_estimate, sms_counter
    except ImportError:
        return None
    count = sms_counter(text)
    cost = None
    if recipients is not None:
        cost = sms_cost_estimate(segments=count.segments, recipients=recipients)
    return SmsEstimate(
        encoding=str(count.encoding),
        characters=count.characters,
        segments=count.segments,
        per_segment=count.per_segment,
        remaining=count.remaining,
        cost_twd=cost,
    )


def line_quota_left(*, needed: int = 0) -> LineQuotaLeft | None:
    """This month's LINE quota and whether `needed` messages fit; None when unknown (no LINE
    branch yet, or LINE did not answer)."""
    try:  # until the SMS/LINE branches land
        from campaigns.services.line_quota import line_quota_check, line_quota_get
    except ImportError:
        return None
    quota = line_quota_get()
    if quota is None:
        return None
    problem = line_quota_check(needed=needed) if needed else None
    return LineQuotaLeft(
        limit=quota.limit, used=quota.used, remaining=quota.remaining, problem=problem
    )
