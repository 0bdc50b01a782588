"""Wallet-card holders' purchase frequency: a member's month is a holder's when they held a
card at the month's end; the spans and the holders' months kept by the refresh agree with a
rebuild after cards are added, back-dated, removed and deleted and orders come in."""

from datetime import date

import pytest
from django.utils import timezone
from django.utils.translation import gettext

from crm.models import Member, Order, Segment
from loyalty.models import WalletPass
from omnichannel.kpis.filters import KpiFilters
from omnichannel.kpis.models import WalletDaily, WalletHoldersMonthly, WalletHolding
from omnichannel.kpis.pages.loyalty import frequency_section
from omnichannel.kpis.selectors_loyalty import holders_frequency
from omnichannel.kpis.services import kpis_rebuild, kpis_refresh
from tests.factories import MemberFactory
from tests.kpis.helpers import at, sale, write

OCTOBER, NOVEMBER = date(2026, 10, 1), date(2026, 11, 1)
AUTUMN = KpiFilters(start=OCTOBER, end=date(2026, 11, 30))
APPLE, GOOGLE = WalletPass.Platform.APPLE, WalletPass.Platform.GOOGLE


def _card(member, platform, added: date, removed: date | None = None) -> WalletPass:
    return WalletPass.objects.create(
        member=member,
        platform=platform,
        serial=f"{platform}-{member.pk}",
        authentication_token="t",
        installed=removed is None,
        installed_at=at(added),
        removed_at=at(removed) if removed else None,
    )


def _bought(member, day: date, orders: int, channel: str = "store") -> None:
    """Orders of the member on that day (0: a cancelled order only: a row, no purchase)."""
    status = Order.Status.PLACED if orders else Order.Status.CANCELLED
    write(
        *(
            sale(f"{member.pk}-{channel}-{day}-{i}", 100, at(day, hour=0, minute=i + 1),
                 channel=channel, store="S01", status=status)
            for i in range(max(orders, 1))
        ),
        member=member,
    )  # fmt: skip


def _autumn():
    """m1 holds a card since September; m2 added one on 20 November; m3 held one from
    September to 10 November (and one from Google, removed in October); m4 never did."""
    m1, m2, m3, m4 = (MemberFactory() for _ in range(4))
    _card(m1, APPLE, date(2026, 9, 15))
    _card(m2, GOOGLE, date(2026, 11, 20))
    _card(m3, APPLE, date(2026, 9, 1), removed=date(2026, 11, 10))
    _card(m3, GOOGLE, date(2026, 9, 2), removed=date(2026, 10, 3))
    _bought(m1, date(2026, 10, 5), 2)
    _bought(m1, date(2026, 10, 6), 1, channel="web")  # the same member-month, another channel
    _bought(m1, date(2026, 11, 5), 2)
    _bought(m2, date(2026, 10, 5), 1)  # before their card: the others'
    _bought(m2, date(2026, 11, 25), 2)
    _bought(m3, date(2026, 10, 7), 1)  # held at October's end
    _bought(m3, date(2026, 11, 12), 1)  # not at November's
    _bought(m4, date(2026, 11, 2), 2)
    _bought(m4, date(2026, 10, 2), 0)  # a cancelled order only: not active
    _bought(m4, date(2026, 9, 2), 5)  # before the period
    return m1, m2, m3, m4


@pytest.mark.django_db
def test_a_month_is_a_holders_when_the_card_was_held_at_its_end():
    _autumn()
    kpis_rebuild()

    frequency = holders_frequency(AUTUMN)

    # Holders: October m1 (3 orders) and m3 (1); November m1 (2) and m2 (2).
    assert (frequency.holders.member_months, frequency.holders.orders) == (4, 8)
    # The others: October m2 (1); November m3 (1) and m4 (2).
    assert (frequency.others.member_months, frequency.others.orders) == (3, 4)
    assert frequency.ratio == pytest.approx(1.5)  # 2 orders a month against 1.33
    assert dict(WalletHoldersMonthly.objects.values_list("month", "members")) == {
        OCTOBER: 2,
        NOVEMBER: 2,
    }
    content = frequency_section(AUTUMN)
    assert content.tiles[0].value == pytest.approx(1.5)
    assert content.chart("wallet-frequency").rows == [
        [gettext("Wallet-card holders"), 4, 8, 2.0],
        [gettext("Other active members"), 3, 4, 1.33],
    ]
    assert "1.50×" in str(content.chart("wallet-frequency").note)


@pytest.mark.django_db
def test_the_members_card_rows_come_from_the_spans():
    _autumn()
    kpis_rebuild()

    members = WalletDaily.objects.filter(platform="")

    assert {(row.day, row.added, row.removed) for row in members if row.added} == {
        (date(2026, 9, 15), 1, 0),
        (date(2026, 11, 20), 1, 0),
        (date(2026, 9, 1), 1, 0),
    }
    # m3 stopped when their last card left, not when the first did.
    assert [(row.day, row.removed) for row in members if row.removed] == [(date(2026, 11, 10), 1)]


@pytest.mark.django_db
def test_a_segment_narrows_both_sides_with_the_same_rule():
    m1, m2, m3, m4 = _autumn()
    Member.objects.filter(pk__in=[m1.pk, m4.pk]).update(gender="female")
    Member.objects.filter(pk__in=[m2.pk, m3.pk]).update(gender="male")
    women = Segment.objects.create(
        name="Women",
        definition={
            "op": "and",
            "rules": [{"rule": "gender", "operator": "is", "value": "female"}],
        },
    )
    kpis_rebuild()

    frequency = holders_frequency(KpiFilters(start=AUTUMN.start, end=AUTUMN.end, segment=women))

    assert (frequency.holders.member_months, frequency.holders.orders) == (2, 5)  # m1
    assert (frequency.others.member_months, frequency.others.orders) == (1, 2)  # m4
    assert frequency.ratio == pytest.approx(1.25)


def _kept() -> tuple[set, set]:
    spans = set(
        WalletHolding.objects.values_list(
            "member_id", "from_day", "to_day", "from_month", "to_month"
        )
    )
    months = set(WalletHoldersMonthly.objects.values_list("month", "members", "orders"))
    return spans, months


@pytest.mark.django_db(transaction=True)
def test_the_refresh_keeps_the_spans_and_months_a_rebuild_gives():
    m1, m2, m3, m4 = _autumn()
    kpis_rebuild()
    today = timezone.localdate()
    this_month = today.replace(day=1)

    # m2 (a card since 20 November) buys today: this month's holder.
    _bought(m2, today, 1)
    # A card entered by an operator as added on 1 September: m4's September is a holder's.
    _card(m4, APPLE, date(2026, 9, 1))
    # m3's cards deleted (a member erased): no span left, October loses a holder.
    WalletPass.objects.filter(member=m3).delete()
    # A late November order of m1's: the orders rollup marks November (the rest only the cards).
    _bought(m1, date(2026, 11, 20), 1)
    kpis_refresh()
    refreshed = _kept()
    kpis_rebuild()

    assert refreshed == _kept()
    months = {month: (members, orders) for month, members, orders in refreshed[1]}
    assert months[date(2026, 9, 1)] == (1, 5)  # m4
    assert months[OCTOBER] == (1, 3)  # m1; m3 no longer held a card
    assert months[NOVEMBER] == (3, 7)  # m1 (3 orders), m2 (2), m4 (2)
    assert months[this_month] == (1, 1)  # m2
    assert m3.pk not in {span[0] for span in refreshed[0]}
    assert (m4.pk, date(2026, 9, 1), None, date(2026, 9, 1), None) in refreshed[0]


@pytest.mark.django_db(transaction=True)
def test_a_refresh_with_no_card_changed_writes_no_span():
    _autumn()
    kpis_rebuild()
    before = set(WalletHolding.objects.values_list("pk", flat=True))

    kpis_refresh()

    assert set(WalletHolding.objects.values_list("pk", flat=True)) == before
    assert WalletHoldersMonthly.objects.filter(month=date(2026, 10, 1)).get().members == 2


@pytest.mark.django_db(transaction=True)
def test_a_card_removed_today_moves_this_month_only():
    m1, *_rest = _autumn()
    today = timezone.localdate()
    _bought(m1, today, 1)
    kpis_rebuild()
    this_month = today.replace(day=1)
    assert WalletHoldersMonthly.objects.get(month=this_month).members == 1

    WalletPass.objects.filter(member=m1).update(installed=False, removed_at=timezone.now())
    kpis_refresh()

    assert not WalletHoldersMonthly.objects.filter(month=this_month).exists()
    assert WalletHoldersMonthly.objects.get(month=OCTOBER).members == 2  # still held then
    span = WalletHolding.objects.get(member_id=m1.pk)
    assert (span.to_day, span.to_month) == (today, this_month)
