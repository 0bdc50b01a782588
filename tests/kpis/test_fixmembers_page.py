"""Review fixes on the Members / OMO page (findings 6, 7, 14, 18): one "active members"
(the Channels page's), month-based figures compared with the previous whole months, one OMO
classification for the rollup and the live (segment) path, translated cohort and RFM labels."""

import json
from datetime import date

import pytest

from crm.models import Member, Segment, Store
from omnichannel.kpis.filters import KpiFilters
from omnichannel.kpis.pages.members import members_tiles
from omnichannel.kpis.selectors_members import (
    cohort_retention,
    new_members_per_day,
    omo_figures,
    rfm_grid,
)
from omnichannel.kpis.selectors_sales import sales_totals
from tests.kpis.test_members_page import csv, members, tile  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)

LATE_NOVEMBER = "start=2026-11-08&end=2026-11-30"


def test_active_members_are_the_channels_pages_members_with_an_order_on_a_day(
    members,  # noqa: F811
    login_as,
):
    # 8–30 November: only bob buys (10 and 20 Nov); ann (2, 5 Nov) and cat (7 Nov) bought in
    # November but before the period: the month-based count said 3.
    client = login_as("carol")
    html = client.get(f"/kpis/members/?{LATE_NOVEMBER}").content.decode()
    assert tile(html, "active-members") == "1"
    filters = KpiFilters(start=date(2026, 11, 8), end=date(2026, 11, 30))
    assert sales_totals(filters).active_members == 1
    # The home dashboard's two "Active members" tiles agree.
    tiles = {t.key: t for t in members_tiles(filters)}
    assert tiles["active-members"].value == 1
    # Over several months a member counts once, by the same rule.
    html = client.get("/kpis/members/?start=2026-09-01&end=2026-11-30").content.decode()
    assert tile(html, "active-members") == "4"  # cat, eve, ann, bob
    html = client.get(f"/kpis/members/?{LATE_NOVEMBER}&store=KHH01").content.decode()
    assert tile(html, "active-members") == "1"  # bob
    html = client.get(f"/kpis/members/?{LATE_NOVEMBER}&store=TPE01").content.decode()
    assert tile(html, "active-members") == "0"


def test_previous_months_are_as_many_whole_months_just_before():
    filters = KpiFilters(start=date(2026, 11, 8), end=date(2026, 12, 7), compare=True)
    before = filters.previous_months()
    assert (before.start, before.end) == (date(2026, 9, 1), date(2026, 10, 31))
    assert before.months == [date(2026, 9, 1), date(2026, 10, 1)]
    january = KpiFilters(start=date(2026, 1, 5), end=date(2026, 1, 20)).previous_months()
    assert (january.start, january.end) == (date(2025, 12, 1), date(2025, 12, 31))


def test_the_omo_figures_compare_with_the_previous_whole_months(members):  # noqa: F811
    # 8 Nov – 7 Dec touches November and December; compared with September and October:
    # cat online only and eve store only in September, eve store only in October: no OMO.
    # (The day-shifted period, 9 Oct – 7 Nov, would count October and November again: ann's
    # November OMO month in both, a 25% share.)
    filters = KpiFilters(start=date(2026, 11, 8), end=date(2026, 12, 7), compare=True)
    tiles = {t.key: t for t in members_tiles(filters)}
    assert tiles["omo-share"].value == pytest.approx(100 / 3)  # ann of ann, bob, cat
    assert tiles["omo-share"].previous == 0
    assert "緊接其前相同數目的完整月份" in str(tiles["omo-share"].note)
    # Active members stay day-based: 9 Oct – 7 Nov: eve (3 Oct) out; ann, bob, cat in.
    assert tiles["active-members"].previous == 3


def _segment_of_everyone() -> Segment:
    """A segment every member is in (all made women): its live figures must be the rollups'."""
    Member.objects.update(gender="female")
    return Segment.objects.create(
        name="Everyone",
        definition={
            "op": "and",
            "rules": [{"rule": "gender", "operator": "is", "value": "female"}],
        },
    )


def test_the_live_omo_split_classifies_like_the_rollup(members):  # noqa: F811
    everyone = _segment_of_everyone()
    stores = [None, *Store.objects.filter(code__in=["TPE01", "KHH01"])]
    for start, end in [
        (date(2026, 11, 1), date(2026, 11, 30)),
        (date(2026, 9, 1), date(2026, 11, 30)),
    ]:
        for store in stores:
            rollup = omo_figures(KpiFilters(start=start, end=end, store=store))
            live = omo_figures(KpiFilters(start=start, end=end, store=store, segment=everyone))
            assert live == rollup, (start, store)
    tpe = omo_figures(
        KpiFilters(
            date(2026, 11, 1),
            date(2026, 11, 30),
            store=Store.objects.get(code="TPE01"),
            segment=everyone,
        )
    )
    assert (tpe.omo.members, tpe.omo.orders, tpe.omo.revenue_twd) == (1, 2, 3_000)
    assert tpe.active == 1


def test_the_page_names_the_same_month_omo_and_how_it_differs_from_the_segment(
    members,  # noqa: F811
    login_as,
):
    client = login_as("carol")
    html = client.get("/kpis/members/?start=2026-11-01&end=2026-11-30").content.decode()
    assert "在同一個月內同時於線上與門市消費的活躍會員" in html
    assert "這與會員分群的 OMO 購物者類型不同" in html
    assert csv(client, "omo")[0].startswith("同月 OMO（線上與門市）,1,33.3,3000")


def test_the_cohort_and_rfm_labels_are_translated(members, login_as):  # noqa: F811
    client = login_as("carol")
    response = client.get("/kpis/members/cohort-retention.csv?start=2026-11-01&end=2026-11-30")
    header = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()[0]
    assert "M0" not in header
    assert "第0月 活躍 %" in header and "第11月 活躍 %" in header
    html = client.get("/kpis/members/?start=2026-11-01&end=2026-11-30").content.decode()
    figures = [
        json.loads(part.split("</script>", 1)[0])
        for part in html.split('type="application/json">')[1:]
    ]
    text = json.dumps(figures, ensure_ascii=False)
    assert "第1月" in text and "近度5" in text and "頻率5" in text
    assert '"M1"' not in text and '"R5"' not in text and '"F5"' not in text


def test_a_segments_new_members_cohorts_and_rfm_grid_match_the_rollups(members):  # noqa: F811
    """Read from the segment's snapshot rows (joined day, channel, home store, cohort, RFM
    scores taken with the members), a segment of everyone gives the rollups' figures."""
    everyone = _segment_of_everyone()
    stores = [None, *Store.objects.filter(code__in=["TPE01", "KHH01"])]
    for start, end in [
        (date(2026, 11, 1), date(2026, 11, 30)),
        (date(2026, 8, 1), date(2026, 11, 30)),
    ]:
        for store in stores:
            for channel in ("", "line"):
                rollup = KpiFilters(start=start, end=end, store=store, channel=channel)
                live = KpiFilters(
                    start=start, end=end, store=store, channel=channel, segment=everyone
                )
                assert new_members_per_day(live) == new_members_per_day(rollup), (start, store)
            assert cohort_retention(live) == cohort_retention(rollup), (start, store)
    november = KpiFilters(start=date(2026, 11, 1), end=date(2026, 11, 30))
    grid = rfm_grid(november, None)
    assert sum(n for n, _revenue in grid.values()) == 4  # the four buyers (dan has no scores)
    assert rfm_grid(KpiFilters(november.start, november.end, segment=everyone), None) == grid
