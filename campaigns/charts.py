"""The report's chart: orders and revenue per day of each variant and held-out arm, drawn by
Plotly in the browser from a figure built here (plotly.graph_objects → JSON in a
<script type="application/json">, read by static/js/charts.js: no inline script, no eval).

Arms differ in size (a 10 % holdout against 90 % sent), so when every series' members are
known the chart shows orders per 1,000 members and revenue per member, which compare; when one
is not known yet (figures still being counted) it shows the totals, and its titles say which.
"""

from django.utils.translation import gettext
from plotly.subplots import make_subplots

from campaigns.models import CampaignFigures
from campaigns.report import CampaignReport, variant_label
from omnichannel.charts import (
    BLUE,
    DARK,
    GREY,
    KPI_TEMPLATE,
    ORANGE,
    PINK,
    PURPLE,
    TEAL,
    day_axis,
    figure_data,
    line_trace,
    twd_axis,
)

VARIANT_COLOURS = {"A": BLUE, "B": ORANGE, "C": TEAL, "D": PINK}
ARM_COLOURS = {
    CampaignFigures.Arm.HOLDOUT: GREY,
    CampaignFigures.Arm.STORE_HOLDOUT: PURPLE,
    CampaignFigures.Arm.CONTROL_GROUP: DARK,
}


def _series(report: CampaignReport) -> list[tuple[str, str, str, str, int]]:
    """(arm, variant, name, colour, members) of each line: the shown variants, then the arms."""
    members = {figures.variant: figures.members for figures in report.by_variant}
    variants = [report.variant] if report.variant else report.variants
    series = [
        (
            CampaignFigures.Arm.SENT,
            variant,
            variant_label(variant) if len(report.variants) > 1 else gettext("Sent group"),
            VARIANT_COLOURS.get(variant, BLUE),
            members.get(variant, 0),
        )
        for variant in variants
    ]
    for arm, figures in report.arms.items():
        label = CampaignFigures.Arm(arm).label
        series.append((arm, "", str(label), ARM_COLOURS.get(arm, GREY), figures.members))
    return series


def report_chart(report: CampaignReport) -> dict | None:
    """The Plotly figure (as plain JSON data) of the report's days; None without any day."""
    if not report.daily:
        return None
    series = _series(report)
    per_member = all(members > 0 for *_, members in series)
    if per_member:
        titles = (gettext("Orders per 1,000 members"), gettext("Revenue per member (NT$)"))
    else:
        titles = (gettext("Orders"), gettext("Revenue (NT$)"))
    figure = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12, subplot_titles=titles
    )
    # The shared template (omnichannel/charts.py): fonts, grid, NT$ and separators.
    figure.update_layout(template=KPI_TEMPLATE, height=440, margin={"t": 40})
    for arm, variant, name, colour, members in series:
        points = [
            point
            for point in report.daily
            if point.arm == arm and (arm != CampaignFigures.Arm.SENT or point.variant == variant)
        ]
        days = [point.day.isoformat() for point in points]
        orders = [point.orders for point in points]
        revenue = [point.revenue_twd for point in points]
        if per_member:
            orders = [round(n * 1000 / members, 2) for n in orders]
            revenue = [round(amount / members, 2) for amount in revenue]
        figure.add_trace(
            line_trace(name, days, orders, colour=colour, legendgroup=name), row=1, col=1
        )
        figure.add_trace(
            line_trace(name, days, revenue, colour=colour, legendgroup=name, showlegend=False),
            row=2,
            col=1,
        )
    # One tick a day at most (a short campaign would get ticks every few hours otherwise).
    report_days = sorted({point.day for point in report.daily})
    for axis in ("x", "x2"):
        day_axis(figure, report_days, axis=axis)
    figure.update_xaxes(tickformat="%Y/%m/%d")
    twd_axis(figure, axis="y2", decimals=1 if per_member else 0)
    return figure_data(figure)
