"""A segment's month figures (OMO split, wallet holders, cohorts) kept by the refresh once
per snapshot take: a segment of everyone keeps the rollups' figures, the pages read the kept
ones while they cover the period, and compute them again when they do not (a store, older
months, a snapshot taken since)."""

from datetime import date

import pytest

from loyalty.models import WalletPass
from omnichannel.kpis.filters import KpiFilters
from omnichannel.kpis.models import SegmentCohortMonthly, SegmentMonthly, SegmentSnapshot
from omnichannel.kpis.segment_figures import segment_figures_refresh, segment_figures_take
from omnichannel.kpis.segments import segment_snapshot_take
from omnichannel.kpis.selectors_loyalty import holders_frequency
from omnichannel.kpis.selectors_members import cohort_retention, omo_figures
from omnichannel.kpis.services import kpis_rebuild
from tests.kpis.helpers import at
from tests.kpis.test_fixmembers_page import _segment_of_everyone
from tests.kpis.test_members_page import members  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)

NOVEMBER = date(2026, 11, 1)
PERIODS = [
    (date(2026, 11, 1), date(2026, 11, 30)),
    (date(2026, 8, 1), date(2026, 11, 30)),
    (date(2025, 11, 5), date(2026, 11, 30)),  # 13 calendar months
]


def _cards(people) -> None:
    """cat held a card from September to 15 November; ann holds one since October."""
    for name, added, removed in (("cat", 9, 15), ("ann", 10, None)):
        WalletPass.objects.create(
            member=people[name],
            platform=WalletPass.Platform.APPLE,
            serial=name,
            authentication_token="t",
            installed=removed is None,
            installed_at=at(date(2026, added, 2)),
            removed_at=at(date(2026, 11, removed)) if removed else None,
        )


def _kept_everyone(people):
    _cards(people)
    kpis_rebuild()
    everyone = _segment_of_everyone()
    segment_snapshot_take(segment=everyone, for_page=True)
    segment_figures_take(everyone.pk, month=NOVEMBER)  # the window: Nov 2025 - Nov 2026
    return everyone


def test_a_segment_of_everyone_keeps_the_rollups_figures(members):  # noqa: F811
    everyone = _kept_everyone(members)

    for start, end in PERIODS:
        rollup = KpiFilters(start=start, end=end)
        kept = KpiFilters(start=start, end=end, segment=everyone)
        assert kept.segment_figures_cover()
        assert omo_figures(kept) == omo_figures(rollup), start
        assert holders_frequency(kept) == holders_frequency(rollup), start
        assert cohort_retention(kept) == cohort_retention(rollup), start
    # November: ann holds a card (3,000 in two orders); cat's was gone at the month's end.
    november = holders_frequency(KpiFilters(start=NOVEMBER, end=PERIODS[0][1], segment=everyone))
    assert (november.holders.member_months, november.holders.orders) == (1, 2)
    assert (november.others.member_months, november.others.orders) == (2, 4)  # bob 3, cat 1
    assert SegmentCohortMonthly.objects.filter(segment_id=everyone.pk).exists()


def test_the_pages_read_the_kept_figures_while_they_cover_the_period(members):  # noqa: F811
    everyone = _kept_everyone(members)
    kept = SegmentMonthly.objects.filter(segment_id=everyone.pk, month=NOVEMBER)
    kept.filter(kind="omo").update(members=40)
    kept.filter(kind=SegmentMonthly.HOLDERS).update(members=10)
    SegmentCohortMonthly.objects.filter(segment_id=everyone.pk, cohort=NOVEMBER).update(members=7)
    november = KpiFilters(start=NOVEMBER, end=date(2026, 11, 30), segment=everyone)

    assert omo_figures(november).omo.members == 40
    assert holders_frequency(november).holders.member_months == 10
    assert [row.size for row in cohort_retention(november) if row.cohort == NOVEMBER] == [7]
    # Older months than the window, or a store: computed from the activity again.
    older = KpiFilters(start=date(2025, 10, 1), end=date(2026, 11, 30), segment=everyone)
    assert not older.segment_figures_cover()
    assert omo_figures(older).omo.members == 1  # ann in November
    # A snapshot taken again drops them until the refresh keeps them for its members.
    SegmentSnapshot.objects.filter(segment_id=everyone.pk).update(taken_at=at(date(2026, 1, 1)))
    segment_snapshot_take(segment=everyone, for_page=True)
    again = KpiFilters(start=NOVEMBER, end=date(2026, 11, 30), segment=everyone)
    assert again.segment_figures_month is None
    assert omo_figures(again).omo.members == 1
    assert holders_frequency(again).holders.member_months == 1


def test_the_refresh_keeps_the_figures_of_this_month_for_every_snapshot(members):  # noqa: F811
    everyone = _kept_everyone(members)
    SegmentSnapshot.objects.filter(segment_id=everyone.pk).update(figures_month=None)

    written = segment_figures_refresh()

    assert written > 0
    snapshot = SegmentSnapshot.objects.get(segment_id=everyone.pk)
    assert snapshot.figures_month is not None and snapshot.figures_month.day == 1
    assert segment_figures_refresh() == 0  # kept for this month: nothing to do
