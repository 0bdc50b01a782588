"""The programme overview: the period's points, the liability and its breakage forecast, tiers
and their movements, top rewards; and /loyalty/ itself (period in the URL, bad values shown)."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from loyalty.models import Coupon, Programme, Reward, Tier, TierChange
from loyalty.selectors_overview import (
    Period,
    breakage_observed,
    period_flows,
    programme_overview,
    top_rewards,
)
from tests.loyalty.overview_data import Kind, account_for, post, taipei

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
PERIOD = Period(start=TODAY - timedelta(days=9), end=TODAY - timedelta(days=5))


def _inside(offset: int = 0):
    return taipei(PERIOD.start + timedelta(days=offset))


def test_flows_count_only_the_periods_entries_by_kind():
    account = account_for()
    post(account, Kind.EARN, 500, taipei(PERIOD.start - timedelta(days=1), hour=23))  # before
    post(account, Kind.EARN, 300, _inside(0))
    post(account, Kind.ADJUST, 20, _inside(1), reason="goodwill")
    post(account, Kind.REDEEM, -200, _inside(2))
    post(account, Kind.EXPIRE, -50, _inside(3))
    post(account, Kind.REVERSE, -30, _inside(4))
    post(account, Kind.ADJUST, -5, _inside(4), reason="typo")
    post(account, Kind.EARN, 1_000, taipei(PERIOD.end + timedelta(days=1), hour=0))  # after

    flows = period_flows(period=PERIOD)

    assert (flows.issued, flows.redeemed, flows.expired, flows.other) == (320, 200, 50, -35)


def test_period_days_are_taipei_days():
    account = account_for()
    # 23:59 Taipei on the last day is inside; 00:00 the next day is not.
    post(account, Kind.EARN, 7, taipei(PERIOD.end, hour=23).replace(minute=59))
    post(account, Kind.EARN, 100, taipei(PERIOD.end + timedelta(days=1), hour=0))

    assert period_flows(period=PERIOD).issued == 7


def test_outstanding_is_the_balance_at_the_periods_end_and_reconciles():
    account = account_for()
    post(account, Kind.EARN, 500, _inside(-3))
    post(account, Kind.EARN, 300, _inside(1))
    post(account, Kind.REDEEM, -100, _inside(2))
    post(account, Kind.EARN, 1_000, taipei(TODAY))  # after the period: not outstanding at its end

    overview = programme_overview(period=PERIOD)

    assert overview.outstanding == 700
    assert overview.opening == 500
    flows = overview.flows
    assert (
        overview.opening + flows.issued - flows.redeemed - flows.expired + flows.other
        == overview.outstanding
    )


def test_breakage_is_the_expired_share_of_points_redeemed_or_expired_in_12_months():
    account = account_for()
    post(account, Kind.EARN, 5_000, taipei(TODAY - timedelta(days=400)))
    post(account, Kind.EXPIRE, -1_000, taipei(TODAY - timedelta(days=380)))  # outside 12 months
    post(account, Kind.REDEEM, -300, taipei(TODAY - timedelta(days=100)))
    post(account, Kind.EXPIRE, -100, taipei(TODAY - timedelta(days=30)))

    breakage = breakage_observed(until=TODAY)

    assert (breakage.redeemed, breakage.expired) == (300, 100)
    assert breakage.rate == pytest.approx(0.25)


def test_liability_is_outstanding_points_at_their_value_and_the_cost_nets_breakage():
    programme = Programme.current()
    programme.point_value_twd = 2
    programme.save()
    account = account_for()
    post(account, Kind.EARN, 4_000, taipei(TODAY - timedelta(days=200)))
    post(account, Kind.REDEEM, -300, taipei(TODAY - timedelta(days=100)))
    post(account, Kind.EXPIRE, -100, taipei(TODAY - timedelta(days=30)))

    overview = programme_overview(period=Period(start=TODAY - timedelta(days=29), end=TODAY))

    assert overview.outstanding == 3_600
    assert overview.liability_twd == 7_200
    assert overview.expected_cost_twd == 5_400  # 7,200 × (1 − 0.25)
    assert overview.expected_breakage_twd == 1_800


def test_without_redemptions_or_expiry_the_forecast_assumes_every_point_is_used():
    account = account_for()
    post(account, Kind.EARN, 900, taipei(TODAY))

    overview = programme_overview(period=Period(start=TODAY, end=TODAY))

    assert overview.breakage.rate is None
    assert overview.expected_cost_twd == overview.liability_twd == 900


def test_tiers_show_accounts_points_and_the_periods_upgrades_and_downgrades():
    silver, gold = Tier.objects.get(rank=1), Tier.objects.get(rank=2)
    base = Tier.objects.get(rank=0)
    upgraded = account_for(tier_rank=2)
    downgraded = account_for(tier_rank=1)
    account_for(tier_rank=1)
    account_for()  # not placed yet
    post(upgraded, Kind.EARN, 800, _inside(0))
    common = {"reason": TierChange.Reason.NIGHTLY, "spend_12m_twd": 0}
    TierChange.objects.create(
        account=upgraded, from_tier=silver, to_tier=gold, at=_inside(1), **common
    )
    TierChange.objects.create(
        account=downgraded, from_tier=gold, to_tier=silver, at=_inside(2), **common
    )
    TierChange.objects.create(
        account=downgraded, from_tier=None, to_tier=base, at=_inside(-5), **common
    )

    overview = programme_overview(period=PERIOD)

    rows = {(item.row.tier.rank if item.row.tier else None): item for item in overview.tiers}
    assert rows[None].row.accounts == 1
    assert rows[1].row.accounts == 2 and rows[1].percent == pytest.approx(50)
    assert rows[2].row.points == 800
    assert (rows[2].row.upgrades, rows[2].row.downgrades) == (1, 0)
    assert (rows[1].row.upgrades, rows[1].row.downgrades) == (0, 1)
    assert rows[0].row.upgrades == 0  # outside the period
    assert (overview.upgrades, overview.downgrades) == (1, 1)


def _reward(name: str, price: int) -> Reward:
    return Reward.objects.create(name=name, points_price=price)


def _coupon(n: int, reward: Reward, account, at, used: bool = False) -> Coupon:
    return Coupon.objects.create(
        code=f"C{n:08d}",
        reward=reward,
        account=account,
        issued_at=at,
        expires_at=at + timedelta(days=30),
        status=Coupon.Status.USED if used else Coupon.Status.ISSUED,
        used_at=at if used else None,
    )


def test_top_rewards_rank_rewards_by_coupons_issued_in_the_period():
    account = account_for()
    tea, bag = _reward("Tea", 100), _reward("Bag", 900)
    _coupon(1, tea, account, _inside(0), used=True)
    _coupon(2, tea, account, _inside(1))
    _coupon(3, bag, account, _inside(1), used=True)
    _coupon(4, bag, account, taipei(PERIOD.start - timedelta(days=3)))  # before the period
    _coupon(5, bag, account, taipei(PERIOD.start - timedelta(days=2)))

    rows = top_rewards(period=PERIOD)

    assert [(row.name, row.issued, row.used) for row in rows] == [("Tea", 2, 1), ("Bag", 1, 1)]


# --- The page ---------------------------------------------------------------------------------


def test_the_page_shows_the_figures_of_the_period_in_the_url(login_as):
    account = account_for()
    post(account, Kind.EARN, 1_234, _inside(0))
    post(account, Kind.REDEEM, -234, _inside(1))
    url = reverse("loyalty:index")

    page = login_as("carol").get(url, {"start": PERIOD.start, "end": PERIOD.end})

    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="figure-issued">1,234<' in html
    assert 'data-testid="figure-redeemed">234<' in html
    assert 'data-testid="figure-liability">NT$1,000<' in html
    assert "expired ÷ (redeemed + expired)" in html or "÷" in html
    assert page.context["figures"].period == PERIOD


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start": "2026-13-45"}, "start"),
        ({"start": "yesterday", "end": "soon"}, "end"),
        ({"start": "2026-05-10", "end": "2026-05-01"}, "end"),
        ({"start": "2001-01-01", "end": "2026-01-01"}, "start"),
    ],
)
def test_bad_period_values_are_shown_beside_the_field_and_the_default_period_used(
    login_as, query, field
):
    page = login_as("carol").get(reverse("loyalty:index"), query)

    assert page.status_code == 200
    assert page.context["form"].errors[field]
    assert 'data-testid="period-error"' in page.content.decode()
    assert page.context["figures"].period.end == TODAY


def test_an_htmx_request_gets_the_figures_alone(login_as):
    page = login_as("carol").get(
        reverse("loyalty:index"), {"start": PERIOD.start}, headers={"HX-Request": "true"}
    )

    html = page.content.decode()
    assert 'id="overview-figures"' in html and "<html" not in html


def test_the_overview_costs_a_fixed_number_of_queries(login_as, django_assert_max_num_queries):
    client = login_as("carol")
    for _ in range(3):
        account = account_for(tier_rank=1)
        post(account, Kind.EARN, 100, _inside(0))
        _coupon(account.pk, _reward(f"R{account.pk}", 10), account, _inside(0))
    client.get(reverse("loyalty:index"))  # warm the session and permission caches

    with django_assert_max_num_queries(14):
        client.get(reverse("loyalty:index"), {"start": PERIOD.start, "end": PERIOD.end})


def test_the_chart_numbers_download_as_csv(login_as):
    account = account_for()
    post(account, Kind.EARN, 40, _inside(0))

    response = login_as("carol").get(
        reverse("loyalty:overview_csv"), {"start": PERIOD.start, "end": PERIOD.end}
    )

    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert f"{PERIOD.start.isoformat()},40,0,0" in text


def test_the_navigation_leads_to_the_overview_not_a_placeholder(login_as):
    page = login_as("carol").get("/")

    assert f'href="{reverse("loyalty:index")}"' in page.content.decode()
    assert 'data-testid="upcoming"' not in login_as("carol").get("/loyalty/").content.decode()


def test_a_member_number_box_leads_to_the_members_points(login_as):
    account = account_for()
    member_no = account.member.member_no

    response = login_as("carol").get(reverse("loyalty:member_find"), {"member_no": member_no})

    assert response.url == reverse("loyalty:member_points", args=[member_no])


def test_member_find_with_an_unknown_number_goes_back_with_a_warning(login_as):
    response = login_as("carol").get(reverse("loyalty:member_find"), {"member_no": "NOPE"})

    assert response.url == reverse("loyalty:index")


def test_period_is_a_date_range_of_taipei_days():
    period = Period(start=date(2026, 3, 1), end=date(2026, 3, 31))

    assert period.days == 31
    assert timezone.localtime(period.end_at).date() == date(2026, 4, 1)


def test_the_date_inputs_show_the_period_shown(login_as):
    html = login_as("carol").get(reverse("loyalty:index")).content.decode()

    assert f'value="{(TODAY - timedelta(days=29)).isoformat()}"' in html
    assert f'value="{TODAY.isoformat()}"' in html
