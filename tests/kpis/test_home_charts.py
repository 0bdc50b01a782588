"""Loyalty's overview chart and the campaign report's chart are drawn on the one shared Plotly
template (omnichannel/charts.py, UI.md): the same fonts, grid and NT$ axes as the KPI pages."""

from datetime import date

from loyalty.charts import overview_chart
from loyalty.selectors_overview import SeriesPoint
from omnichannel.charts import FONT, GREEN, figure_data, kpi_figure, twd_axis


def shared_template(figure: dict) -> bool:
    template = figure["layout"]["template"]["layout"]
    return template["font"]["family"] == FONT and template["separators"] == ".,"


def test_the_loyalty_chart_uses_the_shared_template():
    series = [
        SeriesPoint(bucket=date(2026, 11, 1), issued=120, redeemed=40, expired=0),
        SeriesPoint(bucket=date(2026, 11, 2), issued=80, redeemed=0, expired=10),
    ]

    figure = overview_chart(series, unit="day")

    assert shared_template(figure)
    issued = figure["data"][0]
    assert issued["type"] == "bar" and issued["marker"]["color"] == GREEN
    assert issued["x"] == ["2026-11-01", "2026-11-02"] and issued["y"] == [120, 80]
    assert figure["layout"]["barmode"] == "group"
    assert figure["layout"]["xaxis"]["tickformat"] == "%m/%d"


def test_a_subplot_axis_takes_the_nt_dollar_format():
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=2, cols=1)
    twd_axis(figure, axis="y2", decimals=1)

    layout = figure_data(figure)["layout"]
    assert layout["yaxis2"]["tickprefix"] == "NT$" and layout["yaxis2"]["tickformat"] == ",.1f"
    assert "tickprefix" not in layout["yaxis"]
    assert shared_template(figure_data(kpi_figure()))
