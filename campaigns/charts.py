"""The report's chart: orders and revenue per day of each variant and held-out arm, drawn by
Plotly in the browser from a figure built here (plotly.graph_objects → JSON in a
<script type="application/json">, read by static/js/charts.js: no inline script, no eval).

Arms differ in size (a 10 % holdout against 90 % sent), so when every series' members are
known the chart shows orders per 1,000 members and revenue per member, which compare; when one
is not known yet (figures still being counted) it shows the totals, and its titles say which.
"""

import json

import plotly.graph_objects as go
from django.utils.translation import gettext
from plotly.subplots import make_subplots

from campaigns.models import CampaignFigures
from campaigns.report import CampaignReport, variant_label

FONT = '"PingFang TC", "Microsoft JhengHei", "Noto Sans TC", system-ui, sans-serif'
VARIANT_COLOURS = {"A": "#0d6efd", "B": "#fd7e14", "C": "#20c997", "D": "#d63384"}
ARM_COLOURS = {
    CampaignFigures.Arm.HOLDOUT: "#6c757d",
    CampaignFigures.Arm.STORE_HOLDOUT: "#6f42c1",
    CampaignFigures.Arm.CONTROL_GROUP: "#343a40",
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
            VARIANT_COLOURS.get(variant, "#0d6efd"),
            members.get(variant, 0),
        )
        for variant in variants
    ]
    for arm, figures in report.arms.items():
        label = CampaignFigures.Arm(arm).label
        series.append((arm, "", str(label), ARM_COLOURS.get(arm, "#6c757d"), figures.members))
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
        line = {"color": colour, "width": 2}
        figure.add_trace(
            go.Scatter(
                x=days, y=orders, name=name, legendgroup=name, mode="lines+markers", line=line
            ),
            row=1,
            col=1,
        )
        figure.add_trace(
            go.Scatter(
                x=days,
                y=revenue,
                name=name,
                legendgroup=name,
                showlegend=False,
                mode="lines+markers",
                line=line,
            ),
            row=2,
            col=1,
        )
    figure.update_layout(
        font={"family": FONT, "size": 13},
        margin={"l": 56, "r": 16, "t": 40, "b": 40},
        height=440,
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.12},
        separators=".,",
        plot_bgcolor="#ffffff",
        paper_bgcolor="#ffffff",
    )
    # One tick a day at most (a short campaign would get ticks every few hours otherwise).
    figure.update_xaxes(type="date", tickformat="%Y/%m/%d", gridcolor="#eef0f2")
    if len({point.day for point in report.daily}) <= 14:
        figure.update_xaxes(dtick=24 * 60 * 60 * 1000)
    figure.update_yaxes(gridcolor="#eef0f2", rangemode="tozero")
    figure.update_yaxes(tickprefix="NT$", tickformat=",.1f" if per_member else ",", row=2, col=1)
    return json.loads(figure.to_json())
