"""Segments as the KPI pages read them: kept snapshots of their members (SegmentSnapshot).

A page asks `segment_snapshot_id(segment)` once per request and narrows every member-grained
figure with a semi-join on the snapshot's rows (an index-only scan), instead of evaluating the
segment's rules (crm's `segment_queryset`) per request or per query. A snapshot is at most
SEGMENT_SNAPSHOT_AGE old when read: the refresh takes again every snapshot a page asked for
within SEGMENT_SNAPSHOT_KEEP once it is RETAKE_AFTER old, and forgets the others; a page finding
none, an older one, or one taken under other rules, takes it itself.
"""

from datetime import date, timedelta

from django.db import connection, transaction
from django.db.models import DateField, F, QuerySet, Value
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from crm.models import Segment
from crm.segments.definition import SegmentDefinitionError, segment_queryset
from omnichannel.kpis.bulk import add_months, insert_sql, local_day, local_zone
from omnichannel.kpis.models import (
    SegmentCohortMonthly,
    SegmentMonthly,
    SegmentSnapshot,
    SegmentSnapshotMember,
)
from omnichannel.kpis.registry import ROLLUPS, Rollup

SEGMENT_SNAPSHOT_AGE = timedelta(minutes=15)
RETAKE_AFTER = timedelta(minutes=9)  # the 5-minute refresh retakes it before a page must
SEGMENT_SNAPSHOT_KEEP = timedelta(days=1)
USED_AT_EVERY = timedelta(minutes=5)  # how often a page's read is written down
SEGMENT_FIGURE_MONTHS = 13  # the months of kept figures: a year of days touches 13


def segment_snapshot_take(*, segment: Segment, for_page: bool = False) -> SegmentSnapshot:
    """Evaluate the segment now and keep its members (one INSERT … SELECT); `for_page`: a
    page asked for it (the refresh keeps it current while pages do). Two pages asking at
    once: the second waits on the snapshot's row and finds it taken."""
    now = timezone.now()
    with transaction.atomic():
        SegmentSnapshot.objects.get_or_create(segment_id=segment.pk)
        snapshot = SegmentSnapshot.objects.select_for_update().get(segment_id=segment.pk)
        if snapshot.definition == segment.definition and snapshot.taken_at >= now - RETAKE_AFTER:
            return snapshot  # taken meanwhile by whoever held the row
        SegmentSnapshotMember.objects.filter(segment_id=segment.pk)._raw_delete(
            SegmentSnapshotMember.objects.db
        )
        snapshot.members = _members_insert(segment)
        _statistics_update()
        snapshot.definition, snapshot.taken_at = segment.definition, timezone.now()
        snapshot.figures_month = None  # the kept figures were of the members taken before
        if for_page:
            snapshot.used_at = now
        snapshot.save()
    return snapshot


# The snapshot's columns and what each is, in the segment's member queryset (one SELECT).
SNAPSHOT_COLUMNS = {
    "member_id": F("pk"),
    "joined_day": local_day("joined_at"),
    "acquisition_channel": F("acquisition_channel"),
    "home_store_id": F("home_store_id"),
    # The cohort, by the cohort rollup's rule: the Taipei month of the first purchase.
    "first_purchase_month": TruncMonth(
        "stats__first_purchase_at", output_field=DateField(), tzinfo=local_zone()
    ),
    "rfm_recency": F("stats__rfm_recency"),
    "rfm_frequency": F("stats__rfm_frequency"),
    "spend_365d_twd": Coalesce(F("stats__spend_365d_twd"), Value(0)),
}


def _members_insert(segment: Segment) -> int:
    """INSERT … SELECT the segment's members with their SNAPSHOT_COLUMNS. The columns are
    named from an outer SELECT over the queryset's aliases (not its column order)."""
    members = (
        segment_queryset(segment.definition)
        .order_by()
        .values(**{f"snapshot_{name}": value for name, value in SNAPSHOT_COLUMNS.items()})
    )
    sql, params = members.query.sql_with_params()
    outer = ", ".join(f"m.snapshot_{name}" for name in SNAPSHOT_COLUMNS)
    select = f"SELECT %s, {outer} FROM ({sql}) AS m"  # noqa: S608 (our names only)
    return insert_sql(
        SegmentSnapshotMember, ("segment_id", *SNAPSHOT_COLUMNS), select, [segment.pk, *params]
    )


def segment_snapshot_id(segment: Segment) -> int:
    """The segment's id in SegmentSnapshotMember, its snapshot current (taken if need be)."""
    now = timezone.now()
    snapshot = SegmentSnapshot.objects.filter(segment_id=segment.pk).first()
    if (
        snapshot is None
        or snapshot.definition != segment.definition
        or snapshot.taken_at < now - SEGMENT_SNAPSHOT_AGE
    ):
        snapshot = segment_snapshot_take(segment=segment, for_page=True)
    elif snapshot.used_at < now - USED_AT_EVERY:
        SegmentSnapshot.objects.filter(pk=snapshot.pk).update(used_at=now)
    return segment.pk


def segment_figures_month(snapshot_id: int) -> date | None:
    """The last month of the figures the refresh kept for the snapshot's take (None: none
    yet); they cover segment_figures_window of it (omnichannel/kpis/segment_figures.py)."""
    months = SegmentSnapshot.objects.filter(segment_id=snapshot_id)
    return months.values_list("figures_month", flat=True).first()


def segment_figures_window(last: date) -> tuple[date, date]:
    """The first and last months of kept figures ending at `last`."""
    return add_months(last, 1 - SEGMENT_FIGURE_MONTHS), last


def segment_snapshot_rows(snapshot_id: int) -> QuerySet[SegmentSnapshotMember]:
    """The snapshot's rows: its members with what pages group them by."""
    return SegmentSnapshotMember.objects.filter(segment_id=snapshot_id)


def segment_snapshot_members(snapshot_id: int) -> QuerySet:
    """The snapshot's member ids, for `member_id__in=` (a subquery)."""
    return segment_snapshot_rows(snapshot_id).values("member_id")


def segment_snapshots_refresh() -> int:
    """Take again the snapshots pages asked for lately, once RETAKE_AFTER old; forget the
    ones nobody asked for within SEGMENT_SNAPSHOT_KEEP and those of deleted or broken
    segments. Returns the members written."""
    now = timezone.now()
    stale = SegmentSnapshot.objects.filter(used_at__lt=now - SEGMENT_SNAPSHOT_KEEP)
    _forget(list(stale.values_list("segment_id", flat=True)))
    due = SegmentSnapshot.objects.filter(taken_at__lt=now - RETAKE_AFTER)
    segments = Segment.objects.filter(pk__in=due.values("segment_id"))
    written, gone = 0, set(due.values_list("segment_id", flat=True))
    for segment in segments:  # the few segments pages use: one INSERT … SELECT each
        try:
            written += segment_snapshot_take(segment=segment).members
        except SegmentDefinitionError:
            continue  # forgotten below: the page says the rules no longer work
        gone.discard(segment.pk)
    _forget(sorted(gone))
    return written


def segment_snapshots_rebuild() -> int:
    """Take every kept snapshot again (a rebuild leaves nothing stale)."""
    SegmentSnapshot.objects.update(taken_at=timezone.now() - SEGMENT_SNAPSHOT_AGE)
    return segment_snapshots_refresh()


def _statistics_update() -> None:
    """ANALYZE the snapshots' table (PostgreSQL): a segment of a third of the members taken
    into a table the planner still thinks small makes it loop over the activity index once
    per member (measured 3.4 s) instead of hashing the segment (about 0.1 s)."""
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(SegmentSnapshotMember._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")


def _forget(segment_ids: list[int]) -> None:
    if not segment_ids:
        return
    SegmentSnapshotMember.objects.filter(segment_id__in=segment_ids)._raw_delete(
        SegmentSnapshotMember.objects.db
    )
    for model in (SegmentMonthly, SegmentCohortMonthly):
        model.objects.filter(segment_id__in=segment_ids)._raw_delete(model.objects.db)
    SegmentSnapshot.objects.filter(segment_id__in=segment_ids).delete()


# Last: the pages' segments are taken after the rollups they narrow are current.
ROLLUPS.register(
    Rollup(
        name="segments",
        refresh=segment_snapshots_refresh,
        rebuild=segment_snapshots_rebuild,
        order=1_000,
    )
)
