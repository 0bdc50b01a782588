"""Whose birthday it is: the one rule the birthday job and its tests use.

A member's `birthday` is always the Gregorian date of birth; `birthday_calendar` says which
calendar they celebrate by (crm.models.BirthdayCalendar). The rule, per day:

- **Gregorian**: the same month and day; a 29 February birthday falls on 28 February in a
  common year.
- **Lunar** (農曆, lunar-python's calendar): the day whose lunar month and day are those of the
  date of birth. A birth in a leap month (閏月) is celebrated in the regular month of the same
  number (the leap month recurs only every few years); a birth on the 30th is celebrated on the
  29th in a year whose month has 29 days. On a day inside a leap month nobody celebrates.
- With LOYALTY_BIRTHDAY_ON = "month", the offer goes out on the first day of the birth month
  instead: 1 <month> for Gregorian birthdays, the first day of the lunar month (初一) for lunar
  ones.

Everything is one query over active members: the Gregorian rule on month and day, the lunar
rule as the (bounded) set of Gregorian dates of birth whose lunar date is today's, computed
once per day.

The period of a birthday offer (the job's once-per-period key) is the year of the calendar
the member celebrates by, taken at the day it goes out: the Gregorian year ("2035") for
Gregorian birthdays, the lunar year ("L2035") for lunar ones. A lunar birthday falls once in
every lunar year, but twice in some Gregorian years and not at all in others (born 1961-01-08,
lunar 11/22: 2035-01-01 is L2034's and 2035-12-21 is L2035's, and 2036 has none): keyed by the
Gregorian year, the December greeting would be suppressed and the year lost.
`birthday_members_due_on` gives the members due over several days (the job's catch-up) with
each one's period as an SQL expression, so one run covers both calendars and several days.
"""

from calendar import isleap
from collections.abc import Sequence
from datetime import date, timedelta
from functools import lru_cache

from django.db.models import Case, CharField, Q, QuerySet, Value, When
from lunar_python import Lunar, LunarMonth, LunarYear, Solar

from crm.models import BirthdayCalendar, Member

ON_DAY = "day"
ON_MONTH = "month"
# lunar-python's tables start in 1900; nobody born before is a member any more.
FIRST_BIRTH_YEAR = 1901


def birthday_period(*, day: date, calendar: str = BirthdayCalendar.SOLAR) -> str:
    """The period a birthday offer sent on `day` belongs to: the Gregorian year ("2035"), or
    for a lunar-calendar member the lunar year `day` falls in ("L2035"; module docstring)."""
    if calendar == BirthdayCalendar.LUNAR:
        return f"L{Solar.fromYmd(day.year, day.month, day.day).getLunar().getYear()}"
    return str(day.year)


def birthday_members_due_on(
    *, days: Sequence[date], on: str = ON_DAY
) -> tuple[QuerySet[Member], Case]:
    """The active members whose birthday offer goes out on one of `days`, and each one's
    period as an expression over Member (a CASE on the day and calendar that made them due).
    A member due on two of the days (none in practice: a week holds one birthday) takes the
    first day's period."""
    if on not in (ON_DAY, ON_MONTH):
        raise ValueError(f"on must be {ON_DAY!r} or {ON_MONTH!r}, not {on!r}")
    condition = Q(pk__in=[])
    whens = []
    for day in days:
        solar, lunar = _solar_q(day, on), _lunar_q(day, on)
        condition |= solar | lunar
        whens += [
            When(solar, then=Value(birthday_period(day=day))),
            When(lunar, then=Value(birthday_period(day=day, calendar=BirthdayCalendar.LUNAR))),
        ]
    members = Member.objects.filter(
        condition, status=Member.Status.ACTIVE, birthday__isnull=False
    ).order_by()
    return members, Case(*whens, default=Value(""), output_field=CharField())


def birthday_members_due(*, day: date, on: str = ON_DAY) -> QuerySet[Member]:
    """The active members whose birthday offer goes out on `day` (`on`: "day" or "month")."""
    if on not in (ON_DAY, ON_MONTH):
        raise ValueError(f"on must be {ON_DAY!r} or {ON_MONTH!r}, not {on!r}")
    condition = _solar_q(day, on) | _lunar_q(day, on)
    return Member.objects.filter(
        condition, status=Member.Status.ACTIVE, birthday__isnull=False
    ).order_by()


def celebrated_on(*, birthday: date, calendar: str, year: int) -> list[date]:
    """The Gregorian days of `year` a birthday is celebrated on (the test oracle, and what a
    profile may show): usually one; none or two for a lunar date in a rare year."""
    if calendar != BirthdayCalendar.LUNAR:
        if (birthday.month, birthday.day) == (2, 29) and not isleap(year):
            return [date(year, 2, 28)]
        return [birthday.replace(year=year)]
    born = Solar.fromYmd(birthday.year, birthday.month, birthday.day).getLunar()
    month, day = abs(born.getMonth()), born.getDay()
    days = []
    for lunar_year in (year - 1, year):
        length = LunarMonth.fromYm(lunar_year, month).getDayCount()
        solar = Lunar.fromYmd(lunar_year, month, min(day, length)).getSolar()
        celebrated = date(solar.getYear(), solar.getMonth(), solar.getDay())
        if celebrated.year == year:
            days.append(celebrated)
    return days


def _solar_q(day: date, on: str) -> Q:
    solar = Q(birthday_calendar=BirthdayCalendar.SOLAR)
    if on == ON_MONTH:
        return solar & Q(birthday__month=day.month) if day.day == 1 else Q(pk__in=[])
    same_day = Q(birthday__month=day.month, birthday__day=day.day)
    if (day.month, day.day) == (2, 28) and not isleap(day.year):
        same_day |= Q(birthday__month=2, birthday__day=29)
    return solar & same_day


def _lunar_q(day: date, on: str) -> Q:
    lunar = Q(birthday_calendar=BirthdayCalendar.LUNAR)
    if on == ON_MONTH:
        ranges = _lunar_month_births(day)
        if not ranges:
            return Q(pk__in=[])
        in_month = Q()
        for first, last in ranges:
            in_month |= Q(birthday__range=(first, last))
        return lunar & in_month
    births = _lunar_day_births(day)
    return lunar & Q(birthday__in=births) if births else Q(pk__in=[])


def _to_date(lunar: Lunar) -> date:
    solar = lunar.getSolar()
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def _birth_months(lunar_month: int, until_year: int):
    """(lunar year, month) pairs a birth in `lunar_month` can have: the regular month of every
    year, and the leap month of the same number in the years that had one."""
    for year in range(FIRST_BIRTH_YEAR, until_year + 1):
        yield year, lunar_month
        if LunarYear.fromYear(year).getLeapMonth() == lunar_month:
            yield year, -lunar_month


@lru_cache(maxsize=8)
def _lunar_day_births(day: date) -> tuple[date, ...]:
    """The Gregorian dates of birth whose lunar birthday is `day` (a few hundred)."""
    today = Solar.fromYmd(day.year, day.month, day.day).getLunar()
    if today.getMonth() < 0:
        return ()  # a leap month: births in it celebrate in the regular month
    month, lunar_day = today.getMonth(), today.getDay()
    days = [lunar_day]
    if lunar_day == 29 and LunarMonth.fromYm(today.getYear(), month).getDayCount() == 29:
        days.append(30)  # the 30th has no day this year: celebrated on the 29th
    births = []
    for year, birth_month in _birth_months(month, today.getYear()):
        length = LunarMonth.fromYm(year, birth_month).getDayCount()
        births += [_to_date(Lunar.fromYmd(year, birth_month, d)) for d in days if d <= length]
    return tuple(birth for birth in births if birth <= day)


@lru_cache(maxsize=8)
def _lunar_month_births(day: date) -> tuple[tuple[date, date], ...]:
    """On the first day (初一) of a regular lunar month: the ranges of Gregorian dates of birth
    that fall in that lunar month (regular or leap) in any year."""
    today = Solar.fromYmd(day.year, day.month, day.day).getLunar()
    if today.getDay() != 1 or today.getMonth() < 0:
        return ()
    ranges = []
    for year, birth_month in _birth_months(today.getMonth(), today.getYear()):
        first = _to_date(Lunar.fromYmd(year, birth_month, 1))
        if first > day:
            continue
        length = LunarMonth.fromYm(year, birth_month).getDayCount()
        ranges.append((first, first + timedelta(days=length - 1)))
    return tuple(ranges)
