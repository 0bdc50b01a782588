"""A segment's month-grained figures, kept once per snapshot take instead of per request.

Classifying a segment's members' months (OMO kinds, wallet holders, cohorts) reads every
monthly activity row of a third of a million members: 0.3 s for two months, 1.6 s for a year,
per request. The refresh keeps them (SegmentMonthly, SegmentCohortMonthly) for every snapshot
whose figures are missing, that is after each take, and when the month turns: the
SEGMENT_FIGURE_MONTHS (segments.py) up to this month, and the cohort window ending this
month. The SELECTs are the rollups' own (rollups_members' OMO and cohort SELECTs,
selectors_loyalty's holders' rule) over the snapshot's members, so a segment of everyone
gives the rollups' figures.

A page uses them when the snapshot it reads has them and they cover its months (no store:
the store cells are computed per request); otherwise it computes them as before. They are as
fresh as the snapshot (taken again every RETAKE_AFTER while pages use it).
"""

from datetime import date

from django.db import connection, transaction
from django.utils import timezone

from omnichannel.kpis.bulk import add_months, insert_sql
from omnichannel.kpis.models import (
    MemberActivityMonthly,
    SegmentCohortMonthly,
    SegmentMonthly,
    SegmentSnapshot,
)
from omnichannel.kpis.registry import ROLLUPS, Rollup
from omnichannel.kpis.rollups_members import omo_select_sql, segment_cohorts_sql
from omnichannel.kpis.segments import segment_figures_window, segment_snapshot_members
from omnichannel.kpis.selectors_loyalty import holders_per_month
from omnichannel.kpis.selectors_members import COHORT_MONTHS


def _months_insert(segment_id: int, first: date, last: date) -> int:
    adapt = connection.ops.adapt_datefield_value
    members = segment_snapshot_members(segment_id)
    members_sql, members_params = members.query.sql_with_params()
    everyone, _stores = omo_select_sql(
        f"a.month >= %s AND a.month <= %s AND a.member_id IN ({members_sql})"
    )
    select = (
        "SELECT %s, o.month, o.kind, o.members, o.orders, o.revenue_twd "  # noqa: S608
        f"FROM ({everyone}) o"
    )
    written = insert_sql(
        SegmentMonthly,
        ("segment_id", "month", "kind", "members", "orders", "revenue_twd"),
        select,
        [segment_id, adapt(first), adapt(last), *members_params],
    )
    rows = MemberActivityMonthly.objects.filter(
        month__gte=first, month__lte=last, member_id__in=members
    )
    holders = [
        SegmentMonthly(
            segment_id=segment_id,
            month=row["month"],
            kind=SegmentMonthly.HOLDERS,
            members=row["members"],
            orders=row["orders_sum"] or 0,
        )
        for row in holders_per_month(rows)
    ]
    SegmentMonthly.objects.bulk_create(holders)
    return written + len(holders)


def _cohorts_insert(segment_id: int, first: date, last: date) -> int:
    cells, cells_params = segment_cohorts_sql(segment_snapshot=segment_id, first=first, last=last)
    select = (
        "SELECT %s, c.cohort, c.month, c.members, c.orders, c.revenue_twd "  # noqa: S608
        f"FROM ({cells}) c"
    )
    return insert_sql(
        SegmentCohortMonthly,
        ("segment_id", "cohort", "month", "members", "orders", "revenue_twd"),
        select,
        [segment_id, *cells_params],
    )


def segment_figures_take(segment_id: int, *, month: date) -> int:
    """Keep the snapshot's figures for the window ending `month`, under the snapshot's row
    lock (a page taking the snapshot again meanwhile waits, then finds them gone with the
    members they were of). Returns the rows written (0: the snapshot is gone)."""
    with transaction.atomic():
        locked = SegmentSnapshot.objects.select_for_update().filter(segment_id=segment_id)
        snapshot_pk = locked.values_list("pk", flat=True).first()  # the row locked, if any
        if snapshot_pk is None:
            return 0
        for model in (SegmentMonthly, SegmentCohortMonthly):
            model.objects.filter(segment_id=segment_id)._raw_delete(model.objects.db)
        written = _months_insert(segment_id, *segment_figures_window(month))
        written += _cohorts_insert(segment_id, add_months(month, 1 - COHORT_MONTHS), month)
        SegmentSnapshot.objects.filter(pk=snapshot_pk).update(figures_month=month)
    return written


def segment_figures_refresh() -> int:
    """Keep the figures of every snapshot that has none for this month."""
    month = timezone.localdate().replace(day=1)
    missing = SegmentSnapshot.objects.exclude(figures_month=month).values_list(
        "segment_id", flat=True
    )
    return sum(segment_figures_take(segment_id, month=month) for segment_id in list(missing))


# After the segments (order 1000): a snapshot taken by this run gets its figures in it.
ROLLUPS.register(
    Rollup(
        name="segment_figures",
        refresh=segment_figures_refresh,
        rebuild=segment_figures_refresh,
        order=1_001,
    )
)
