"""Members' purchase figures and RFM groups, against answers counted by hand."""

from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest

from crm.models import Member, MemberStats, RfmGroup
from crm.services import member_forget, member_merge_by_hand, member_unmerge
from crm.services.orders import OrderIn, orders_upsert
from crm.services.stats import member_stats_rebuild, member_stats_refresh, member_stats_rfm_score
from tests.factories import MemberFactory, OrderFactory

pytestmark = pytest.mark.django_db
TAIPEI = ZoneInfo("Asia/Taipei")
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=TAIPEI)


def order(no: str, amount: int, *, channel="store", days_ago=10, status="placed", returns=""):
    return OrderIn(
        channel=channel,
        external_no=no,
        amount_twd=amount,
        placed_at=NOW - timedelta(days=days_ago),
        status=status,
        store_code="TPE01" if channel == "store" else "",
        is_return=bool(returns),
        returns_external_no=returns,
    )


def test_figures_count_placed_sales_net_of_returns():
    member = MemberFactory()
    orders = [
        order("S1", 1_000, days_ago=400),
        order("W1", 500, channel="web", days_ago=20),
        order("R1", -200, returns="S1", days_ago=399),  # partial return: spend nets it out
        order("W2", 300, channel="web", status="cancelled"),
        order("S2", 800, days_ago=5),
        order("R2", -800, returns="S2", days_ago=4),  # whole return: both rows leave figures
    ]

    orders_upsert(orders=orders, member_ids=[member.pk] * len(orders))

    stats = MemberStats.objects.get(member=member)
    assert stats.total_spend_twd == 1_300
    assert (stats.orders_count, stats.orders_online, stats.orders_offline) == (2, 1, 1)
    assert stats.channels == ["store", "web"] and stats.is_omo
    assert stats.first_purchase_at == NOW - timedelta(days=400)
    assert stats.last_purchase_at == NOW - timedelta(days=20)
    assert stats.average_order_twd == 650


def test_figures_are_relative_to_the_365_day_window():
    member = MemberFactory()
    orders = [order("S1", 1_000, days_ago=400), order("S2", 250, days_ago=30)]
    orders_upsert(orders=orders, member_ids=[member.pk, member.pk])

    member_stats_refresh(member_ids=[member.pk], at=NOW)

    stats = MemberStats.objects.get(member=member)
    assert (stats.spend_365d_twd, stats.orders_365d) == (250, 1)


def test_a_return_without_a_member_still_updates_the_sales_member():
    member = MemberFactory()
    orders_upsert(orders=[order("S1", 800)], member_ids=[member.pk])

    orders_upsert(orders=[order("R1", -800, returns="S1")], member_ids=[None])

    stats = MemberStats.objects.get(member=member)
    assert (stats.total_spend_twd, stats.orders_count) == (0, 0)


def test_a_merge_moves_figures_to_the_survivor_and_undo_moves_them_back(alice):
    older, newer = MemberFactory(), MemberFactory()
    OrderFactory(member=older, amount_twd=100)
    OrderFactory(member=newer, amount_twd=900, channel="web")
    member_stats_refresh(member_ids=[older.pk, newer.pk])

    log = member_merge_by_hand(first=older, second=newer, reason="same person", actor=alice)

    assert MemberStats.objects.get(member=older).total_spend_twd == 1_000
    assert MemberStats.objects.get(member=older).is_omo
    assert not MemberStats.objects.filter(member=newer).exists()

    member_unmerge(merge_log=log, actor=alice)

    assert MemberStats.objects.get(member=older).total_spend_twd == 100
    assert MemberStats.objects.get(member=newer).total_spend_twd == 900


def test_an_erased_member_has_no_figures(alice):
    member = MemberFactory()
    OrderFactory(member=member)
    member_stats_refresh(member_ids=[member.pk])

    member_forget(member=member, actor=alice, reason="PDPA request 7")

    assert not MemberStats.objects.filter(member=member).exists()


def _buyer(orders: list[tuple[int, int]]) -> Member:
    """A member with (days ago, amount) sales."""
    member = MemberFactory()
    for days_ago, amount in orders:
        OrderFactory(member=member, amount_twd=amount, placed_at=NOW - timedelta(days=days_ago))
    return member


def test_rfm_scores_and_groups_match_the_hand_count():
    # Given five buyers, each a quintile of its own on recency; frequency 1, 1, 2, 3, 5 orders.
    lost = _buyer([(300, 100)])  # R1 F1
    hibernating = _buyer([(250, 100)])  # R2 F1
    steady = _buyer([(200, 100), (210, 100)])  # 2 orders rank third of five: F3
    loyal = _buyer([(100, 100), (110, 100), (120, 100)])
    champion = _buyer([(1, 500), (2, 500), (3, 500), (4, 500), (5, 500)])
    never = MemberFactory()
    lapsed = _buyer([(500, 9_000)])  # outside the window: no scores

    member_stats_rebuild(at=NOW)

    def score(member):
        s = MemberStats.objects.get(member=member)
        return (s.rfm_recency, s.rfm_frequency, s.rfm_monetary, s.rfm_group)

    # n = 5 scored members; score = 1 + 5 * (rank - 1) // 5 = rank for distinct values.
    # Frequency ranks: 1 order ×2 (rank 1), 2 orders (rank 3), 3 (rank 4), 5 (rank 5).
    assert score(lost) == (1, 1, 1, RfmGroup.LOST)
    assert score(hibernating) == (2, 1, 1, RfmGroup.HIBERNATING)
    assert score(steady) == (3, 3, 3, RfmGroup.LOYAL)
    assert score(loyal) == (4, 4, 4, RfmGroup.CHAMPIONS)
    assert score(champion) == (5, 5, 5, RfmGroup.CHAMPIONS)
    assert score(never) == (None, None, None, "")
    assert score(lapsed) == (None, None, None, "")


@pytest.mark.parametrize(
    ("recency_days", "orders", "expected"),
    [
        # Ten buyers give each score two members; the one under test is scored against them.
        (1, 1, RfmGroup.NEW),
        (300, 9, RfmGroup.CANT_LOSE),
        (250, 6, RfmGroup.AT_RISK),
        (150, 6, RfmGroup.LOYAL),
        (150, 2, RfmGroup.POTENTIAL),
    ],
)
def test_rfm_groups_by_recency_and_frequency(recency_days, orders, expected):
    # Background: buyers spread over recency 10…280 days and 1…9 orders.
    for i in range(9):
        _buyer([(10 + 30 * i - k, 100) for k in range(1 + i)])
    member = _buyer([(recency_days + k, 100) for k in range(orders)])

    member_stats_rebuild(at=NOW)

    assert MemberStats.objects.get(member=member).rfm_group == expected


def test_rebuild_twice_writes_the_same_figures():
    _buyer([(3, 100), (40, 250)])
    member_stats_rebuild(at=NOW)
    first = list(MemberStats.objects.order_by("pk").values())

    member_stats_rebuild(at=NOW)

    assert [
        {k: v for k, v in row.items() if k != "refreshed_at"}
        for row in MemberStats.objects.order_by("pk").values()
    ] == [{k: v for k, v in row.items() if k != "refreshed_at"} for row in first]


def test_scoring_clears_members_who_left_the_window():
    member = _buyer([(30, 100)])
    member_stats_rebuild(at=NOW)
    assert MemberStats.objects.get(member=member).rfm_group

    member_stats_rebuild(at=NOW + timedelta(days=400))

    assert MemberStats.objects.get(member=member).rfm_group == ""
    assert member_stats_rfm_score() == {group.value: 0 for group in RfmGroup}


def test_the_rebuild_is_a_nightly_beat_job_and_a_command():
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    from crm.tasks import member_stats_rebuild_task

    member = _buyer([(3, 100)])
    assert PeriodicTask.objects.filter(task="crm.tasks.member_stats_rebuild_task").exists()

    assert member_stats_rebuild_task.apply().get() == 1
    call_command("rebuild_member_stats", stdout=StringIO())

    assert MemberStats.objects.get(member=member).rfm_group == RfmGroup.LOST


def test_a_changed_order_refreshes_its_members_figures_when_the_row_names_no_one():
    member = MemberFactory()
    orders_upsert(orders=[order("S1", 800)], member_ids=[member.pk])

    orders_upsert(orders=[order("S1", 500)], member_ids=[None])  # a re-export without the card

    assert MemberStats.objects.get(member=member).total_spend_twd == 500
