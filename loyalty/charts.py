"""The overview's chart: points issued, redeemed and expired per day (week, month) of the period,
drawn by Plotly in the browser from the figure built here (JSON in a
<script type="application/json">, read by static/js/charts.js: no inline script, CSP-clean).
The same numbers are offered as CSV beside the chart (loyalty:overview_csv)."""

import json

import plotly.graph_objects as go
from django.utils.translation import gettext

from loyalty.selectors_overview import SeriesPoint

FONT = '"PingFang TC", "Microsoft JhengHei", "Noto Sans TC", system-ui, sans-serif'
COLOURS = {"issued": "#198754", "redeemed": "#0d6efd", "expired": "#6c757d"}


def series_labels() -> dict[str, str]:
    return {
        "issued": gettext("Issued"),
        "redeemed": gettext("Redeemed"),
        "expired": gettext("Expired"),
    }


def overview_chart(series: list[SeriesPoint], *, unit: str) -> dict | None:
    """The Plotly figure (plain JSON data); None when nothing moved in the period."""
    if not series:
        return None
    buckets = [point.bucket.isoformat() for point in series]
    figure = go.Figure()
    for key, label in series_labels().items():
        figure.add_trace(
            go.Bar(
                x=buckets,
                y=[getattr(point, key) for point in series],
                name=label,
                marker={"color": COLOURS[key]},
            )
        )
    figure.update_layout(
        barmode="group",
        font={"family": FONT, "size": 13},
        margin={"l": 56, "r": 16, "t": 24, "b": 40},
        height=320,
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.18},
        separators=".,",
        plot_bgcolor="#ffffff",
        paper_bgcolor="#ffffff",
    )
    tick = {"day": "%m/%d", "week": "%Y/%m/%d", "month": "%Y/%m"}[unit]
    figure.update_xaxes(type="date", tickformat=tick, gridcolor="#eef0f2")
    figure.update_yaxes(gridcolor="#eef0f2", rangemode="tozero", tickformat=",")
    return json.loads(figure.to_json())
