"""The forms of the programme overview and the member's points history.

The period and the history's filters are GET forms read from the URL: a value that does not
parse (or a period that ends before it starts) is shown as an error beside its field, and the
page shows the default for it rather than failing.
"""

import uuid
from datetime import date, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models import PointsTransaction
from loyalty.selectors_overview import HistoryFilters, Period, default_period
from loyalty.services.adjustments import ERROR_NO_POINTS, ERROR_NO_REASON, MAX_ADJUST_POINTS

DATE = forms.DateInput(
    format="%Y-%m-%d",  # what <input type=date> reads, whatever the language
    attrs={"type": "date", "class": "form-control form-control-sm"},
)
SELECT = "form-select form-select-sm"
MAX_PERIOD_DAYS = 5 * 366
ERROR_END_BEFORE_START = _("The period ends before it starts.")
ERROR_PERIOD_TOO_LONG = _("A period is at most five years.")
PERIOD_PRESETS = (7, 30, 90, 365)


class PeriodForm(forms.Form):
    """The overview's period: Taipei days, both included (default: the last 30 days)."""

    start = forms.DateField(label=_("From"), required=False, widget=DATE)
    end = forms.DateField(label=_("To"), required=False, widget=DATE)

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", ERROR_END_BEFORE_START)
            elif (end - start).days >= MAX_PERIOD_DAYS:
                self.add_error("start", ERROR_PERIOD_TOO_LONG)
        return data

    def period(self) -> Period:
        """The period asked for; the default where a field is missing or wrong."""
        fallback = default_period()
        data = getattr(self, "cleaned_data", {})
        if self.errors:
            return fallback
        end = data.get("end") or fallback.end
        start = data.get("start") or end - timedelta(days=fallback.days - 1)
        return Period(start=start, end=end)


def period_presets(*, today: date | None = None) -> list[tuple[int, Period]]:
    today = today or timezone.localdate()
    return [(days, default_period(today=today, days=days)) for days in PERIOD_PRESETS]


class HistoryFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"),
        required=False,
        choices=[("", _("All kinds")), *PointsTransaction.Kind.choices],
        widget=forms.Select(attrs={"class": SELECT}),
    )
    start = forms.DateField(label=_("From"), required=False, widget=DATE)
    end = forms.DateField(label=_("To"), required=False, widget=DATE)

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            self.add_error("end", ERROR_END_BEFORE_START)
        return data

    def filters(self) -> HistoryFilters:
        """The valid filters (a wrong field filters nothing, and says so beside itself)."""
        data = getattr(self, "cleaned_data", {})
        return HistoryFilters(
            kind=data.get("kind") or "",
            start=data.get("start") if "start" not in self.errors else None,
            end=data.get("end") if "end" not in self.errors else None,
        )


class AdjustForm(forms.Form):
    """Points ± and the reason (both required); `token` makes a form sent twice count once."""

    points = forms.IntegerField(
        label=_("Points"),
        min_value=-MAX_ADJUST_POINTS,
        max_value=MAX_ADJUST_POINTS,
        error_messages={"required": ERROR_NO_POINTS},
        help_text=_("Positive to add, negative (e.g. -200) to take off."),
        widget=forms.NumberInput(attrs={"class": "form-control", "step": 1}),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        error_messages={"required": ERROR_NO_REASON},
        help_text=_("Kept with the entry and shown on the member's timeline."),
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )
    token = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("token", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)

    def clean_points(self) -> int:
        points = self.cleaned_data["points"]
        if points == 0:
            raise forms.ValidationError(ERROR_NO_POINTS)
        return points

    def clean_reason(self) -> str:
        reason = " ".join(self.cleaned_data["reason"].split())
        if not reason:
            raise forms.ValidationError(ERROR_NO_REASON)
        return reason


class ExportFormatForm(forms.Form):
    file_format = forms.ChoiceField(choices=[("csv", "CSV"), ("xlsx", "XLSX")])
