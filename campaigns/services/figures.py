"""The sending columns of a campaign's kept figures, recounted set-wise from the outbox.

`campaign_figures_recount` reads the campaign's deliveries in ONE GROUP BY (arm, variant,
channel, status, reason) and writes one CampaignFigures row per arm, variant and channel with an
upsert: members, sent, failed and the suppressed counts by reason. Opens, clicks, deliveries
confirmed by the provider, conversions and revenue are other writers' columns and stay as they
are. A recount is idempotent (the same outbox gives the same rows), so it runs whenever it may
be useful: when a campaign's sending ends (on commit, a task), and every minute for campaigns
still sending, only when a batch finished since the last recount (`campaign_figures_recount_due`).
"""

from collections import defaultdict
from datetime import timedelta

from django.core.cache import cache
from django.db import transaction
from django.db.models import Case, CharField, Count, F, Max, Min, Q, Sum, Value, When
from django.utils import timezone

from campaigns.models import (
    Campaign,
    CampaignFigures,
    CampaignFiguresDaily,
    Conversion,
    Delivery,
    SendBatch,
)
from crm.models import SalesChannel

SENDING_COLUMNS = ("members", "sent", "failed", "suppressed")
# Campaigns that ended this recently are still looked at by the minute job: a batch that was
# mid-call when the campaign was cancelled finishes afterwards.
RECENTLY_ENDED = timedelta(hours=6)
RECOUNT_SEEN_KEY = "campaigns:figures-recount:{campaign_id}"


def _arm_expression() -> Case:
    return Case(
        When(status=Delivery.Status.HELD_OUT, then=F("reason")),
        default=Value(CampaignFigures.Arm.SENT.value),
        output_field=CharField(),
    )


def campaign_figures_recount(*, campaign_id: int) -> int:
    """Recount the sending columns of the campaign's figures from its deliveries; returns the
    figure rows written. Held-out arms go under variant "" and channel ""."""
    held_out = Q(status=Delivery.Status.HELD_OUT)
    groups = (
        Delivery.objects.filter(campaign_id=campaign_id)
        .annotate(
            arm=_arm_expression(),
            arm_variant=Case(When(held_out, then=Value("")), default=F("variant")),
            arm_channel=Case(When(held_out, then=Value("")), default=F("channel")),
        )
        .values_list("arm", "arm_variant", "arm_channel", "status", "reason")
        .annotate(n=Count("pk"))
        .order_by()
    )
    rows: dict[tuple[str, str, str], dict] = defaultdict(
        lambda: {"members": 0, "sent": 0, "failed": 0, "suppressed": {}}
    )
    for arm, variant, channel, status, reason, n in groups:
        row = rows[(arm, variant or "", channel or "")]
        row["members"] += n
        if status == Delivery.Status.SENT:
            row["sent"] += n
        elif status == Delivery.Status.FAILED:
            row["failed"] += n
        elif status == Delivery.Status.SUPPRESSED:
            row["suppressed"][reason] = row["suppressed"].get(reason, 0) + n
    now = timezone.now()
    CampaignFigures.objects.bulk_create(
        [
            CampaignFigures(
                campaign_id=campaign_id,
                arm=arm,
                variant=variant,
                channel=channel,
                updated_at=now,
                **counts,
            )
            for (arm, variant, channel), counts in rows.items()
        ],
        update_conflicts=True,
        unique_fields=["campaign", "arm", "variant", "channel"],
        update_fields=[*SENDING_COLUMNS, "updated_at"],
    )
    # A row no delivery stands behind any more (say a variant that sent nobody) counts none.
    stale = CampaignFigures.objects.filter(campaign_id=campaign_id).exclude(members=0)
    for arm, variant, channel in rows:
        stale = stale.exclude(arm=arm, variant=variant, channel=channel)
    stale.update(members=0, sent=0, failed=0, suppressed={}, updated_at=now)
    return len(rows)


def campaign_figures_recount_later(*, campaign_id: int) -> None:
    """The campaign's sending ended: recount its figures (a task) once this commits."""
    from campaigns.tasks import campaign_figures_recount_task

    transaction.on_commit(lambda: campaign_figures_recount_task.delay(campaign_id))


def campaign_figures_recount_due() -> list[int]:
    """The minute job: recount the campaigns sending now (or ended lately) whose batches moved
    since their last recount; returns their ids. What "moved" means is the batches' count and
    latest end, remembered in the cache: a lost cache costs one recount too many."""
    since = timezone.now() - RECENTLY_ENDED
    campaigns = Campaign.objects.filter(
        Q(status__in=[*Campaign.ACTIVE, Campaign.Status.PAUSED]) | Q(finished_at__gte=since)
    )
    marks = (
        SendBatch.objects.filter(campaign__in=campaigns)
        .values_list("campaign_id")
        .annotate(n=Count("pk"), last=Max("finished_at"))
        .order_by()
    )
    due = []
    for campaign_id, n, last in marks:
        mark = f"{n}:{last.isoformat() if last else ''}"
        key = RECOUNT_SEEN_KEY.format(campaign_id=campaign_id)
        if cache.get(key) != mark:
            campaign_figures_recount(campaign_id=campaign_id)
            cache.set(key, mark, timeout=int(RECENTLY_ENDED.total_seconds()) * 2)
            due.append(campaign_id)
    return due


CONVERSION_COLUMNS = (
    "converted",
    "orders",
    "revenue_online_twd",
    "revenue_store_twd",
    "revenue_sumsq",
    "revenue_store_sumsq",
)


@transaction.atomic
def campaign_figures_rebuild(*, campaign_id: int) -> dict[str, int]:
    """Recompute every kept figure of a campaign from the raw rows: the sending counts from the
    outbox, each delivery's revenue and first conversion from its Conversion rows, the arms'
    conversion figures from those, and the daily rows from the Conversion rows. The repair
    when a figure is in doubt, and the tests' oracle of the figures kept as things happen."""
    from campaigns.services.conversions import deliveries_revenue_write

    campaign_figures_recount(campaign_id=campaign_id)
    conversions = Conversion.objects.filter(campaign_id=campaign_id)
    per_delivery = (
        conversions.values(
            "delivery_id",
            "delivery__status",
            "delivery__reason",
            "delivery__variant",
            "delivery__channel",
        )
        .annotate(
            total=Sum("amount_twd"),
            store=Sum("amount_twd", filter=Q(sales_channel=SalesChannel.STORE)),
            n=Count("pk"),
            first=Min("placed_at"),
        )
        .order_by()
    )
    figures: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(CONVERSION_COLUMNS))
    revenue: dict[int, int] = {}
    converted_at = {}
    for row in per_delivery.iterator(chunk_size=20_000):
        held_out = row["delivery__status"] == Delivery.Status.HELD_OUT
        key = (
            row["delivery__reason"] if held_out else CampaignFigures.Arm.SENT.value,
            "" if held_out else row["delivery__variant"],
            "" if held_out else row["delivery__channel"],
        )
        total, store = row["total"] or 0, row["store"] or 0
        for i, value in enumerate((1, row["n"], total - store, store, total**2, store**2)):
            figures[key][i] += value
        revenue[row["delivery_id"]] = total
        converted_at[row["delivery_id"]] = row["first"]
    # Deliveries that hold revenue no Conversion row stands behind any more.
    stale = Delivery.objects.filter(campaign_id=campaign_id).filter(
        ~Q(revenue_twd=0) | Q(converted_at__isnull=False)
    )
    for pk in stale.values_list("pk", flat=True).iterator(chunk_size=20_000):
        if pk not in revenue:
            revenue[pk], converted_at[pk] = 0, None
    deliveries_revenue_write(revenue, converted_at)
    CampaignFigures.objects.bulk_create(
        [
            CampaignFigures(campaign_id=campaign_id, arm=arm, variant=variant, channel=channel)
            for arm, variant, channel in figures
        ],
        ignore_conflicts=True,
    )
    rows = list(CampaignFigures.objects.filter(campaign_id=campaign_id))
    now = timezone.now()
    for row in rows:
        values = figures.get((row.arm, row.variant, row.channel), [0] * len(CONVERSION_COLUMNS))
        for column, value in zip(CONVERSION_COLUMNS, values, strict=True):
            setattr(row, column, value)
        row.updated_at = now
    CampaignFigures.objects.bulk_update(rows, [*CONVERSION_COLUMNS, "updated_at"])
    CampaignFiguresDaily.objects.filter(campaign_id=campaign_id).delete()
    daily = (
        conversions.values("day", "arm", "variant")
        .annotate(orders=Count("pk"), revenue=Sum("amount_twd"))
        .order_by()
    )
    CampaignFiguresDaily.objects.bulk_create(
        CampaignFiguresDaily(
            campaign_id=campaign_id,
            day=row["day"],
            arm=row["arm"],
            variant=row["variant"],
            orders=row["orders"],
            revenue_twd=row["revenue"] or 0,
        )
        for row in daily
    )
    return {"figures": len(rows), "deliveries": len(revenue)}
