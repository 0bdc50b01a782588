"""The one Plotly template every chart uses (UI.md: fonts, channel colours, NT$ axes): the KPI
pages, loyalty's overview and the campaign report; and small builders for the shapes they draw.
A figure leaves here as plain JSON data; the browser draws it with static/js/charts.js (no
inline script, CSP-clean).

    figure = kpi_figure()
    figure.add_trace(go.Scatter(x=days, y=orders, name=label, line={"color": channel_colour(c)}))
    twd_axis(figure)
    return figure_data(figure)
"""

import json
from collections.abc import Sequence
from datetime import date

import plotly.graph_objects as go

from omnichannel.channels import CHANNEL_STYLE, channel_colour

FONT = '"PingFang TC", "Microsoft JhengHei", "Noto Sans TC", system-ui, sans-serif'
GRID = "#eef0f2"
# The colours for series that are not channels (cohorts, tiers, arms), after the channels'.
BLUE, ORANGE, TEAL, PURPLE, PINK, GREY, GREEN, DARK = (
    "#0d6efd",
    "#fd7e14",
    "#20c997",
    "#6f42c1",
    "#d63384",
    "#6c757d",
    "#198754",
    "#343a40",
)
OTHER_COLOURS = (BLUE, ORANGE, TEAL, PURPLE, PINK, GREY, GREEN)

KPI_TEMPLATE = go.layout.Template(
    layout={
        "font": {"family": FONT, "size": 13, "color": "#212529"},
        "colorway": [colour for colour, _icon in CHANNEL_STYLE.values()] + list(OTHER_COLOURS),
        "plot_bgcolor": "#ffffff",
        "paper_bgcolor": "#ffffff",
        "margin": {"l": 64, "r": 16, "t": 24, "b": 40},
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.2},
        "separators": ".,",
        "xaxis": {"gridcolor": GRID, "automargin": True},
        "yaxis": {"gridcolor": GRID, "rangemode": "tozero", "tickformat": ",", "automargin": True},
    }
)


def kpi_figure(*, height: int = 320, **layout) -> go.Figure:
    """An empty figure on the shared template."""
    return go.Figure(layout={"template": KPI_TEMPLATE, "height": height, **layout})


def _axis(axis: str) -> str:
    """The layout key of an axis: "y" → "yaxis", "y2" (a subplot's) → "yaxis2"."""
    return f"{axis[0]}axis{axis[1:]}"


def twd_axis(figure: go.Figure, *, axis: str = "y", decimals: int = 0) -> None:
    """Money on this axis: NT$ with thousands separators."""
    fmt = f",.{decimals}f" if decimals else ","
    figure.update_layout({_axis(axis): {"tickprefix": "NT$", "tickformat": fmt}})


def percent_axis(figure: go.Figure, *, axis: str = "y") -> None:
    """Rates on this axis, given as 0–100."""
    figure.update_layout({_axis(axis): {"ticksuffix": "%", "tickformat": ",.1f"}})


def day_axis(figure: go.Figure, days: Sequence[date], *, axis: str = "x") -> None:
    """Dates on this axis; a tick a day at most (a short period would get hours otherwise)."""
    settings = {"type": "date", "tickformat": "%m/%d" if len(days) <= 92 else "%Y/%m"}
    if 0 < len(days) <= 14:
        settings["dtick"] = 24 * 60 * 60 * 1000
    figure.update_layout({_axis(axis): settings})


def month_axis(figure: go.Figure, *, axis: str = "x") -> None:
    figure.update_layout({_axis(axis): {"type": "date", "tickformat": "%Y/%m", "dtick": "M1"}})


def _colour(channel: str, colour: str) -> dict:
    colour = colour or (channel_colour(channel) if channel else "")
    return {"color": colour} if colour else {}


def line_trace(
    name: str, x: Sequence, y: Sequence, *, channel: str = "", colour: str = "", **kwargs
) -> go.Scatter:
    """A line of a series; a channel's series in that channel's colour (or `colour`)."""
    line = {"width": 2, **_colour(channel, colour)}
    return go.Scatter(x=list(x), y=list(y), name=name, mode="lines+markers", line=line, **kwargs)


def bar_trace(
    name: str, x: Sequence, y: Sequence, *, channel: str = "", colour: str = "", **kwargs
) -> go.Bar:
    return go.Bar(x=list(x), y=list(y), name=name, marker=_colour(channel, colour), **kwargs)


def figure_data(figure: go.Figure) -> dict:
    """The figure as plain JSON data for the page (what static/js/charts.js draws)."""
    return json.loads(figure.to_json())
