"""LINE Insight: how many members opened and clicked a campaign's LINE messages, per variant.

LINE tells nobody which member opened a message; for multicasts and pushes (all we send) it
reports opens and clicks in aggregate per *custom aggregation unit*, a name the send request
carries: every LINE message of a campaign's variant carries the unit "c<campaign>_<variant>"
(campaigns.backends.base.line_aggregation_unit, set by the sending pipeline). LINE answers
GET /v2/bot/insight/message/event/aggregation?customAggregationUnit=&from=&to= (days in
UTC+9) some time after the send, and withholds a figure about fewer than 20 users. (The
per-request-id endpoint, /v2/bot/insight/message/event?requestId=, covers narrowcasts and
broadcasts only: we send none, so it is not asked.)

- `line_insights_collect` (beat, hourly) writes a LineInsight row per (campaign, unit) whose
  first send lies in the last 14 days and is LINE_INSIGHT_DELAY_HOURS old, one GROUP BY over
  the LINE deliveries of the campaigns still in the window; then asks LINE about the rows due:
  never asked, or asked before the figures settled (3 days after the send: asked once more).
  A small unit is asked too (one call per variant, not per request): LINE withholds its opens
  and clicks under 20 users, and its delivered count is ours anyway.
- `line_insight_refresh` is the marketer's "refresh" for one campaign: asks now about every
  unit not asked in the last few minutes.
- Each call passes the shared rate limit ("insight" in CAMPAIGN_RATE_LIMITS); a 429 ends the
  run (the rest are asked next time). The rows say what was asked: running twice asks nothing
  new.
- LINE's per-unit answer has no delivered count: a row's `delivered` is what LINE accepted
  under the unit (the variant's sent LINE deliveries when asked); the sums per variant go to
  CampaignFigures.delivered of the campaign's LINE rows.

The backend answers (campaigns.backends.base.InsightBackend): the real LINE asks the Insight
API; the sandbox answers for its own units, so the demo has figures and no network.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

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
    line_aggregation_unit,
)
from campaigns.models import Campaign, CampaignFigures, Delivery, LineInsight
from campaigns.throttle import provider_call_acquire

logger = logging.getLogger(__name__)

MAX_AGE = timedelta(days=14)  # not asked about after this (a campaign's figures have long settled)
SETTLED_AFTER = timedelta(days=3)  # asked once more then: the figures no longer move
REFRESH_INTERVAL = timedelta(minutes=10)  # a marketer's refresh asks again after this
RATE_CHANNEL = "insight"
LINE_TZ = ZoneInfo("Asia/Tokyo")  # LINE's `from` and `to` are days in UTC+9
MAX_SPAN_DAYS = 30  # LINE answers at most 30 days after `from`


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
    """Write the LineInsight rows of the aggregation units (campaign, variant) whose first LINE
    send lies between 14 days ago and `sent_before` and that have none yet; returns how many.
    One GROUP BY, one INSERT."""
    campaigns = _campaigns_in_window(now)
    if campaign_id is not None:
        campaigns = campaigns.filter(pk=campaign_id)
    units = (
        Delivery.objects.filter(
            campaign_id__in=campaigns.values("pk"),
            status=Delivery.Status.SENT,
            channel="line",
            sent_at__gte=now - MAX_AGE,
        )
        .values("campaign_id", "variant")
        .annotate(first_sent=Min("sent_at"), recipients=Count("pk"))
        .filter(first_sent__lte=sent_before)
    )
    known = set(
        LineInsight.objects.filter(campaign_id__in=campaigns.values("pk"))
        .exclude(unit="")
        .values_list("campaign_id", "unit")
    )
    rows = []
    for row in units:
        unit = line_aggregation_unit(campaign_id=row["campaign_id"], variant=row["variant"])
        if (row["campaign_id"], unit) in known:
            continue
        rows.append(
            LineInsight(
                campaign_id=row["campaign_id"],
                unit=unit,
                variant=row["variant"],
                sent_at=row["first_sent"],
                recipients=row["recipients"],
            )
        )
    LineInsight.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    return len(rows)


def line_insight_dates(*, sent_at: datetime, now: datetime) -> tuple[date, date]:
    """The days LINE is asked about (UTC+9, the time zone of LINE's `from` and `to`): from the
    unit's first send to today, at most the 30 days LINE allows."""
    date_from = sent_at.astimezone(LINE_TZ).date()
    date_to = max(date_from, now.astimezone(LINE_TZ).date())
    return date_from, min(date_to, date_from + timedelta(days=MAX_SPAN_DAYS))


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
        .exclude(unit="")
        .order_by("sent_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def _recipients(rows: list[LineInsight]) -> dict[tuple[int, str], int]:
    """The LINE deliveries sent so far per (campaign, variant) of the rows: one GROUP BY."""
    counts = (
        Delivery.objects.filter(
            campaign_id__in={row.campaign_id for row in rows},
            status=Delivery.Status.SENT,
            channel="line",
        )
        .values_list("campaign_id", "variant")
        .annotate(n=Count("pk"))
    )
    return {(campaign_id, variant): n for campaign_id, variant, n in counts}


def _apply(row: LineInsight, answer: MessageInsight, now: datetime) -> None:
    row.fetched_at = now
    row.error = answer.error[:500]
    if answer.ok:
        row.delivered = row.recipients
        row.unique_impression = answer.unique_impression
        row.unique_click = answer.unique_click
        row.unique_media_played = answer.unique_media_played
        row.raw = answer.raw


def line_insights_fetch(*, insight_ids: Iterable[int], now: datetime | None = None) -> InsightRun:
    """Ask LINE about the given rows, one call each under the shared rate limit; a 429 stops
    the run. A row answered (or refused as unknown) is stamped fetched; a network error or 5xx
    leaves it to the next run."""
    now = now or timezone.now()
    rows = list(
        LineInsight.objects.filter(pk__in=list(insight_ids))
        .exclude(unit="")
        .order_by("sent_at", "pk")
    )
    if not rows:
        return InsightRun()
    backend = backend_for("line")
    if not isinstance(backend, InsightBackend):
        backend.close()
        return InsightRun()
    sent = _recipients(rows)
    done: list[LineInsight] = []
    asked = failed = 0
    rate_limited = False
    with backend:
        for row in rows:
            # A campaign sent over hours (throttled, quiet hours) has more behind its unit now.
            row.recipients = sent.get((row.campaign_id, row.variant), row.recipients)
            date_from, date_to = line_insight_dates(sent_at=row.sent_at, now=now)
            provider_call_acquire(channel=RATE_CHANNEL)
            answer = backend.unit_insight(
                row.unit, date_from=date_from, date_to=date_to, recipients=row.recipients
            )
            asked += 1
            if answer.status == INSIGHT_RATE_LIMITED:
                logger.warning("LINE insight: rate limited after %d calls; the rest wait", asked)
                rate_limited = True
                break
            if answer.status == INSIGHT_ERROR:
                failed += 1
                logger.warning("LINE insight %s: %s", row.unit, answer.error)
                continue
            _apply(row, answer, now)
            done.append(row)
    fields = ["fetched_at", "error", "recipients", "delivered", "unique_impression"]
    fields += ["unique_click", "unique_media_played", "raw"]
    with transaction.atomic():
        LineInsight.objects.bulk_update(done, fields, batch_size=500)
        line_insight_figures_write(campaign_ids={row.campaign_id for row in done})
    answered = sum(1 for row in done if not row.error)
    return InsightRun(asked=asked, answered=answered, failed=failed, rate_limited=rate_limited)


def line_insights_collect(*, now: datetime | None = None) -> InsightRun:
    """The beat job: rows for the units old enough, then LINE asked about those due."""
    now = now or timezone.now()
    line_insight_rows_make(
        now=now, sent_before=now - timedelta(hours=settings.LINE_INSIGHT_DELAY_HOURS)
    )
    due = line_insights_due(now=now, limit=settings.LINE_INSIGHT_MAX_PER_RUN)
    return line_insights_fetch(insight_ids=due, now=now)


def line_insight_refresh(*, campaign_id: int, now: datetime | None = None) -> InsightRun:
    """A marketer's refresh of one campaign: every unit of it first sent in the last 14 days and
    not asked about in the last REFRESH_INTERVAL is asked now."""
    now = now or timezone.now()
    line_insight_rows_make(now=now, sent_before=now, campaign_id=campaign_id)
    ids = list(
        LineInsight.objects.filter(campaign_id=campaign_id, sent_at__gte=now - MAX_AGE)
        .exclude(unit="")
        .filter(Q(fetched_at__isnull=True) | Q(fetched_at__lt=now - REFRESH_INTERVAL))
        .order_by("sent_at", "pk")
        .values_list("pk", flat=True)[: settings.LINE_INSIGHT_MAX_PER_RUN]
    )
    return line_insights_fetch(insight_ids=ids, now=now)


def line_insight_refresh_request(*, campaign_id: int) -> None:
    """Queue a refresh of one campaign's LINE figures (after the caller's transaction)."""
    from campaigns.tasks import line_insight_refresh_task

    transaction.on_commit(lambda: line_insight_refresh_task.delay(campaign_id))


def line_insight_by_variant(
    *, campaign_ids: Iterable[int]
) -> dict[tuple[int, str], tuple[int, int | None]]:
    """(delivered, opened) per (campaign, variant) of the units LINE has answered about: one
    query, whatever the number of campaigns. A unit is one variant, so nothing is split;
    opened is None while LINE withholds it (fewer than 20 people)."""
    rows = (
        LineInsight.objects.filter(campaign_id__in=set(campaign_ids), delivered__isnull=False)
        .exclude(unit="")
        .values_list("campaign_id", "variant", "delivered", "unique_impression")
    )
    return {
        (campaign_id, variant): (delivered, opened)
        for campaign_id, variant, delivered, opened in rows
    }


def line_insight_figures_write(*, campaign_ids: Iterable[int]) -> None:
    """CampaignFigures.delivered and .opened of the campaigns' LINE rows (arm sent, per variant)
    from the units' figures: the outbox cannot know either (LINE sends no delivery receipts, and
    tells opens only in aggregate), so LINE's rows in the report are these, and nothing else
    writes them."""
    totals = line_insight_by_variant(campaign_ids=campaign_ids)
    if not totals:
        return
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
    now = timezone.now()
    for row in rows:
        delivered, opened = totals.get((row.campaign_id, row.variant), (row.delivered, None))
        row.delivered = delivered
        if opened is not None:
            row.opened = opened
        row.updated_at = now  # bulk_update leaves auto_now alone; the KPIs read it
    CampaignFigures.objects.bulk_update(rows, ["delivered", "opened", "updated_at"])
