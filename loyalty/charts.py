"""The overview's chart: points issued, redeemed and expired per day (week, month) of the period,
drawn by Plotly in the browser from the figure built here (JSON in a
<script type="application/json">, read by static/js/charts.js: no inline script, CSP-clean).
The same numbers are offered as CSV beside the chart (loyalty:overview_csv)."""

from django.utils.translation import gettext

from loyalty.selectors_overview import SeriesPoint
from omnichannel.charts import BLUE, GREEN, GREY, bar_trace, figure_data, kpi_figure

COLOURS = {"issued": GREEN, "redeemed": BLUE, "expired": GREY}
TICKS = {"day": "%m/%d", "week": "%Y/%m/%d", "month": "%Y/%m"}


def series_labels() -> dict[str, str]:
    return {
        "issued": gettext("Issued"),
        "redeemed": gettext("Redeemed"),
        "expired": gettext("Expired"),
    }


def overview_chart(series: list[SeriesPoint], *, unit: str) -> dict | None:
    """The Plotly figure (plain JSON data) on the shared template (omnichannel/charts.py);
    None when nothing moved in the period."""
    if not series:
        return None
    buckets = [point.bucket.isoformat() for point in series]
    figure = kpi_figure(barmode="group")
    for key, label in series_labels().items():
        values = [getattr(point, key) for point in series]
        figure.add_trace(bar_trace(label, buckets, values, colour=COLOURS[key]))
    figure.update_xaxes(type="date", tickformat=TICKS[unit])
    return figure_data(figure)
