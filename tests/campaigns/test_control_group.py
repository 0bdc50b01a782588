"""The global control group: one rule in Python, in a queryset and in raw SQL; the nightly
figures against a hand data set; the lift and its interval equal scipy's Welch test on the raw
per-member revenues; the campaigns list's card, for an analyst, with no personal data."""

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from scipy import stats

from campaigns.control_group import (
    control_group_bucket,
    control_group_q,
    in_control_group,
    in_control_group_sql,
)
from campaigns.models import ControlGroupFigures
from campaigns.selectors_insight import control_group_card
from campaigns.services.control_group import control_group_figures_compute
from crm.models import Member, Order
from tests.factories import MemberFactory, OrderFactory


def _members(count: int) -> list[Member]:
    Member.objects.bulk_create(
        Member(member_no=f"CG{n:06d}", name=f"會員{n}") for n in range(count)
    )
    return list(Member.objects.order_by("pk"))


@pytest.mark.django_db
def test_the_rule_is_the_same_in_python_in_a_queryset_and_in_sql(settings):
    settings.CAMPAIGN_GLOBAL_CONTROL_PERCENT = 10
    members = _members(2000)
    expected = {m.pk for m in members if in_control_group(m.pk)}

    by_queryset = set(Member.objects.filter(control_group_q()).values_list("pk", flat=True))
    condition, params = in_control_group_sql("id")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM crm_member WHERE {condition}", params)  # noqa: S608
        by_sql = {row[0] for row in cursor.fetchall()}

    assert by_queryset == by_sql == expected
    assert 150 < len(expected) < 250  # about 10 % of 2,000
    assert all(0 <= control_group_bucket(m.pk) < 10_000 for m in members[:50])
    # A new salt draws another group; no share, no group.
    settings.CAMPAIGN_CONTROL_GROUP_SALT = "another"
    assert {m.pk for m in members if in_control_group(m.pk)} != expected
    settings.CAMPAIGN_GLOBAL_CONTROL_PERCENT = 0
    assert not Member.objects.filter(control_group_q()).exists()


def _hand_data_set():
    """40 active members with orders of known amounts in the window, and the rows that must
    not count: an order 40 days ago, a cancelled one, an erased member's; a partial return
    lowers its member's revenue without being a sale."""
    now = timezone.now()
    revenue: dict[int, int] = {}
    buyers: set[int] = set()
    for i in range(40):
        member = MemberFactory(home_store=None)
        revenue[member.pk] = 0
        if i % 3 == 0:
            continue  # no order
        amounts = [(i * 137) % 900 + 100] + ([(i * 59) % 2_000 + 50] if i % 4 == 0 else [])
        for amount in amounts:
            OrderFactory(member=member, channel="web", amount_twd=amount, placed_at=now)
        revenue[member.pk] += sum(amounts)
        buyers.add(member.pk)
        if i % 5 == 0:
            OrderFactory(member=member, channel="web", amount_twd=-60, placed_at=now)
            revenue[member.pk] -= 60
        if i % 7 == 0:
            OrderFactory(
                member=member, channel="web", amount_twd=999, placed_at=now - timedelta(days=40)
            )
            OrderFactory(
                member=member,
                channel="web",
                amount_twd=777,
                placed_at=now,
                status=Order.Status.CANCELLED,
            )
    erased = MemberFactory(home_store=None, status=Member.Status.ERASED)
    OrderFactory(member=erased, channel="web", amount_twd=5_000, placed_at=now)
    return revenue, buyers


@pytest.mark.django_db
def test_the_nightly_figures_and_the_lift_equal_scipy_on_a_hand_data_set(settings):
    settings.CAMPAIGN_GLOBAL_CONTROL_PERCENT = 50
    revenue, buyers = _hand_data_set()
    control = [r for pk, r in revenue.items() if in_control_group(pk)]
    rest = [r for pk, r in revenue.items() if not in_control_group(pk)]
    assert len(control) >= 5 and len(rest) >= 5

    figures = control_group_figures_compute(day=timezone.localdate())

    assert figures.percent == 50 and figures.window_days == 30
    assert figures.control_members == len(control)
    assert figures.rest_members == len(rest)
    assert figures.control_buyers == len([pk for pk in buyers if in_control_group(pk)])
    assert figures.rest_buyers == len([pk for pk in buyers if not in_control_group(pk)])
    assert figures.control_revenue_twd == sum(control)
    assert figures.rest_revenue_twd == sum(rest)
    assert figures.control_revenue_sumsq == sum(r * r for r in control)
    assert figures.rest_revenue_sumsq == sum(r * r for r in rest)

    card = control_group_card()
    welch = stats.ttest_ind(rest, control, equal_var=False)
    low, high = welch.confidence_interval(0.95)
    difference = sum(rest) / len(rest) - sum(control) / len(control)
    assert card.lift.difference == pytest.approx(difference)
    assert card.lift.p_value == pytest.approx(welch.pvalue, rel=1e-9)
    assert (card.lift.ci_low, card.lift.ci_high) == (
        pytest.approx(low, rel=1e-9),
        pytest.approx(high, rel=1e-9),
    )
    assert card.lift.significant == (welch.pvalue < 0.05)


@pytest.mark.django_db
def test_a_rerun_of_the_same_day_replaces_its_figures(settings):
    settings.CAMPAIGN_GLOBAL_CONTROL_PERCENT = 20
    _members(30)
    day = timezone.localdate()
    control_group_figures_compute(day=day)
    Member.objects.filter(pk__in=Member.objects.order_by("pk")[:5].values("pk")).update(
        status=Member.Status.ERASED
    )
    figures = control_group_figures_compute(day=day)
    assert ControlGroupFigures.objects.count() == 1
    assert figures.control_members + figures.rest_members == 25


@pytest.mark.django_db
def test_no_control_group_counts_nothing_and_the_card_says_so(settings, login_as):
    settings.CAMPAIGN_GLOBAL_CONTROL_PERCENT = 0
    assert control_group_figures_compute() is None
    html = login_as("bob").get(reverse("campaigns:index")).content.decode()
    assert 'data-testid="control-group-none"' in html


@pytest.mark.django_db
def test_the_card_shows_the_lift_to_an_analyst_without_personal_data(settings, login_as):
    settings.CAMPAIGN_GLOBAL_CONTROL_PERCENT = 50
    _hand_data_set()
    control_group_figures_compute(day=timezone.localdate())
    card = control_group_card()

    response = login_as("carol").get(reverse("campaigns:index"))

    assert response.status_code == 200
    html = response.content.decode()
    start = html.index('data-testid="control-group-card"')
    section = html[start : html.index("</section>", start)]
    assert 'data-testid="control-group-table"' in section
    assert 'data-testid="control-group-lift"' in section
    significant = "true" if card.lift.significant else "false"
    assert f'data-significant="{significant}"' in section
    assert f"NT${round(card.lift.difference):,}".replace("NT$-", "-NT$") in section
    for member in Member.objects.all():
        assert member.member_no not in section and member.name not in section


@pytest.mark.django_db
def test_the_card_waits_for_the_first_night(settings, login_as):
    settings.CAMPAIGN_GLOBAL_CONTROL_PERCENT = 5
    html = login_as("carol").get(reverse("campaigns:index")).content.decode()
    assert 'data-testid="control-group-waiting"' in html
