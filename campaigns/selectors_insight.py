"""Reads for the campaign page's LINE Insight card and the campaigns list's control-group card
(a module of its own beside selectors.py; same rules: no services imported)."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Q, Sum

from campaigns.control_group import GroupFigures, Lift, control_group_percent, revenue_lift
from campaigns.models import Campaign, ControlGroupFigures, LineInsight


@dataclass(frozen=True)
class LineInsightSummary:
    units: int  # LINE aggregation units (one per variant) sent under
    fetched: int
    recipients: int
    delivered: int | None  # None until LINE has answered with a figure
    opened: int | None
    clicked: int | None
    delivered_with_opens: int  # delivered of the requests whose opens LINE reported
    delivered_with_clicks: int
    withheld: int  # units LINE answered without opens (under 20 users, or not counted yet)
    last_fetched_at: datetime | None

    @property
    def pending(self) -> int:
        return self.units - self.fetched

    @property
    def open_rate(self) -> float | None:
        if self.opened is None or not self.delivered_with_opens:
            return None
        return self.opened / self.delivered_with_opens

    @property
    def click_rate(self) -> float | None:
        if self.clicked is None or not self.delivered_with_clicks:
            return None
        return self.clicked / self.delivered_with_clicks

    @property
    def open_percent(self) -> float | None:
        return None if self.open_rate is None else self.open_rate * 100

    @property
    def click_percent(self) -> float | None:
        return None if self.click_rate is None else self.click_rate * 100


def line_insight_summary(*, campaign: Campaign) -> LineInsightSummary | None:
    """The campaign's LINE figures summed over its aggregation units, one per variant (one
    query); None when the campaign has no LINE channel or was never launched. Rows from before
    units (per request id) are left out: LINE never reported on multicasts that way."""
    if "line" not in (campaign.channels or []) or campaign.launched_at is None:
        return None
    answered = Q(fetched_at__isnull=False, error="")
    figures = (
        LineInsight.objects.filter(campaign=campaign)
        .exclude(unit="")
        .aggregate(
            n_units=Count("pk"),
            n_fetched=Count("pk", filter=Q(fetched_at__isnull=False)),
            sum_recipients=Sum("recipients"),
            sum_delivered=Sum("delivered"),
            sum_opened=Sum("unique_impression"),
            sum_clicked=Sum("unique_click"),
            sum_delivered_opens=Sum("delivered", filter=Q(unique_impression__isnull=False)),
            sum_delivered_clicks=Sum("delivered", filter=Q(unique_click__isnull=False)),
            n_withheld=Count("pk", filter=answered & Q(unique_impression__isnull=True)),
            last_fetched=Max("fetched_at"),
        )
    )
    return LineInsightSummary(
        units=figures["n_units"],
        fetched=figures["n_fetched"],
        recipients=figures["sum_recipients"] or 0,
        delivered=figures["sum_delivered"],
        opened=figures["sum_opened"],
        clicked=figures["sum_clicked"],
        delivered_with_opens=figures["sum_delivered_opens"] or 0,
        delivered_with_clicks=figures["sum_delivered_clicks"] or 0,
        withheld=figures["n_withheld"],
        last_fetched_at=figures["last_fetched"],
    )


@dataclass(frozen=True)
class ControlGroupCard:
    percent: int  # the share set now (0 = no control group)
    figures: ControlGroupFigures | None  # the latest nightly figures
    control: GroupFigures | None
    rest: GroupFigures | None
    lift: Lift | None

    @property
    def lift_relative_percent(self) -> float | None:
        if self.lift is None or self.lift.relative is None:
            return None
        return self.lift.relative * 100

    @property
    def lift_twd(self) -> dict[str, int] | None:
        """The difference and its interval in whole NT$ per member, for the page."""
        if self.lift is None:
            return None
        return {
            "difference": round(self.lift.difference),
            "low": round(self.lift.ci_low),
            "high": round(self.lift.ci_high),
        }

    @property
    def buyer_percents(self) -> tuple[float, float] | None:
        if self.control is None or self.rest is None:
            return None
        return self.control.buyer_rate * 100, self.rest.buyer_rate * 100


def control_group_card() -> ControlGroupCard:
    """The campaigns list's card: the latest nightly figures and the lift (one query; none
    without a control group)."""
    percent = control_group_percent()
    if percent <= 0:
        return ControlGroupCard(percent, None, None, None, None)
    figures = ControlGroupFigures.objects.order_by("-day", "-window_days").first()
    if figures is None:
        return ControlGroupCard(percent, None, None, None, None)
    control = GroupFigures(
        members=figures.control_members,
        buyers=figures.control_buyers,
        revenue_twd=figures.control_revenue_twd,
        revenue_sumsq=int(figures.control_revenue_sumsq),
    )
    rest = GroupFigures(
        members=figures.rest_members,
        buyers=figures.rest_buyers,
        revenue_twd=figures.rest_revenue_twd,
        revenue_sumsq=int(figures.rest_revenue_sumsq),
    )
    return ControlGroupCard(
        percent, figures, control, rest, revenue_lift(control=control, rest=rest)
    )
