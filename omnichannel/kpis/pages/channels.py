"""The Channels page: how each sales channel sells (this module) and how each messaging channel
reaches and converts (its messaging sections join the same page)."""

from django.utils.translation import gettext_lazy as _

from omnichannel.channels import SALES_CHANNELS, Channel
from omnichannel.charts import day_axis, figure_data, kpi_figure, line_trace, twd_axis
from omnichannel.kpis.filters import KpiFilters
from omnichannel.kpis.registry import Chart, KpiContent, Tile
from omnichannel.kpis.selectors_sales import (
    ActiveMembers,
    active_members,
    sales_by_channel,
    sales_per_day,
    sales_totals,
)

ACTIVE_NOTE = _("Members with an order on a day of the period.")
SEGMENT_NOTE = _(
    "The segment narrows the active members only: orders, revenue, average order value, the "
    "channels' shares and the trends are of every customer."
)


def _label(channel: str) -> str:
    return str(Channel(channel).label)


def sales_tiles(filters: KpiFilters, *, active: ActiveMembers | None = None) -> list[Tile]:
    """Orders, net revenue, average order value and active members (against the period
    before when compared); `active`: the period's active members, when counted already."""
    now = sales_totals(filters, active=active)
    before = sales_totals(filters.previous()) if filters.compare else None
    return [
        Tile("orders", _("Orders"), now.orders, previous=before and before.orders),
        Tile(
            "revenue",
            _("Net revenue"),
            now.revenue_twd,
            unit="twd",
            previous=before and before.revenue_twd,
        ),
        Tile(
            "average-order",
            _("Average order value"),
            now.average_order_twd,
            unit="twd",
            previous=before and before.average_order_twd,
        ),
        Tile(
            "active-members",
            _("Active members"),
            now.active_members,
            previous=before and before.active_members,
            note=ACTIVE_NOTE,
        ),
    ]


def sales_section(filters: KpiFilters) -> KpiContent:
    """The sales tiles, the table per sales channel and the trends per day."""
    active = active_members(filters)  # the tiles' and the table's, counted once
    tiles = sales_tiles(filters, active=active)
    rows = sales_by_channel(filters, active=active)
    total_revenue = sum(row.revenue_twd for row in rows)
    table = Chart(
        "sales-channels",
        _("Sales channels"),
        [
            _("Channel"),
            _("Orders"),
            _("Net revenue"),
            _("Average order value"),
            _("Share of revenue"),
            _("Active members"),
        ],
        [
            [
                _label(row.channel),
                row.orders,
                row.revenue_twd,
                round(row.average_order_twd) if row.orders else None,
                round(row.revenue_twd * 100 / total_revenue, 1) if total_revenue else None,
                row.active_members,
            ]
            for row in rows
        ],
        table=True,
        units=["text", "count", "twd", "twd", "percent", "count"],
        note=ACTIVE_NOTE,
    )
    notes = [SEGMENT_NOTE] if filters.segment else []
    return KpiContent(tiles=tiles, charts=[table, *_trend_charts(filters)], notes=notes)


def _trend_charts(filters: KpiFilters) -> list[Chart]:
    points = sales_per_day(filters)
    days = sorted({point.day for point in points})
    charts = []
    for key, title, value, money in (
        ("revenue-per-day", _("Net revenue per day"), "revenue_twd", True),
        ("orders-per-day", _("Orders per day"), "orders", False),
    ):
        figure = kpi_figure()
        for channel in SALES_CHANNELS:
            series = [point for point in points if point.channel == channel]
            if series:
                figure.add_trace(
                    line_trace(
                        _label(channel),
                        [point.day for point in series],
                        [getattr(point, value) for point in series],
                        channel=channel,
                    )
                )
        day_axis(figure, days)
        if money:
            twd_axis(figure)
        charts.append(
            Chart(
                key,
                title,
                [_("Day"), _("Channel"), _("Net revenue") if money else _("Orders")],
                [[point.day, _label(point.channel), getattr(point, value)] for point in points],
                figure=figure_data(figure) if points else None,
                empty=_("No sales in this period."),
            )
        )
    return charts
