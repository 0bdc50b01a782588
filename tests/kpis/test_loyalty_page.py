"""The Loyalty KPI page: points flows and the liability from the points rollup (loyalty's own
rules), tiers and coupons, wallet cards over time, wallet holders' purchase frequency; the
rollups' refresh; the page, its CSV and its headline."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from crm.models import Member
from loyalty.models import Coupon, Programme, Reward, Tier, TierChange, WalletPass
from loyalty.selectors_overview import Period, period_flows
from omnichannel.kpis.filters import KpiFilters
from omnichannel.kpis.models import PointsDaily, TierAccountsNow, WalletDaily
from omnichannel.kpis.pages.loyalty import (
    coupons_section,
    points_section,
    tiers_section,
)
from omnichannel.kpis.registry import HEADLINES
from omnichannel.kpis.rollups_holders import holdings_rebuild
from omnichannel.kpis.rollups_loyalty import points_rebuild, points_refresh, wallet_rebuild
from omnichannel.kpis.selectors_loyalty import (
    points_flows,
    points_liability,
    points_per_day,
    wallet_per_day,
    wallet_totals,
)
from omnichannel.kpis.services import kpis_refresh
from tests.factories import MemberFactory
from tests.loyalty.overview_data import Kind, account_for, post, taipei

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
START, END = TODAY - timedelta(days=9), TODAY - timedelta(days=5)
FILTERS = KpiFilters(start=START, end=END)


def _day(offset: int) -> date:
    return START + timedelta(days=offset)


def _ledger() -> None:
    """Before the period 500; in it +300, +20, −200 redeemed, −50 expired, −30 and −5; after
    it +1,000. The same entries as loyalty's own overview test."""
    account = account_for()
    post(account, Kind.EARN, 500, taipei(_day(-1), hour=23))
    post(account, Kind.EARN, 300, taipei(_day(0)))
    post(account, Kind.ADJUST, 20, taipei(_day(1)), reason="goodwill")
    post(account, Kind.REDEEM, -200, taipei(_day(2)))
    post(account, Kind.EXPIRE, -50, taipei(_day(3)))
    post(account, Kind.REVERSE, -30, taipei(_day(4)))
    post(account, Kind.ADJUST, -5, taipei(_day(4)), reason="typo")
    post(account, Kind.EARN, 1_000, taipei(END + timedelta(days=1), hour=0))


def _rows(model, *fields):
    return sorted(model.objects.values_list(*fields))


def test_points_flows_follow_loyaltys_rule_per_taipei_day():
    _ledger()
    points_rebuild()

    flows = points_flows(FILTERS)

    assert (flows.issued, flows.redeemed, flows.expired, flows.other) == (320, 200, 50, -35)
    assert flows == period_flows(period=Period(start=START, end=END))
    days = points_per_day(FILTERS)
    assert [(d.flows.issued, d.flows.redeemed, d.flows.expired, d.flows.other) for d in days] == [
        (300, 0, 0, 0),
        (20, 0, 0, 0),
        (0, 200, 0, 0),
        (0, 0, 50, 0),
        (0, 0, 0, -35),
    ]
    assert [d.outstanding for d in days] == [800, 820, 620, 570, 535]


def test_liability_and_breakage_at_the_periods_end():
    programme = Programme.current()
    programme.point_value_twd = 2
    programme.save()
    _ledger()
    points_rebuild()

    liability = points_liability(FILTERS)

    assert liability.outstanding == 535
    assert liability.liability_twd == 1_070
    # Breakage over the 12 months to the period's end: 50 expired of 250 left = 20 %.
    assert liability.breakage.rate == pytest.approx(0.2)
    assert liability.expected_cost_twd == 856  # 1,070 × 0.8
    assert liability.expected_breakage_twd == 214


def test_points_tiles_compare_with_the_period_before():
    _ledger()
    points_rebuild()

    content = points_section(KpiFilters(start=START, end=END, compare=True))

    tiles = {tile.key: tile for tile in content.tiles}
    assert (tiles["issued"].value, tiles["issued"].previous) == (320, 500)
    assert (tiles["redeemed"].value, tiles["redeemed"].previous) == (200, 0)
    assert (tiles["liability"].value, tiles["liability"].previous) == (535, 500)
    assert tiles["breakage"].value == pytest.approx(20.0)
    assert content.chart("points-per-day").rows[2] == [_day(2), 0, 200, 0, 0]


def test_the_points_refresh_recomputes_the_days_of_new_entries_and_is_idempotent():
    _ledger()
    assert points_refresh() > 0
    first = _rows(PointsDaily, "day", "kind", "source", "entries", "credit", "debit")

    points_refresh()
    assert _rows(PointsDaily, "day", "kind", "source", "entries", "credit", "debit") == first

    # An entry dated long ago (an import) lands on its own day at the next refresh.
    post(account_for(), Kind.EARN, 77, taipei(TODAY - timedelta(days=40)))
    points_refresh()
    refreshed = _rows(PointsDaily, "day", "kind", "source", "entries", "credit", "debit")
    assert (TODAY - timedelta(days=40), "earn", "order", 1, 77, 0) in refreshed

    points_rebuild()
    assert _rows(PointsDaily, "day", "kind", "source", "entries", "credit", "debit") == refreshed


def test_the_kpi_refresh_runs_the_loyalty_rollups_twice_with_the_same_rows():
    _ledger()
    _wallets()

    kpis_refresh()
    points = _rows(PointsDaily, "day", "kind", "credit", "debit")
    wallets = _rows(WalletDaily, "day", "platform", "added", "removed")
    kpis_refresh()

    assert points and wallets
    assert _rows(PointsDaily, "day", "kind", "credit", "debit") == points
    assert _rows(WalletDaily, "day", "platform", "added", "removed") == wallets


def test_tiers_count_members_and_the_periods_moves():
    silver, gold = Tier.objects.get(rank=1), Tier.objects.get(rank=2)
    upgraded = account_for(tier_rank=2)
    account_for(tier_rank=1)
    common = {"reason": TierChange.Reason.NIGHTLY, "spend_12m_twd": 0}
    TierChange.objects.create(
        account=upgraded, from_tier=silver, to_tier=gold, at=taipei(_day(1)), **common
    )

    content = tiers_section(FILTERS)

    tiles = {tile.key: tile.value for tile in content.tiles}
    assert tiles == {"upgrades": 1, "downgrades": 0}
    rows = {row[0]: row for row in content.chart("tiers").rows}
    assert rows[gold.name] == [gold.name, 1, 50.0, 1, 0]
    assert rows[silver.name] == [silver.name, 1, 50.0, 0, 0]


def test_tiers_are_counted_as_of_the_last_refresh():
    silver, gold = Tier.objects.get(rank=1), Tier.objects.get(rank=2)
    moving = account_for(tier_rank=1)
    account_for(tier_rank=1)
    kpis_refresh()
    assert TierAccountsNow.objects.get(tier_id=silver.pk).accounts == 2

    moving.tier = gold
    moving.save(update_fields=["tier"])
    rows = {row[0]: row for row in tiers_section(FILTERS).chart("tiers").rows}
    assert rows[silver.name][1:3] == [2, 100.0]  # the kept counts, not a scan per view

    kpis_refresh()
    rows = {row[0]: row for row in tiers_section(FILTERS).chart("tiers").rows}
    assert (rows[silver.name][1], rows[gold.name][1]) == (1, 1)


def test_coupon_use_rate_and_per_reward():
    account = account_for()
    tea = Reward.objects.create(name="Tea", points_price=100)
    bag = Reward.objects.create(name="Bag", points_price=900)
    for n, (reward, day, used) in enumerate(
        [(tea, 0, True), (tea, 1, False), (bag, 1, True), (bag, -3, True)]
    ):
        at = taipei(_day(day))
        Coupon.objects.create(
            code=f"C{n:08d}",
            reward=reward,
            account=account,
            issued_at=at,
            expires_at=at + timedelta(days=30),
            status=Coupon.Status.USED if used else Coupon.Status.ISSUED,
            used_at=at if used else None,
        )

    content = coupons_section(FILTERS)

    tiles = {tile.key: tile.value for tile in content.tiles}
    assert tiles["coupons-issued"] == 3
    assert tiles["coupon-use-rate"] == pytest.approx(200 / 3)
    assert content.chart("coupons-by-reward").rows == [
        ["Tea", 100, 2, 1, 50.0],
        ["Bag", 900, 1, 1, 100.0],
    ]


def _card(member, platform, added: int, removed: int | None = None) -> None:
    WalletPass.objects.create(
        member=member,
        platform=platform,
        serial=f"{platform}-{member.pk}",
        authentication_token="t",
        installed=removed is None,
        installed_at=taipei(_day(added)),
        removed_at=taipei(_day(removed)) if removed is not None else None,
    )


def _wallets():
    """m1: Apple since day −11, Google from day 1 to day 3; m2: Google since day 2;
    m3: Apple from day −21 to day −1; m4: none."""
    m1, m2, m3, m4 = (MemberFactory() for _ in range(4))
    apple, google = WalletPass.Platform.APPLE, WalletPass.Platform.GOOGLE
    _card(m1, apple, -11)
    _card(m1, google, 1, removed=3)
    _card(m2, google, 2)
    _card(m3, apple, -21, removed=-1)
    return m1, m2, m3, m4


def test_cards_in_wallets_per_day_per_platform_and_members_holding_one():
    _wallets()
    holdings_rebuild()
    wallet_rebuild()

    days = wallet_per_day(FILTERS)

    held = {
        platform: [d.in_wallets for d in days if d.platform == platform]
        for platform in ("", "apple", "google")
    }
    assert held["apple"] == [1, 1, 1, 1, 1]
    assert held["google"] == [0, 1, 2, 1, 1]
    assert held[""] == [1, 1, 2, 2, 2]  # m1 since day −11, m2 from day 2
    totals = wallet_totals(FILTERS)
    assert (totals.holders, totals.added, totals.removed) == (2, 2, 1)
    assert totals.members == Member.objects.count() == 4
    assert totals.adoption_percent == pytest.approx(50.0)


def test_the_page_shows_every_section_and_a_chart_downloads_as_csv(
    login_as, django_assert_max_num_queries
):
    _ledger()
    _wallets()
    kpis_refresh()
    client = login_as("carol")
    query = f"?start={START}&end={END}&compare=1"

    with django_assert_max_num_queries(36):
        response = client.get(f"/kpis/loyalty/{query}")

    assert response.status_code == 200
    assert response.context["section_errors"] == []
    keys = [chart.key for chart in response.context["content"].charts]
    assert keys == [
        "points-per-day",
        "liability-per-day",
        "tiers",
        "coupons-by-reward",
        "wallet-cards",
        "wallet-frequency",
    ]
    csv = client.get(f"/kpis/loyalty/points-per-day.csv{query}")
    lines = b"".join(csv.streaming_content).decode("utf-8-sig").splitlines()
    assert len(lines) == 6 and len(lines[0].split(",")) == 5  # the header, then 5 days
    assert lines[3] == f"{_day(2)},0,200,0,0"


def test_the_loyalty_headline_has_points_liability_and_wallet_adoption():
    _ledger()
    _wallets()
    kpis_refresh()

    tiles = HEADLINES.get("loyalty").build(KpiFilters(start=START, end=END, compare=True))

    assert [tile.key for tile in tiles] == ["issued", "redeemed", "liability", "wallet-adoption"]
    assert [tile.value for tile in tiles[:3]] == [320, 200, 535]
    assert tiles[3].value == pytest.approx(2 * 100 / 5)  # 2 holders of 5 members (1 in _ledger)
