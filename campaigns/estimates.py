"""What the builder and the confirm step show about cost and quota: SMS segments and NT$, the
LINE monthly quota left.

The pages' shapes of campaigns.sms (segments, NT$) and campaigns.services.line_quota (None
when LINE did not answer or the sandbox sends, which the pages show as "unknown").
"""

from dataclasses import dataclass

from campaigns.content.sms import sms_as_sent
from campaigns.services.line_quota import line_quota_check, line_quota_get
from campaigns.sms import sms_cost_estimate, sms_counter


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
    """Segments of `text` as it is sent (each link as its tracked URL) and, for `recipients`,
    the cost in NT$."""
    count = sms_counter(sms_as_sent(text))
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
    """This month's LINE quota and whether `needed` messages fit; None when unknown (the
    sandbox sends, or LINE did not answer)."""
    quota = line_quota_get()
    if quota is None:
        return None
    problem = line_quota_check(needed=needed) if needed else None
    return LineQuotaLeft(
        limit=quota.limit, used=quota.used, remaining=quota.remaining, problem=problem
    )
