"""The messaging rollups: each campaign's messages per channel on its send day (MessagingDaily),
and the LINE official account's friends added and blocked per day (LineFriendsDaily).

MessagingDaily is read from the figures campaigns keeps of every campaign (CampaignFigures, the
sent group, every variant): the report's own numbers, rules and prices, folded per campaign and
channel onto the Taipei day the campaign was sent (launched). Nobody reads deliveries here:
CampaignFigures is a handful of rows per campaign whatever its audience, and campaigns moves a
row's `updated_at` whenever it writes it (sending, opens, clicks, conversions, LINE Insight,
unsubscribes and blocks put down to a message). The refresh recomputes every campaign whose
figures moved since the last one (with a margin for transactions that wrote before and
committed after it), in one INSERT … SELECT; a deleted campaign's cells go with it.

LineFriendsDaily counts the LINE webhook's touchpoints (line_follow, line_block). The refresh
finds the days of the touchpoints written since the last one (by id, on the primary key) and
recomputes those days, plus today and yesterday always (an event whose id was drawn before the
last refresh but committed after it lands there), through a partial index on the two kinds'
time (migration 0002_channels_messaging).
"""

from collections.abc import Iterable
from datetime import date, timedelta

from django.db.models import Case, Count, IntegerField, Max, Q, QuerySet, Sum, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, TruncDate
from django.utils import timezone

from campaigns.models import Campaign, CampaignFigures, DeliveryReason
from campaigns.report import cost_cents_expression
from crm.bulk import chunked
from crm.models import Touchpoint
from omnichannel.channels import MESSAGING_CHANNELS
from omnichannel.kpis.bulk import (
    DAYS_CHUNK,
    days_q,
    insert_select,
    local_zone,
    table_empty,
)
from omnichannel.kpis.models import LineFriendsDaily, MessagingDaily, RollupWatermark
from omnichannel.kpis.registry import ROLLUPS, Rollup
from omnichannel.kpis.watermarks import id_window, id_window_advance, id_window_reset

CAMPAIGNS_WATERMARK = "kpis.messaging"
FRIENDS_WATERMARK = "kpis.line_friends"
# A write of figures stamped before a refresh began may commit after it read: campaigns
# stamped this long before the last refresh are looked at again (recomputing a campaign is a
# few rows, so the overlap costs nothing).
OVERLAP = timedelta(minutes=15)
CAMPAIGNS_CHUNK = 500

LINE_FRIEND_KINDS = ("line_follow", "line_block")  # the partial index's kinds, in this order

MESSAGING_COLUMNS = (
    "day",
    "channel",
    "campaign_id",
    "members",
    "sent",
    "delivered",
    "failed",
    "suppressed",
    "suppressed_consent",
    "suppressed_unreachable",
    "suppressed_cap",
    "opened",
    "clicked",
    "converted",
    "orders",
    "revenue_online_twd",
    "revenue_store_twd",
    "cost_cents",
    "unsubscribed",
    "line_blocked",
)
SUPPRESSED_CONSENT = (DeliveryReason.NO_CONSENT, DeliveryReason.UNSUBSCRIBED)
SUPPRESSED_UNREACHABLE = (
    DeliveryReason.LINE_BLOCKED,
    DeliveryReason.BOUNCED,
    DeliveryReason.COMPLAINED,
)
SUPPRESSED_CAP = (DeliveryReason.FREQUENCY_CAP,)
FRIENDS_COLUMNS = ("day", "follows", "blocks")


def _suppressed(reasons: Iterable[str]) -> Sum:
    """Σ of these reasons' counts in the figures' `suppressed` ({reason: n}). A value that is
    not a whole number (a hand-edited row, a float) counts 0 rather than failing the Cast and
    with it the whole rollup."""
    total = None
    for reason in reasons:
        whole = {f"suppressed__{reason}__regex": r"^[0-9]{1,9}$"}
        n = Case(
            When(**whole, then=Cast(KT(f"suppressed__{reason}"), IntegerField())),
            default=Value(0),
        )
        total = n if total is None else total + n
    return Sum(total)


def _messaging_select(figures: QuerySet[CampaignFigures]) -> QuerySet:
    """The sent group's figures per (send day, channel, campaign); members no channel could
    reach (channel "") are in the campaign's report only."""
    return (
        figures.filter(
            arm=CampaignFigures.Arm.SENT,
            channel__in=[channel.value for channel in MESSAGING_CHANNELS],
            campaign__launched_at__isnull=False,
        )
        .annotate(local_day=TruncDate("campaign__launched_at", tzinfo=local_zone()))
        .values("local_day", "channel", "campaign_id")
        .annotate(
            n_members=Sum("members"),
            n_sent=Sum("sent"),
            n_delivered=Sum("delivered"),
            n_failed=Sum("failed"),
            n_suppressed=_suppressed(DeliveryReason.values),
            n_consent=_suppressed(SUPPRESSED_CONSENT),
            n_unreachable=_suppressed(SUPPRESSED_UNREACHABLE),
            n_cap=_suppressed(SUPPRESSED_CAP),
            n_opened=Sum("opened"),
            n_clicked=Sum("clicked"),
            n_converted=Sum("converted"),
            n_orders=Sum("orders"),
            revenue_online=Sum("revenue_online_twd"),
            revenue_store=Sum("revenue_store_twd"),
            cost=cost_cents_expression(),
            n_unsubscribed=Sum("unsubscribed"),
            n_line_blocked=Sum("line_blocked"),
        )
        .order_by()
    )


def messaging_campaigns_rewrite(campaign_ids: Iterable[int]) -> int:
    """Recompute these campaigns' cells from their figures (a campaign gone: its cells go).
    Returns the cells written."""
    written = 0
    for chunk in chunked(sorted(set(campaign_ids)), CAMPAIGNS_CHUNK):
        MessagingDaily.objects.filter(campaign_id__in=chunk).delete()
        written += insert_select(
            MessagingDaily,
            MESSAGING_COLUMNS,
            _messaging_select(CampaignFigures.objects.filter(campaign_id__in=chunk)),
        )
    return written


def _watermark(name: str) -> RollupWatermark | None:
    return RollupWatermark.objects.select_for_update().filter(name=name).first()


def messaging_refresh() -> int:
    """Recompute the campaigns whose figures moved since the last refresh. Returns the cells
    written. The first refresh is a rebuild."""
    started = timezone.now()
    mark = _watermark(CAMPAIGNS_WATERMARK)
    if mark is None or mark.last_at is None:
        return _messaging_all(empty=_rows_delete)
    moved = set(
        CampaignFigures.objects.filter(updated_at__gte=mark.last_at - OVERLAP)
        .values_list("campaign_id", flat=True)
        .distinct()
    )
    gone = set(
        MessagingDaily.objects.exclude(campaign_id__in=Campaign.objects.values("pk"))
        .values_list("campaign_id", flat=True)
        .distinct()
    )
    written = messaging_campaigns_rewrite(moved | gone)
    mark.last_at = started
    mark.save(update_fields=["last_at", "updated_at"])
    return written


def _rows_delete(model) -> None:
    """Empty a rollup on a refresh path: DELETE, never TRUNCATE (whose ACCESS EXCLUSIVE lock
    would block the pages until the run commits)."""
    model.objects.all()._raw_delete(model.objects.db)


def _messaging_all(*, empty) -> int:
    started = timezone.now()
    empty(MessagingDaily)
    written = insert_select(
        MessagingDaily, MESSAGING_COLUMNS, _messaging_select(CampaignFigures.objects.all())
    )
    RollupWatermark.objects.update_or_create(
        name=CAMPAIGNS_WATERMARK, defaults={"last_at": started}
    )
    return written


def messaging_rebuild() -> int:
    """Recompute every campaign's cells (TRUNCATE: pages reading the table wait for the
    rebuild). Returns the rows written."""
    return _messaging_all(empty=table_empty)


# --- LINE friends ---------------------------------------------------------------------------


def _line_events() -> QuerySet[Touchpoint]:
    # The same IN list as the partial index, so the planner may use it.
    return Touchpoint.objects.filter(kind__in=LINE_FRIEND_KINDS)


def _friends_select(events: QuerySet[Touchpoint]) -> QuerySet:
    return (
        events.annotate(local_day=TruncDate("at", tzinfo=local_zone()))
        .values("local_day")
        .annotate(
            n_follows=Count("pk", filter=Q(kind="line_follow")),
            n_blocks=Count("pk", filter=Q(kind="line_block")),
        )
        .order_by()
    )


def line_friends_days_rewrite(days: Iterable[date]) -> int:
    """Recompute these days' LINE follows and blocks from the touchpoints."""
    written = 0
    for chunk in chunked(sorted(set(days)), DAYS_CHUNK):
        LineFriendsDaily.objects.filter(day__in=chunk).delete()
        events = _line_events().filter(days_q("at", chunk))
        written += insert_select(LineFriendsDaily, FRIENDS_COLUMNS, _friends_select(events))
    return written


def line_friends_refresh() -> int:
    """Recompute the days of the LINE events written since the settled watermark, and today
    and yesterday. Returns the days written. The first refresh is a rebuild. A touchpoint may
    carry a back-dated `at` and commit out of id order: the watermark re-reads the last
    OVERLAP of ids (omnichannel.kpis.watermarks)."""
    if not RollupWatermark.objects.filter(name=FRIENDS_WATERMARK).exists():
        return _line_friends_all(empty=_rows_delete)
    last = Touchpoint.objects.aggregate(last=Max("pk"))["last"] or 0
    window = id_window(FRIENDS_WATERMARK, last)
    today = timezone.localdate()
    days = {today, today - timedelta(days=1)}
    if last > window.since:
        days |= set(
            _line_events()
            .filter(pk__gt=window.since, pk__lte=last)
            .annotate(local_day=TruncDate("at", tzinfo=local_zone()))
            .values_list("local_day", flat=True)
            .distinct()
        )
    written = line_friends_days_rewrite(days)
    id_window_advance(window)
    return written


def _line_friends_all(*, empty) -> int:
    last = Touchpoint.objects.aggregate(last=Max("pk"))["last"] or 0
    empty(LineFriendsDaily)
    written = insert_select(LineFriendsDaily, FRIENDS_COLUMNS, _friends_select(_line_events()))
    id_window_reset(FRIENDS_WATERMARK, last)
    return written


def line_friends_rebuild() -> int:
    """Recompute every day (TRUNCATE: pages reading the table wait for the rebuild)."""
    return _line_friends_all(empty=table_empty)


ROLLUPS.register(
    Rollup(name="messaging", refresh=messaging_refresh, rebuild=messaging_rebuild, order=20)
)
ROLLUPS.register(
    Rollup(
        name="line_friends", refresh=line_friends_refresh, rebuild=line_friends_rebuild, order=21
    )
)
