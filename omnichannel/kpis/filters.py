"""The KPI pages' filters: a period, a store, a channel, a segment and compare-to-previous,
all read from the URL so a page is bookmarkable with its filters.

A value that makes no sense (a period that ends before it starts, an unknown store, a segment
that was deleted) is shown as an error beside its field and ignored: the page shows its
figures without that filter rather than failing (issue 14; nothing typed is lost, the field
keeps what was typed).
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Segment, Store
from crm.segments.definition import SegmentDefinitionError, segment_queryset
from omnichannel.channels import MESSAGING_CHANNELS, SALES_CHANNELS
from omnichannel.kpis.segments import (
    segment_figures_month,
    segment_figures_window,
    segment_snapshot_id,
    segment_snapshot_members,
    segment_snapshot_rows,
)

DEFAULT_DAYS = 30
MAX_PERIOD_DAYS = 5 * 366
ERROR_END_BEFORE_START = _("The period ends before it starts.")
ERROR_PERIOD_TOO_LONG = _("A period is at most five years.")
ERROR_DAY_OUT_OF_RANGE = _("Choose a day from 2000 to a year from now.")
EARLIEST_DAY = date(2000, 1, 1)
LATEST_AHEAD = timedelta(days=366)
ERROR_UNKNOWN_STORE = _("No store has this code.")
ERROR_UNKNOWN_SEGMENT = _("This segment does not exist (any more).")
ERROR_BROKEN_SEGMENT = _("This segment's rules no longer work; edit the segment.")
ERROR_UNKNOWN_CHANNEL = _("This page has no such channel.")
PERIOD_PRESETS = (7, 30, 90, 365)

DATE = forms.DateInput(
    format="%Y-%m-%d",  # what <input type=date> reads, whatever the language
    attrs={"type": "date", "class": "form-control form-control-sm"},
)
SELECT = "form-select form-select-sm"


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def month_start(day: date) -> date:
    return day.replace(day=1)


def months_between(start: date, end: date) -> list[date]:
    """The first days of the calendar months from start's to end's, both included."""
    months, month = [], month_start(start)
    while month <= end:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


@dataclass(frozen=True)
class KpiFilters:
    """What a page shows: Taipei days `start`–`end` (both included) and optional narrowing."""

    start: date
    end: date
    store: Store | None = None
    channel: str = ""
    segment: Segment | None = None
    compare: bool = False

    @property
    def sales_channel(self) -> str:
        """The channel filter when it is a sales channel ("" otherwise: not narrowed)."""
        return self.channel if self.channel in SALES_CHANNELS else ""

    @property
    def messaging_channel(self) -> str:
        """The channel filter when it is a messaging channel ("" otherwise)."""
        return self.channel if self.channel in MESSAGING_CHANNELS else ""

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=_zone())

    @property
    def end_at(self) -> datetime:
        """The first instant after the period (the next day's midnight in Taipei)."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=_zone())

    @property
    def months(self) -> list[date]:
        """The calendar months the period touches: member-grained figures (active members,
        OMO, cohorts) count whole months, and the page says so."""
        return months_between(self.start, self.end)

    def previous(self) -> "KpiFilters":
        """The same filters for the period of the same length just before this one."""
        end = self.start - timedelta(days=1)
        previous = KpiFilters(
            start=end - timedelta(days=self.days - 1),
            end=end,
            store=self.store,
            channel=self.channel,
            segment=self.segment,
            compare=False,
        )
        if "_segment_snapshot" in self.__dict__:  # the segment is today's in both periods
            previous.__dict__["_segment_snapshot"] = self._segment_snapshot
        return previous

    def previous_months(self) -> "KpiFilters":
        """The same filters for as many whole calendar months just before the period's first
        month: what a month-based figure (counted over `months`) compares with, so the two
        never share a month (previous() shifts by days, whose months can overlap)."""
        first, count = self.months[0], len(self.months)
        index = first.year * 12 + first.month - 1 - count
        previous = KpiFilters(
            start=date(index // 12, index % 12 + 1, 1),
            end=first - timedelta(days=1),
            store=self.store,
            channel=self.channel,
            segment=self.segment,
            compare=False,
        )
        if "_segment_snapshot" in self.__dict__:  # the segment is today's in both periods
            previous.__dict__["_segment_snapshot"] = self._segment_snapshot
        return previous

    def segment_rows(self) -> QuerySet | None:
        """The segment's snapshot rows (its members with their joined day, channel, cohort,
        RFM scores: SegmentSnapshotMember), or None without a segment."""
        if self.segment is None:
            return None
        return segment_snapshot_rows(self._segment_snapshot)

    @property
    def segment_snapshot(self) -> int | None:
        """The segment's id in SegmentSnapshotMember (None without one)."""
        return None if self.segment is None else self._segment_snapshot

    def segment_members(self) -> QuerySet | None:
        """The segment's member ids as a subquery (`member_id__in=`), or None without one."""
        if self.segment is None:
            return None
        return segment_snapshot_members(self._segment_snapshot)

    @cached_property
    def _segment_snapshot(self) -> int:
        return segment_snapshot_id(self.segment)

    @cached_property
    def segment_figures_month(self) -> date | None:
        """The last month of the segment's kept month figures (None: none, or no segment)."""
        return None if self.segment is None else segment_figures_month(self._segment_snapshot)

    def segment_figures_cover(self) -> bool:
        """Whether the segment's kept month figures (omnichannel/kpis/segment_figures.py)
        serve this period: they cover its months, and no store narrows it."""
        last = self.segment_figures_month
        if last is None or self.store is not None:
            return False
        first, last = segment_figures_window(last)
        return first <= self.months[0] and self.months[-1] <= last

    def member_q(self, field: str = "member_id") -> Q:
        """Q narrowing a member-grained rollup to the segment (everything without one): a
        semi-join on the segment's kept snapshot (omnichannel/kpis/segments.py), looked up
        once per request, not the segment's rules evaluated per query."""
        if self.segment is None:
            return Q()
        return Q(**{f"{field}__in": segment_snapshot_members(self._segment_snapshot)})

    def query(self, **changes) -> str:
        """These filters as a query string (for links: presets, CSV, the other pages)."""
        values = {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "store": self.store.code if self.store else "",
            "channel": self.channel,
            "segment": self.segment.pk if self.segment else "",
            "compare": "1" if self.compare else "",
        }
        values.update(changes)
        return urlencode({key: value for key, value in values.items() if value not in ("", None)})


def default_filters(*, today: date | None = None, days: int = DEFAULT_DAYS) -> KpiFilters:
    """The last `days` Taipei days, today included, nothing else narrowed."""
    today = today or timezone.localdate()
    return KpiFilters(start=today - timedelta(days=days - 1), end=today)


class StoreField(forms.CharField):
    """A store by its code (bookmarkable, readable in a URL)."""

    def clean(self, value):
        code = super().clean(value)
        if not code:
            return None
        store = Store.objects.filter(code=code).first()
        if store is None:
            raise forms.ValidationError(ERROR_UNKNOWN_STORE)
        return store


class KpiFilterForm(forms.Form):
    start = forms.DateField(label=_("From"), required=False, widget=DATE)
    end = forms.DateField(label=_("To"), required=False, widget=DATE)
    store = StoreField(
        label=_("Store"),
        required=False,
        widget=forms.Select(attrs={"class": SELECT}),
    )
    channel = forms.CharField(
        label=_("Channel"), required=False, widget=forms.Select(attrs={"class": SELECT})
    )
    segment = forms.IntegerField(
        label=_("Segment"), required=False, widget=forms.Select(attrs={"class": SELECT})
    )
    compare = forms.BooleanField(
        label=_("Compare with the period before"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input", "role": "switch"}),
    )

    def __init__(self, data=None, *, channels=(), **kwargs):
        super().__init__(data, **kwargs)
        self.channel_values = {value for value, _label in channels}
        self.fields["channel"].widget.choices = [("", _("All channels")), *channels]
        self.fields["store"].widget.choices = [
            ("", _("All stores")),
            *Store.objects.order_by("code").values_list("code", "name"),
        ]
        self.fields["segment"].widget.choices = [
            ("", _("All members")),
            *Segment.objects.order_by("name").values_list("pk", "name"),
        ]

    def clean_channel(self):
        channel = self.cleaned_data.get("channel") or ""
        if channel and channel not in self.channel_values:
            raise forms.ValidationError(ERROR_UNKNOWN_CHANNEL)
        return channel

    def clean_segment(self):
        pk = self.cleaned_data.get("segment")
        if pk is None:
            return None
        segment = Segment.objects.filter(pk=pk).first()
        if segment is None:
            raise forms.ValidationError(ERROR_UNKNOWN_SEGMENT)
        try:
            segment_queryset(segment.definition)
        except SegmentDefinitionError as error:
            raise forms.ValidationError(ERROR_BROKEN_SEGMENT) from error
        return segment

    def clean_start(self):
        return self._day_in_range(self.cleaned_data.get("start"))

    def clean_end(self):
        return self._day_in_range(self.cleaned_data.get("end"))

    @staticmethod
    def _day_in_range(day: date | None) -> date | None:
        # Far dates would overflow the date arithmetic of defaults and comparisons (year 1,
        # year 9999) and mean nothing for a brand's figures.
        if day is not None and not (EARLIEST_DAY <= day <= timezone.localdate() + LATEST_AHEAD):
            raise forms.ValidationError(ERROR_DAY_OUT_OF_RANGE)
        return day

    def clean(self):
        data = super().clean()
        if {"start", "end"} & set(self.errors):
            return data
        # The rules apply to the period shown, defaults filled in: a start after today with
        # no end is a period that ends before it starts.
        start, end = self._period(data.get("start"), data.get("end"))
        if end < start:
            self.add_error("end" if data.get("end") else "start", ERROR_END_BEFORE_START)
        elif (end - start).days >= MAX_PERIOD_DAYS:
            self.add_error("start", ERROR_PERIOD_TOO_LONG)
        return data

    @staticmethod
    def _period(start: date | None, end: date | None) -> tuple[date, date]:
        """The period for these fields: a missing end is today, a missing start the default
        number of days before the end."""
        end = end or timezone.localdate()
        return start or end - timedelta(days=DEFAULT_DAYS - 1), end

    def filters(self) -> KpiFilters:
        """The filters asked for: each wrong field is left out (its error shows beside it),
        a wrong period gives the default one."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        if {"start", "end"} & set(self.errors):
            start, end = self._period(None, None)
        else:
            start, end = self._period(data.get("start"), data.get("end"))
        return KpiFilters(
            start=start,
            end=end,
            store=data.get("store"),
            channel=data.get("channel") or "",
            segment=data.get("segment"),
            compare=bool(data.get("compare")),
        )


def period_presets(filters: KpiFilters, *, today: date | None = None) -> list[tuple[int, str]]:
    """(days, query string) of the preset periods ending today, other filters kept."""
    today = today or timezone.localdate()
    return [
        (
            days,
            filters.query(
                start=(today - timedelta(days=days - 1)).isoformat(), end=today.isoformat()
            ),
        )
        for days in PERIOD_PRESETS
    ]
