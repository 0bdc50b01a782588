"""The order rollups: sales per day × channel × store and members' months, refreshed from the
order-change feed and rebuilt from the orders, to exact numbers."""

import random
from datetime import date, timedelta

import pytest

from crm.models import Store
from crm.services.merges import MergePair, members_merge
from omnichannel.kpis.models import (
    MemberActivityDaily,
    MemberActivityMonthly,
    RollupRun,
    SalesDaily,
)
from omnichannel.kpis.services import kpis_rebuild, kpis_refresh
from tests.factories import MemberFactory
from tests.kpis.helpers import at, sale, write

# The feed is read in committed intervals on PostgreSQL: a test must commit its orders.
pytestmark = pytest.mark.django_db(transaction=True)

D1, D2 = date(2026, 11, 30), date(2026, 12, 1)


def sales_rows() -> set[tuple]:
    stores = dict(Store.objects.values_list("pk", "code"))
    return {
        (
            row.day,
            row.channel,
            stores.get(row.store_id, ""),
            row.orders,
            row.revenue_twd,
            row.member_orders,
            row.member_revenue_twd,
        )
        for row in SalesDaily.objects.all()
    }


def activity_rows() -> set[tuple]:
    return set(
        MemberActivityMonthly.objects.values_list(
            "month", "member_id", "channel", "orders", "revenue_twd"
        )
    )


def daily_activity_rows() -> set[tuple]:
    return set(
        MemberActivityDaily.objects.values_list(
            "day", "member_id", "channel", "orders", "revenue_twd"
        )
    )


def test_refresh_sums_sales_per_taipei_day_channel_and_store_net_of_returns():
    # given a member's two store sales on 30 Nov (one at 23:30 Taipei, 15:30 UTC), a web sale
    # on 1 Dec with a partial return, and an anonymous store sale on 1 Dec
    ann = MemberFactory(home_store=None)
    write(
        sale("S1", 1_000, at(D1, 10), store="TPE01"),
        sale("S2", 500, at(D1, 23, 30), store="TPE01"),
        sale("W1", 2_000, at(D2, 9), channel="web"),
        sale("W1-R", -300, at(D2, 18), channel="web", returns="W1"),
        member=ann,
    )
    write(sale("S3", 800, at(D2, 11), store="TPE01"))

    run = kpis_refresh()

    assert run.status == RollupRun.Status.DONE
    assert sales_rows() == {
        (D1, "store", "TPE01", 2, 1_500, 2, 1_500),
        (D2, "web", "", 1, 1_700, 1, 1_700),  # the return is no order; revenue is net
        (D2, "store", "TPE01", 1, 800, 0, 0),  # anonymous: no member's share
    }
    assert activity_rows() == {
        (date(2026, 11, 1), ann.pk, "store", 2, 1_500),
        (date(2026, 12, 1), ann.pk, "web", 1, 1_700),
    }
    assert daily_activity_rows() == {(D1, ann.pk, "store", 2, 1_500), (D2, ann.pk, "web", 1, 1_700)}


def test_refresh_recomputes_only_touched_days_and_twice_changes_nothing():
    ann = MemberFactory(home_store=None)
    write(sale("S1", 1_000, at(D1), store="TPE01"), member=ann)
    kpis_refresh()
    before = sales_rows()

    kpis_refresh()  # nothing new
    assert sales_rows() == before

    # a later order of another day adds its day; the first day stays as it was
    write(sale("S2", 400, at(D2), store="TPE01"), member=ann)
    kpis_refresh()
    assert sales_rows() == before | {(D2, "store", "TPE01", 1, 400, 1, 400)}


def test_a_merge_moves_the_activity_to_the_survivor():
    survivor, merged = MemberFactory(home_store=None), MemberFactory(home_store=None)
    write(sale("S1", 1_000, at(D1), store="TPE01"), member=merged)
    kpis_refresh()

    members_merge(
        pairs=[MergePair(survivor_id=survivor.pk, merged_id=merged.pk, matched_keys=["manual"])]
    )
    kpis_refresh()

    assert activity_rows() == {(date(2026, 11, 1), survivor.pk, "store", 1, 1_000)}
    assert daily_activity_rows() == {(D1, survivor.pk, "store", 1, 1_000)}


def test_rebuild_gives_what_the_refreshes_gave():
    ann, bob = MemberFactory(home_store=None), MemberFactory(home_store=None)
    write(
        sale("S1", 1_000, at(D1), store="TPE01"), sale("W1", 300, at(D2), channel="web"), member=ann
    )
    kpis_refresh()
    write(sale("A1", 700, at(D2), channel="app"), member=bob)
    kpis_refresh()
    refreshed = (sales_rows(), activity_rows(), daily_activity_rows())

    run = kpis_rebuild()

    assert run.kind == RollupRun.Kind.REBUILD
    assert (sales_rows(), activity_rows(), daily_activity_rows()) == refreshed
    assert set(run.counts) >= {"orders"}
    kpis_refresh()  # the feed was skipped to the rebuild: nothing is counted twice
    assert (sales_rows(), activity_rows(), daily_activity_rows()) == refreshed


def test_active_members_count_each_member_once_in_every_scope():
    # given ann buying at two stores and on the web on 30 Nov, and in store again on 1 Dec;
    # bob buying on the web on 1 Dec only
    from crm.models import Store
    from omnichannel.kpis.filters import KpiFilters
    from omnichannel.kpis.selectors_sales import sales_by_channel, sales_totals

    ann, bob = MemberFactory(home_store=None), MemberFactory(home_store=None)
    write(
        sale("S1", 100, at(D1, 10), store="TPE01"),
        sale("S2", 100, at(D1, 11), store="KHH01"),
        sale("W1", 100, at(D1, 12), channel="web"),
        sale("S3", 100, at(D2, 10), store="TPE01"),
        member=ann,
    )
    write(sale("W2", 100, at(D2, 9), channel="web"), member=bob)
    kpis_refresh()
    tpe = Store.objects.get(code="TPE01")

    def active(start, end, **narrow) -> int:
        return sales_totals(KpiFilters(start=start, end=end, **narrow)).active_members

    assert active(D1, D2) == 2
    assert active(D2, D2) == 2  # ann's 1 Dec follows an earlier day, outside the period
    assert active(D1, D1) == 1
    assert active(D1, D2, channel="store") == 1
    assert active(D1, D2, channel="web") == 2
    assert active(D1, D2, store=tpe) == 1
    assert active(D2, D2, store=tpe) == 1
    per_channel = {
        row.channel: row.active_members for row in sales_by_channel(KpiFilters(start=D1, end=D2))
    }
    assert (per_channel["store"], per_channel["web"], per_channel["app"]) == (1, 2, 0)


def test_a_segment_narrows_active_members_to_its_members():
    from crm.models import Segment
    from omnichannel.kpis.filters import KpiFilters
    from omnichannel.kpis.selectors_sales import sales_totals

    ann = MemberFactory(home_store=None, gender="female")
    bob = MemberFactory(home_store=None, gender="male")
    write(sale("S1", 100, at(D1), store="TPE01"), member=ann)
    write(sale("S2", 100, at(D1), store="TPE01"), member=bob)
    kpis_refresh()
    women = Segment.objects.create(
        name="Women",
        definition={
            "op": "and",
            "rules": [{"rule": "gender", "operator": "is", "value": "female"}],
        },
    )
    filters = KpiFilters(start=D1, end=D2, segment=women)

    assert sales_totals(filters).active_members == 1
    assert sales_totals(filters.previous()).active_members == 0


def test_an_order_moved_to_another_day_leaves_the_members_old_day():
    ann = MemberFactory(home_store=None)
    write(sale("S1", 1_000, at(D1), store="TPE01"), member=ann)
    kpis_refresh()

    write(sale("S1", 1_000, at(D2), store="TPE01"), member=ann)  # the shop corrected the day
    kpis_refresh()

    assert daily_activity_rows() == {(D2, ann.pk, "store", 1, 1_000)}
    assert activity_rows() == {(date(2026, 12, 1), ann.pk, "store", 1, 1_000)}


def all_daily_columns() -> set[tuple]:
    return set(
        MemberActivityDaily.objects.values_list(
            "day",
            "member_id",
            "channel",
            "store_id",
            "orders",
            "revenue_twd",
            "previous_day",
            "previous_day_channel",
            "previous_day_store",
        )
    )


def all_monthly_columns() -> set[tuple]:
    return set(
        MemberActivityMonthly.objects.values_list(
            "month", "member_id", "channel", "store_id", "orders", "revenue_twd"
        )
    )


def test_refreshes_rewriting_from_the_touched_month_give_what_the_rebuild_gives():
    """Each refresh rewrites a member's rows from the month of the earliest day touched,
    the first new row's previous active day taken from the member's kept rows: after rounds
    of new, back-dated, moved and returned orders and a merge, every column (the previous
    active days of the three scopes included) equals a rebuild's."""
    rng = random.Random(14)
    members = [MemberFactory(home_store=None) for _ in range(4)]
    written: list[tuple] = []  # (no, member, channel, store, amount, day)
    days = [date(2026, 9, 1) + timedelta(days=i) for i in range(0, 90, 3)]
    channels = (("store", "TPE01"), ("store", "TPE02"), ("web", ""), ("app", ""))

    def order(no: str, member, day: date, amount: int, returns: str = ""):
        channel, store = channels[rng.randrange(len(channels))]
        if returns:
            channel, store = "store", "TPE01"
        written.append((no, member, channel, store, amount, day))
        write(
            sale(no, amount, at(day), channel=channel, store=store, returns=returns), member=member
        )

    for round_no in range(5):
        # new orders late in the period, then one back-dated into an earlier month
        for i in range(6):
            order(f"N{round_no}-{i}", rng.choice(members), rng.choice(days[-8:]), 100 + i)
        order(f"B{round_no}", rng.choice(members), rng.choice(days[:10]), 500)
        # an order moved to another day (the same number, a new placed_at)
        no, member, channel, store, amount, _day = rng.choice(written)
        moved = rng.choice(days)
        write(sale(no, amount, at(moved), channel=channel, store=store), member=member)
        # a store sale returned in part
        sold = [row for row in written if row[2] == "store" and row[4] > 0 and row[3] == "TPE01"]
        if sold:
            no, member, _c, _s, amount, day = rng.choice(sold)
            order(f"R{round_no}", member, day, -(amount // 2), returns=no)
        kpis_refresh()
    members_merge(
        pairs=[MergePair(survivor_id=members[0].pk, merged_id=members[1].pk, matched_keys=["x"])]
    )
    kpis_refresh()
    refreshed = (all_daily_columns(), all_monthly_columns())
    assert refreshed[0] and any(row[6] for row in refreshed[0])  # previous days were set

    kpis_rebuild()

    assert (all_daily_columns(), all_monthly_columns()) == refreshed
