"""LINE Insight: how many members LINE delivered a campaign's messages to, opened and clicked.

LINE tells nobody which member opened a message; it reports opens and clicks per request id in
aggregate (GET /v2/bot/insight/message/event?requestId=…), some time after the send, and
withholds a figure about fewer than 20 users. Our LINE deliveries keep the request id of their
multicast or push as `Delivery.provider_id`.

- `line_insights_collect` (beat, hourly) writes a LineInsight row per request id of the last
  14 days once its deliveries are LINE_INSIGHT_DELAY_HOURS old, one GROUP BY over the LINE
  deliveries of the campaigns still in the window; then asks LINE about the rows due: never
  asked, or asked before the figures settled (3 days after the send: asked once more).
  Requests of fewer than 20 recipients are not asked about: LINE withholds their opens and
  clicks anyway, and a personalised campaign sends one push per member (a call each).
- `line_insight_refresh` is the marketer's "refresh" for one campaign: asks now about every
  request not asked in the last few minutes.
- Each call passes the shared rate limit ("insight" in CAMPAIGN_RATE_LIMITS); a 429 ends the
  run (the rest are asked next time). The rows say what was asked: running twice asks nothing
  new.
- The sums per variant go to CampaignFigures.delivered of the campaign's LINE rows.

The backend answers (campaigns.backends.base.InsightBackend): the real LINE asks the Insight
API; the sandbox answers for its own request ids, so the demo has figures and no network.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Min, Q, QuerySet
from django.utils import timezone

from campaigns.backends import backend_for
from campaigns.backends.base import (
    INSIGHT_ERROR,
    INSIGHT_RATE_LIMITED,
    InsightBackend,
    MessageInsight,
)
from campaigns.models import Campaign, CampaignFigures, Delivery, LineInsight
from campaigns.throttle import provider_call_acquire

logger = logging.getLogger(__name__)

MAX_AGE = timedelta(days=14)  # LINE keeps a request's statistics for 14 days
SETTLED_AFTER = timedelta(days=3)  # asked once more then: the figures no longer move
MIN_RECIPIENTS = 20  # LINE withholds opens and clicks about fewer users
REFRESH_INTERVAL = timedelta(minutes=10)  # a marketer's refresh asks again after this
RATE_CHANNEL = "insight"


@dataclass(frozen=True)
class InsightRun:
    asked: int = 0
    answered: int = 0
    failed: int = 0
    rate_limited: bool = False


def _campaigns_in_window(now: datetime) -> QuerySet[Campaign]:
    since = now - MAX_AGE
    return Campaign.objects.filter(launched_at__isnull=False, launched_at__lte=now).filter(
        Q(finished_at__isnull=True) | Q(finished_at__gte=since)
    )


def line_insight_rows_make(
    *, now: datetime, sent_before: datetime, campaign_id: int | None = None
) -> int:
    """Write the LineInsight rows of LINE requests sent between 14 days ago and `sent_before`
    that have none yet; returns how many. One GROUP BY, one INSERT."""
    campaigns = _campaigns_in_window(now)
    if campaign_id is not None:
        campaigns = campaigns.filter(pk=campaign_id)
    requests = (
        Delivery.objects.filter(
            campaign_id__in=campaigns.values("pk"),
            status=Delivery.Status.SENT,
            channel="line",
            sent_at__gte=now - MAX_AGE,
            sent_at__lte=sent_before,
        )
        .exclude(provider_id="")
        .exclude(provider_id__in=LineInsight.objects.values("request_id"))
        .values("provider_id")
        .annotate(campaign=Min("campaign_id"), first_sent=Min("sent_at"), recipients=Count("pk"))
        .filter(recipients__gte=MIN_RECIPIENTS)
    )
    rows = [
        LineInsight(
            campaign_id=row["campaign"],
            request_id=row["provider_id"],
            sent_at=row["first_sent"],
            recipients=row["recipients"],
        )
        for row in requests
    ]
    LineInsight.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    return len(rows)


def _due(now: datetime) -> Q:
    delay = timedelta(hours=settings.LINE_INSIGHT_DELAY_HOURS)
    never_asked = Q(fetched_at__isnull=True, sent_at__lte=now - delay)
    before_settled = Q(
        fetched_at__lt=F("sent_at") + SETTLED_AFTER, sent_at__lte=now - SETTLED_AFTER
    )
    return Q(sent_at__gte=now - MAX_AGE) & (never_asked | before_settled)


def line_insights_due(*, now: datetime, limit: int) -> list[int]:
    """The ids of the LineInsight rows to ask LINE about now, oldest send first."""
    return list(
        LineInsight.objects.filter(_due(now))
        .order_by("sent_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def _apply(row: LineInsight, answer: MessageInsight, now: datetime) -> None:
    row.fetched_at = now
    row.error = answer.error[:500]
    if answer.ok:
        row.delivered = answer.delivered
        row.unique_impression = answer.unique_impression
        row.unique_click = answer.unique_click
        row.unique_media_played = answer.unique_media_played
        row.raw = answer.raw


def line_insights_fetch(*, insight_ids: Iterable[int], now: datetime | None = None) -> InsightRun:
    """Ask LINE about the given rows, one call each under the shared rate limit; a 429 stops
    the run. A row answered (or refused as unknown) is stamped fetched; a network error or 5xx
    leaves it to the next run."""
    now = now or timezone.now()
    rows = list(LineInsight.objects.filter(pk__in=list(insight_ids)).order_by("sent_at", "pk"))
    if not rows:
        return InsightRun()
    backend = backend_for("line")
    if not isinstance(backend, InsightBackend):
        backend.close()
        return InsightRun()
    done: list[LineInsight] = []
    asked = failed = 0
    rate_limited = False
    with backend:
        for row in rows:
            provider_call_acquire(channel=RATE_CHANNEL)
            answer = backend.message_insight(row.request_id)
            asked += 1
            if answer.status == INSIGHT_RATE_LIMITED:
                logger.warning("LINE insight: rate limited after %d calls; the rest wait", asked)
                rate_limited = True
                break
            if answer.status == INSIGHT_ERROR:
                failed += 1
                logger.warning("LINE insight %s: %s", row.request_id, answer.error)
                continue
            _apply(row, answer, now)
            done.append(row)
    fields = ["fetched_at", "error", "delivered", "unique_impression", "unique_click"]
    fields += ["unique_media_played", "raw"]
    with transaction.atomic():
        LineInsight.objects.bulk_update(done, fields, batch_size=500)
        line_insight_figures_write(campaign_ids={row.campaign_id for row in done})
    answered = sum(1 for row in done if not row.error)
    return InsightRun(asked=asked, answered=answered, failed=failed, rate_limited=rate_limited)


def line_insights_collect(*, now: datetime | None = None) -> InsightRun:
    """The beat job: rows for the requests old enough, then LINE asked about those due."""
    now = now or timezone.now()
    line_insight_rows_make(
        now=now, sent_before=now - timedelta(hours=settings.LINE_INSIGHT_DELAY_HOURS)
    )
    due = line_insights_due(now=now, limit=settings.LINE_INSIGHT_MAX_PER_RUN)
    return line_insights_fetch(insight_ids=due, now=now)


def line_insight_refresh(*, campaign_id: int, now: datetime | None = None) -> InsightRun:
    """A marketer's refresh of one campaign: every request of it sent in the last 14 days and
    not asked about in the last REFRESH_INTERVAL is asked now."""
    now = now or timezone.now()
    line_insight_rows_make(now=now, sent_before=now, campaign_id=campaign_id)
    ids = list(
        LineInsight.objects.filter(campaign_id=campaign_id, sent_at__gte=now - MAX_AGE)
        .filter(Q(fetched_at__isnull=True) | Q(fetched_at__lt=now - REFRESH_INTERVAL))
        .order_by("sent_at", "pk")
        .values_list("pk", flat=True)[: settings.LINE_INSIGHT_MAX_PER_RUN]
    )
    return line_insights_fetch(insight_ids=ids, now=now)


def line_insight_refresh_request(*, campaign_id: int) -> None:
    """Queue a refresh of one campaign's LINE figures (after the caller's transaction)."""
    from campaigns.tasks import line_insight_refresh_task

    transaction.on_commit(lambda: line_insight_refresh_task.delay(campaign_id))


def line_insight_delivered_by_variant(*, campaign_ids: Iterable[int]) -> dict[tuple[int, str], int]:
    """LINE's delivered count per (campaign, variant): the sum over the campaign's request ids.
    A request's deliveries share one variant (a multicast carries one content); should one
    ever carry several (two variants with the same LINE content batched together) its count is
    split by their recipients. Two queries, whatever the number of campaigns."""
    campaign_ids = sorted(set(campaign_ids))
    delivered = dict(
        LineInsight.objects.filter(
            campaign_id__in=campaign_ids, delivered__isnull=False
        ).values_list("request_id", "delivered")
    )
    if not delivered:
        return {}
    per_request: dict[str, dict[tuple[int, str], int]] = defaultdict(dict)
    rows = (
        Delivery.objects.filter(
            campaign_id__in=campaign_ids, status=Delivery.Status.SENT, channel="line"
        )
        .exclude(provider_id="")
        .values_list("provider_id", "campaign_id", "variant")
        .annotate(n=Count("pk"))
    )
    for request_id, campaign_id, variant, n in rows:
        if request_id in delivered:
            per_request[request_id][(campaign_id, variant)] = n
    totals: dict[tuple[int, str], int] = defaultdict(int)
    for request_id, arms in per_request.items():
        recipients = sum(arms.values())
        for arm, n in arms.items():
            totals[arm] += round(delivered[request_id] * n / recipients)
    return dict(totals)


def line_insight_figures_write(*, campaign_ids: Iterable[int]) -> None:
    """CampaignFigures.delivered of the campaigns' LINE rows (arm sent, per variant) from LINE's
    own delivered counts (the outbox cannot know: LINE sends no delivery receipts)."""
    totals = line_insight_delivered_by_variant(campaign_ids=campaign_ids)
    if not totals:
        return
    key = ("campaign_id", "variant")
    CampaignFigures.objects.bulk_create(
        [
            CampaignFigures(
                campaign_id=campaign_id,
                arm=CampaignFigures.Arm.SENT,
                variant=variant,
                channel="line",
            )
            for campaign_id, variant in totals
        ],
        ignore_conflicts=True,
    )
    rows = list(
        CampaignFigures.objects.filter(
            campaign_id__in={campaign_id for campaign_id, _ in totals},
            arm=CampaignFigures.Arm.SENT,
            channel="line",
        )
    )
    for row in rows:
        row.delivered = totals.get(tuple(getattr(row, name) for name in key), row.delivered)
    CampaignFigures.objects.bulk_update(rows, ["delivered"])
