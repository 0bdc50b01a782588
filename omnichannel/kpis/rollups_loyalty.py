"""The loyalty rollups: points moved per Taipei day × ledger kind × source, and wallet cards
added and removed per Taipei day × platform.

Points: the ledger has no change feed, and entries are only ever appended, so a watermark (the
last settled entry id, RollupWatermark "kpis.points") says where the next refresh starts: the
Taipei days of the entries written since are recomputed whole from the ledger (range scans of
its `at` index), with today and yesterday always. The watermark settles only ids seen at least
15 minutes ago (omnichannel.kpis.watermarks), so an entry whose transaction commits after a
later id's (its `at` may be back-dated: an earn is at the order's time) is still read. Rebuild
recomputes every day. The sums kept are the positive and the negative points per cell, which
loyalty's own rule (flows_from_sums) turns into issued, redeemed and expired.

Wallet cards: WalletPass holds each card's current state only (added at, removed at), one row
per member and platform, so the refresh recomputes the whole small table from it (grouped
scans of WalletPass, and of the members' spans the holdings rollup keeps, rollups_holders; no
per-request counting): a card's latest episode counts, an earlier one undone and redone does
not (the touchpoints have the full history; too many rows to read here).
"""

from collections.abc import Iterable
from datetime import date, timedelta

from django.db.models import Count, F, Max, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.bulk import chunked
from loyalty.models import PointsTransaction, WalletPass
from loyalty.selectors_overview import tiers_held
from omnichannel.kpis.bulk import (
    DAYS_CHUNK,
    days_q,
    insert_select,
    local_day,
    table_empty,
)
from omnichannel.kpis.models import (
    PointsDaily,
    RollupWatermark,
    TierAccountsNow,
    WalletDaily,
    WalletHolding,
)
from omnichannel.kpis.registry import ROLLUPS, Rollup
from omnichannel.kpis.selectors_loyalty import MEMBERS_MARK, members_count_live
from omnichannel.kpis.watermarks import id_window, id_window_advance, id_window_reset

POINTS_WATERMARK = "kpis.points"
POINTS_COLUMNS = ("day", "kind", "source", "entries", "credit", "debit")
WALLET_COLUMNS = ("day", "platform", "added", "removed")


def _points_select(entries: QuerySet[PointsTransaction]) -> QuerySet:
    return (
        entries.annotate(local_day=local_day("at"))
        .values("local_day", "kind", "source")
        .annotate(
            n=Count("pk"),
            credit=Coalesce(Sum("points", filter=Q(points__gt=0)), Value(0)),
            debit=Coalesce(Sum("points", filter=Q(points__lt=0)), Value(0)),
        )
        .order_by()
    )


def points_days_rewrite(days: Iterable[date]) -> int:
    """Recompute the points rollup of these Taipei days from the ledger. Returns the cells."""
    written = 0
    for chunk in chunked(sorted(set(days)), DAYS_CHUNK):
        PointsDaily.objects.filter(day__in=chunk).delete()
        entries = PointsTransaction.objects.filter(days_q("at", chunk))
        written += insert_select(PointsDaily, POINTS_COLUMNS, _points_select(entries))
    return written


def points_refresh() -> int:
    """Recompute the days of the entries written since the settled watermark (and today and
    yesterday). Returns the cells written. Runs under the KPI run's lock (services._run).
    Entries carry a back-dated `at` (an earn is at the order's placed_at) and may commit out of
    id order: the watermark re-reads the last OVERLAP of ids (omnichannel.kpis.watermarks)."""
    top = PointsTransaction.objects.aggregate(top=Max("pk"))["top"] or 0
    window = id_window(POINTS_WATERMARK, top)
    today = timezone.localdate()
    days = {today - timedelta(days=1), today}
    if top > window.since:
        days |= set(
            PointsTransaction.objects.filter(pk__gt=window.since, pk__lte=top)
            .annotate(local_day=local_day("at"))
            .values_list("local_day", flat=True)
            .order_by()
            .distinct()
        )
    written = points_days_rewrite(days)
    id_window_advance(window)
    return written


def points_rebuild() -> int:
    """Recompute every day from the whole ledger. Returns the rows written. TRUNCATE (in
    table_empty) takes an ACCESS EXCLUSIVE lock until the run commits: pages reading the table
    wait for the rebuild; the refresh never truncates."""
    top = PointsTransaction.objects.aggregate(top=Max("pk"))["top"] or 0
    table_empty(PointsDaily)
    written = insert_select(
        PointsDaily, POINTS_COLUMNS, _points_select(PointsTransaction.objects.filter(pk__lte=top))
    )
    # Entries written meanwhile (above `top`) come with the next refresh.
    id_window_reset(POINTS_WATERMARK, top)
    return written


def _cards_added() -> QuerySet:
    return (
        WalletPass.objects.filter(installed_at__isnull=False)
        .annotate(local_day=local_day("installed_at"))
        .values("local_day", "platform")
        .annotate(added=Count("pk"), removed=Value(0))
        .order_by()
    )


def _cards_removed() -> QuerySet:
    return (
        WalletPass.objects.filter(
            installed=False, installed_at__isnull=False, removed_at__isnull=False
        )
        .annotate(local_day=local_day("removed_at"))
        .values("local_day", "platform")
        .annotate(added=Value(0), removed=Count("pk"))
        .order_by()
    )


def _members_insert() -> int:
    """The members' rows (platform ""): each member's span of holding a card (WalletHolding,
    kept by the holdings rollup just before this one) starts on its from_day and, when none is
    left, stops on its to_day."""
    started = (
        WalletHolding.objects.values(day=F("from_day"))
        .annotate(platform=Value(""), added=Count("pk"), removed=Value(0))
        .order_by()
    )
    stopped = (
        WalletHolding.objects.filter(to_day__isnull=False)
        .values(day=F("to_day"))
        .annotate(platform=Value(""), added=Value(0), removed=Count("pk"))
        .order_by()
    )
    return insert_select(WalletDaily, WALLET_COLUMNS, started) + insert_select(
        WalletDaily, WALLET_COLUMNS, stopped
    )


def _wallet_write() -> int:
    written = insert_select(WalletDaily, WALLET_COLUMNS, _cards_added())
    written += insert_select(WalletDaily, WALLET_COLUMNS, _cards_removed())
    return written + _members_insert()


def _members_mark() -> None:
    """The members count the pages divide by (selectors_loyalty.members_count), counted here
    once per refresh rather than on every page request."""
    RollupWatermark.objects.update_or_create(
        name=MEMBERS_MARK, defaults={"last_id": members_count_live(), "last_at": timezone.now()}
    )


def wallet_refresh() -> int:
    """Recompute the wallet rollup from the cards' state (every 5 minutes). DELETE, not
    TRUNCATE: TRUNCATE's ACCESS EXCLUSIVE lock would block every page reading the table until
    the run commits. Returns the rows written."""
    WalletDaily.objects.all()._raw_delete(WalletDaily.objects.db)
    _members_mark()
    return _wallet_write()


def wallet_rebuild() -> int:
    """Recompute the wallet rollup, emptying it with TRUNCATE (pages reading it wait for the
    rebuild to commit). Returns the rows written."""
    table_empty(WalletDaily)
    _members_mark()
    return _wallet_write()


def tiers_rewrite() -> int:
    """Keep the accounts per tier (one grouped scan of the accounts, each refresh)."""
    held = tiers_held()
    TierAccountsNow.objects.all()._raw_delete(TierAccountsNow.objects.db)
    TierAccountsNow.objects.bulk_create(
        TierAccountsNow(tier_id=tier_id, accounts=accounts, points=points)
        for tier_id, (accounts, points) in held.items()
    )
    return len(held)


ROLLUPS.register(Rollup(name="points", refresh=points_refresh, rebuild=points_rebuild, order=30))
ROLLUPS.register(Rollup(name="tiers", refresh=tiers_rewrite, rebuild=tiers_rewrite, order=32))
# One grouped scan of WalletPass (a row per member and platform): the refresh rewrites it all.
ROLLUPS.register(Rollup(name="wallet", refresh=wallet_refresh, rebuild=wallet_rebuild, order=31))
