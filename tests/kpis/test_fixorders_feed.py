"""The orders rollup and the rollups derived from it, against the order-change feed's hard
cases: a drain of many batches (rewritten once), a failed rewrite (the cursor stays), an order
moved to another day (its old day and month recomputed), and an order committed between the
orders rollup and the cohort/OMO refreshes (not lost)."""

from datetime import date

import pytest

from crm.models import OrderChange, OrderChangeCursor
from omnichannel.kpis import rollups_orders
from omnichannel.kpis.models import (
    CohortMonthly,
    KpiDirtyMonth,
    MemberActivityDaily,
    MemberActivityMonthly,
    OmoMonthly,
    RollupRun,
    SalesDaily,
)
from omnichannel.kpis.rollups_members import cohorts_mark_all, cohorts_refresh, omo_refresh
from omnichannel.kpis.services import kpis_rebuild, kpis_refresh
from tests.factories import MemberFactory
from tests.kpis.helpers import at, sale, write

# The feed is read in committed intervals on PostgreSQL: a test must commit its orders.
pytestmark = pytest.mark.django_db(transaction=True)

NOV, DEC = date(2026, 11, 1), date(2026, 12, 1)


def sales() -> set[tuple]:
    return set(SalesDaily.objects.values_list("day", "channel", "orders", "revenue_twd"))


def monthly() -> set[tuple]:
    return set(MemberActivityMonthly.objects.values_list("month", "channel", "orders"))


def cohorts() -> set[tuple]:
    return set(
        CohortMonthly.objects.filter(store_id__isnull=True).values_list(
            "cohort", "month", "members", "revenue_twd"
        )
    )


def omo() -> set[tuple]:
    return set(
        OmoMonthly.objects.filter(store_id=None).values_list("month", "kind", "members", "orders")
    )


def test_a_drain_of_many_batches_rewrites_the_days_once(monkeypatch):
    # given three orders of one member on two days, fed one change per batch
    member = MemberFactory()
    write(
        sale("A", 100, at(date(2026, 11, 3))),
        sale("B", 200, at(date(2026, 11, 3))),
        sale("C", 300, at(date(2026, 11, 4))),
        member=member,
    )
    monkeypatch.setattr(rollups_orders, "FEED_BATCH", 1)
    rewrites: list[set[date]] = []
    rewrite = rollups_orders.sales_days_rewrite

    def counted(days):
        rewrites.append(set(days))
        return rewrite(days)

    monkeypatch.setattr(rollups_orders, "sales_days_rewrite", counted)
    # when the orders rollup refreshes
    assert rollups_orders.orders_refresh() == 3
    # then both days are rewritten in one go, not once per batch
    assert rewrites == [{date(2026, 11, 3), date(2026, 11, 4)}]
    assert sales() == {(date(2026, 11, 3), "store", 2, 300), (date(2026, 11, 4), "store", 1, 300)}
    assert monthly() == {(NOV, "store", 3)}


def test_a_failed_rewrite_rolls_back_the_cursor_advance(monkeypatch):
    member = MemberFactory()
    write(
        sale("A", 100, at(date(2026, 11, 3))), sale("B", 200, at(date(2026, 11, 4))), member=member
    )
    monkeypatch.setattr(rollups_orders, "FEED_BATCH", 1)

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(rollups_orders, "activity_rewrite", broken)
    # when the rewrite after the drain fails in a run
    with pytest.raises(RuntimeError):
        kpis_refresh()
    assert RollupRun.objects.get().status == RollupRun.Status.FAILED
    # then neither the rollup nor the cursor moved: the next run folds both orders in
    assert not SalesDaily.objects.exists()
    assert not OrderChangeCursor.objects.filter(consumer=rollups_orders.CONSUMER, last_id__gt=0)
    assert not KpiDirtyMonth.objects.exists()
    monkeypatch.undo()
    kpis_refresh()
    assert sales() == {(date(2026, 11, 3), "store", 1, 100), (date(2026, 11, 4), "store", 1, 200)}
    assert monthly() == {(NOV, "store", 2)}
    assert not KpiDirtyMonth.objects.exists()  # cohorts and OMO took their months


def test_an_order_placed_at_another_time_leaves_its_old_day_and_month():
    # given a member's web order of 30 Nov and store order of 2 Dec, folded in
    member = MemberFactory()
    write(
        sale("W", 500, at(date(2026, 11, 30)), channel="web"),
        sale("S", 300, at(date(2026, 12, 2))),
        member=member,
    )
    kpis_refresh()
    assert omo() == {(NOV, "online_only", 1, 1), (DEC, "store_only", 1, 1)}
    # when a corrected export moves the web order to 1 Dec
    write(sale("W", 500, at(date(2026, 12, 1)), channel="web"), member=member)
    # then the feed says where it was
    change = OrderChange.objects.order_by("-id").first()
    assert change.old_placed_at == at(date(2026, 11, 30))
    kpis_refresh()
    # and the refresh recomputed 30 Nov and November as well as 1 Dec and December
    assert sales() == {(date(2026, 12, 1), "web", 1, 500), (date(2026, 12, 2), "store", 1, 300)}
    assert set(MemberActivityDaily.objects.values_list("day", flat=True)) == {
        date(2026, 12, 1),
        date(2026, 12, 2),
    }
    assert monthly() == {(DEC, "web", 1), (DEC, "store", 1)}
    assert omo() == {(DEC, "omo", 1, 2)}
    assert cohorts() == {(DEC, DEC, 1, 800)}
    # the same as a rebuild
    before = (sales(), monthly(), omo(), cohorts())
    kpis_rebuild()
    assert (sales(), monthly(), omo(), cohorts()) == before


def test_an_order_committed_between_the_orders_rollup_and_the_cohorts_is_not_lost():
    member = MemberFactory()
    write(sale("S", 300, at(date(2026, 11, 2))), member=member)
    kpis_refresh()
    # given an order committed after the orders rollup drained, before cohorts and OMO ran
    write(sale("W", 500, at(date(2026, 11, 5)), channel="web"), member=member)
    cohorts_refresh()
    omo_refresh()
    # when the next run folds it in
    kpis_refresh()
    # then cohorts and OMO count it
    assert cohorts() == {(NOV, NOV, 1, 800)}
    assert omo() == {(NOV, "omo", 1, 2)}


def test_the_nightly_mark_recomputes_cohorts_whose_first_purchase_moved():
    # given a member whose first purchase is in December
    member = MemberFactory()
    write(sale("D", 300, at(date(2026, 12, 2))), member=member)
    kpis_refresh()
    assert cohorts() == {(DEC, DEC, 1, 300)}
    # when a back-dated October order arrives: October is recomputed, December is not
    write(sale("O", 100, at(date(2026, 10, 9))), member=member)
    kpis_refresh()
    oct_ = date(2026, 10, 1)
    assert cohorts() == {(oct_, oct_, 1, 100), (DEC, DEC, 1, 300)}  # stale until the night
    # then the nightly mark has the next refresh move December to the October cohort
    assert cohorts_mark_all() == 2
    kpis_refresh()
    assert cohorts() == {(oct_, oct_, 1, 100), (oct_, DEC, 1, 300)}
