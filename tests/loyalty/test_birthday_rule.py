"""Whose birthday it is (loyalty.birthdays): Gregorian, 29 February, lunar, day and month."""

from datetime import date

import pytest

from crm.models import BirthdayCalendar, Member
from loyalty.birthdays import (
    birthday_members_due,
    birthday_members_due_on,
    birthday_period,
    celebrated_on,
)
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
SOLAR = BirthdayCalendar.SOLAR
LUNAR = BirthdayCalendar.LUNAR


def _due(day: date, on: str = "day") -> set[int]:
    return set(birthday_members_due(day=day, on=on).values_list("pk", flat=True))


def test_a_gregorian_birthday_is_due_on_its_day_only():
    member = MemberFactory(birthday=date(1985, 12, 7))
    MemberFactory(birthday=None)
    assert member.pk in _due(date(2026, 12, 7))
    assert member.pk not in _due(date(2026, 12, 6))
    assert member.pk not in _due(date(2026, 12, 8))


def test_29_february_falls_on_28_february_in_a_common_year():
    leapling = MemberFactory(birthday=date(1996, 2, 29))
    born_28th = MemberFactory(birthday=date(1990, 2, 28))
    assert _due(date(2027, 2, 28)) >= {leapling.pk, born_28th.pk}
    assert leapling.pk not in _due(date(2027, 3, 1))
    # In a leap year each has their own day.
    assert leapling.pk not in _due(date(2028, 2, 28))
    assert leapling.pk in _due(date(2028, 2, 29))
    assert celebrated_on(birthday=date(1996, 2, 29), calendar=SOLAR, year=2027) == [
        date(2027, 2, 28)
    ]


def test_a_lunar_birthday_follows_the_lunar_date():
    # 1960-02-29 is 庚子年 二月初三; in 2026 二月初三 is 21 March.
    member = MemberFactory(birthday=date(1960, 2, 29), birthday_calendar=LUNAR)
    assert member.pk in _due(date(2026, 3, 21))
    assert member.pk not in _due(date(2026, 2, 28))  # not by its Gregorian date
    assert celebrated_on(birthday=date(1960, 2, 29), calendar=LUNAR, year=2026) == [
        date(2026, 3, 21)
    ]


def test_a_birth_in_a_leap_month_is_celebrated_in_the_regular_month():
    # 2023 had a leap second month (閏二月): 2023-03-22 is 閏二月初一.
    member = MemberFactory(birthday=date(2023, 3, 22), birthday_calendar=LUNAR)
    # 2026's 二月初一 is 19 March (2026 has no leap second month).
    assert member.pk in _due(date(2026, 3, 19))
    assert member.pk not in _due(date(2026, 3, 22))


def test_a_30th_is_celebrated_on_the_29th_of_a_short_month():
    # Born on 七月三十 (1984-08-26); 2026's seventh month has 29 days: 七月廿九 is 10 September.
    born = date(1984, 8, 26)
    member = MemberFactory(birthday=born, birthday_calendar=LUNAR)
    born_29th = MemberFactory(birthday=date(1984, 8, 25), birthday_calendar=LUNAR)  # 七月廿九
    assert _due(date(2026, 9, 10)) >= {member.pk, born_29th.pk}
    assert member.pk not in _due(date(2026, 9, 11))
    assert celebrated_on(birthday=born, calendar=LUNAR, year=2026) == [date(2026, 9, 10)]


def test_month_mode_sends_on_the_first_of_the_birth_month():
    gregorian = MemberFactory(birthday=date(1985, 12, 25))
    lunar = MemberFactory(birthday=date(1984, 8, 26), birthday_calendar=LUNAR)  # 七月三十
    assert gregorian.pk in _due(date(2026, 12, 1), on="month")
    assert gregorian.pk not in _due(date(2026, 12, 25), on="month")
    # 2026's 七月初一 is 13 August.
    assert lunar.pk in _due(date(2026, 8, 13), on="month")
    assert lunar.pk not in _due(date(2026, 8, 1), on="month")
    assert lunar.pk not in _due(date(2026, 9, 10), on="month")


def test_only_active_members_and_a_period_per_year():
    member = MemberFactory(birthday=date(1985, 12, 7))
    Member.objects.filter(pk=member.pk).update(status=Member.Status.ERASED)
    assert member.pk not in _due(date(2026, 12, 7))
    assert birthday_period(day=date(2026, 12, 7)) == "2026"
    with pytest.raises(ValueError):
        birthday_members_due(day=date(2026, 12, 7), on="week")


def test_a_lunar_birthdays_period_is_the_lunar_year():
    # born 1961-01-08 (lunar 1960-11-22): twice in 2035, never in 2036
    born = date(1961, 1, 8)
    days = celebrated_on(birthday=born, calendar=LUNAR, year=2035)
    assert days == [date(2035, 1, 1), date(2035, 12, 21)]
    assert celebrated_on(birthday=born, calendar=LUNAR, year=2036) == []
    periods = [birthday_period(day=day, calendar=LUNAR) for day in days]
    assert periods == ["L2034", "L2035"]  # two lunar years: both greetings go out
    assert birthday_period(day=date(2035, 12, 21)) == "2035"  # a Gregorian member's


def test_the_due_set_over_days_gives_each_member_their_period():
    solar = MemberFactory(birthday=date(1985, 12, 31))
    lunar = MemberFactory(birthday=date(1961, 1, 8), birthday_calendar=LUNAR)
    members, period = birthday_members_due_on(days=[date(2034, 12, 31), date(2035, 1, 1)], on="day")
    rows = dict(members.annotate(p=period).values_list("pk", "p"))
    assert rows == {solar.pk: "2034", lunar.pk: "L2034"}
