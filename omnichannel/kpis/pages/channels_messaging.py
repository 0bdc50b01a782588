"""The Channels page's messaging part: how each messaging channel (LINE, e-mail, SMS, push)
reaches, converts and pays back, from the campaigns' own figures (omnichannel/kpis/
rollups_messaging.py), and the LINE account's friends added and blocked per day.

Rates, cost and ROI are the campaign report's (campaigns.report.Figures): open and click rate
of messages sent, conversion rate of the audience, cost at the per-message price, ROI =
(revenue − cost) / cost. The period picks campaigns by the day they were sent."""

from django.utils.translation import gettext_lazy as _

from campaigns.report import Figures
from omnichannel.channels import MESSAGING_CHANNELS, Channel
from omnichannel.charts import (
    OTHER_COLOURS,
    bar_trace,
    day_axis,
    figure_data,
    kpi_figure,
    line_trace,
)
from omnichannel.kpis.filters import KpiFilters
from omnichannel.kpis.registry import Chart, KpiContent, Tile
from omnichannel.kpis.selectors_messaging import (
    line_friends_per_day,
    line_friends_totals,
    messaging_by_channel,
    messaging_per_day,
    messaging_totals,
)

SEND_DAY_NOTE = _(
    "Messages count on the day their campaign was sent; the opens, clicks, orders, "
    "unsubscribes and LINE blocks that follow count on that day too, so the last few days "
    "still grow."
)
NOT_SPLIT_NOTE = _(
    "Messaging figures are not split by store or segment: they are each campaign's own "
    "figures, the same as its report."
)
RATES_NOTE = _(
    "Delivery rate: messages the provider took of those tried. Open and click rate: of "
    "messages sent. Conversion rate: members with a credited order, of the audience. ROI: "
    "(revenue − cost) / cost, at the price per message set for each channel."
)
COST_NOTE = _(
    "Cost is counted at the price per message when the campaign's figures were last folded "
    "in: after a price change, this page differs from the campaign's report until the KPIs "
    "are rebuilt."
)
LINE_OPENS_NOTE = _("LINE opens are LINE's own counts, withheld for fewer than 20 people.")


def _label(channel: str) -> str:
    return str(Channel(channel).label)


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def messaging_tiles(filters: KpiFilters) -> list[Tile]:
    """Messages sent, revenue credited to them, ROI and conversion rate (against the period
    before when compared): the home dashboard's headline."""
    now = messaging_totals(filters).figures
    before = messaging_totals(filters.previous()).figures if filters.compare else None
    return _tiles(now, before)


def _tiles(now: Figures, before: Figures | None) -> list[Tile]:
    return [
        Tile("messages-sent", _("Messages sent"), now.sent, previous=before and before.sent),
        Tile(
            "message-revenue",
            _("Revenue from messages"),
            now.revenue_twd,
            unit="twd",
            previous=before and before.revenue_twd,
        ),
        Tile(
            "message-roi",
            _("Messaging ROI"),
            _percent(now.roi),
            unit="percent",
            previous=before and _percent(before.roi),
            note=_("(Revenue − cost) / cost"),
        ),
        Tile(
            "message-conversion",
            _("Conversion rate"),
            _percent(now.conversion_rate),
            unit="percent",
            previous=before and _percent(before.conversion_rate),
            note=_("Members with a credited order, of the audience"),
        ),
    ]


def messaging_section(filters: KpiFilters) -> KpiContent:
    """The messaging tiles, the table per messaging channel, the trends per day and LINE's
    friends per day."""
    now = messaging_totals(filters).figures
    before = messaging_totals(filters.previous()).figures if filters.compare else None
    tiles = _tiles(now, before)
    tiles.append(
        Tile(
            "message-cost",
            _("Messaging cost"),
            now.cost_twd,
            unit="twd",
            previous=before and before.cost_twd,
            lower_is_better=True,
        )
    )
    charts = [_channel_table(filters), *_trend_charts(filters)]
    if filters.messaging_channel in ("", Channel.LINE):
        tiles.append(_friends_tile(filters))
        charts.append(_friends_chart(filters))
    return KpiContent(
        tiles=tiles, charts=charts, notes=(SEND_DAY_NOTE, NOT_SPLIT_NOTE, RATES_NOTE, COST_NOTE)
    )


def _friends_tile(filters: KpiFilters) -> Tile:
    now = line_friends_totals(filters)
    before = line_friends_totals(filters.previous()) if filters.compare else None
    return Tile(
        "line-friends-net",
        _("LINE friends gained (net)"),
        now.follows - now.blocks,
        previous=before and before.follows - before.blocks,
        note=_("Friends added less blocks"),
    )


def _channel_table(filters: KpiFilters) -> Chart:
    rows = messaging_by_channel(filters)
    return Chart(
        "messaging-channels",
        _("Messaging channels"),
        [
            _("Channel"),
            _("Audience"),
            _("Sent"),
            _("Suppressed"),
            _("Delivery rate"),
            _("Open rate"),
            _("Click-through rate"),
            _("Conversion rate"),
            _("Revenue"),
            _("Cost"),
            _("ROI"),
            _("Unsubscribe rate"),
            _("LINE block rate"),
        ],
        [
            [
                _label(row.channel),
                row.figures.members,
                row.figures.sent,
                row.suppressed,
                _percent(row.figures.delivery_rate),
                # An SMS has no open to track: no rate rather than 0 %.
                _percent(row.figures.open_rate) if row.channel != Channel.SMS else None,
                _percent(row.figures.click_rate),
                _percent(row.figures.conversion_rate),
                row.figures.revenue_twd,
                row.figures.cost_twd,
                _percent(row.figures.roi),
                _percent(row.figures.unsubscribe_rate),
                _percent(row.figures.line_block_rate) if row.channel == Channel.LINE else None,
            ]
            for row in rows
        ],
        table=True,
        units=[
            "text",
            "count",
            "count",
            "count",
            "percent",
            "percent",
            "percent",
            "percent",
            "twd",
            "twd",
            "percent",
            "percent",
            "percent",
        ],
        note=LINE_OPENS_NOTE,
        wide=True,
    )


def _trend_charts(filters: KpiFilters) -> list[Chart]:
    points = messaging_per_day(filters)
    days = sorted({point.day for point in points})
    charts = []
    for key, title, value, heading in (
        ("messages-per-day", _("Messages sent per day"), "sent", _("Sent")),
        ("conversions-per-day", _("Conversions per send day"), "converted", _("Converted")),
    ):
        figure = kpi_figure()
        for channel in MESSAGING_CHANNELS:
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
        charts.append(
            Chart(
                key,
                title,
                [_("Day"), _("Channel"), heading],
                [[point.day, _label(point.channel), getattr(point, value)] for point in points],
                figure=figure_data(figure) if points else None,
                empty=_("No campaign was sent in this period."),
            )
        )
    return charts


def _friends_chart(filters: KpiFilters) -> Chart:
    points = line_friends_per_day(filters)
    figure = kpi_figure(barmode="group")
    figure.add_trace(
        bar_trace(
            str(_("Friends added")),
            [point.day for point in points],
            [point.follows for point in points],
            channel=Channel.LINE,
        )
    )
    blocks = bar_trace(
        str(_("Blocks")), [point.day for point in points], [point.blocks for point in points]
    )
    blocks.marker.color = OTHER_COLOURS[5]  # grey: a loss, not another channel
    figure.add_trace(blocks)
    day_axis(figure, [point.day for point in points])
    return Chart(
        "line-friends",
        _("LINE friends added and blocked per day"),
        [_("Day"), _("Friends added"), _("Blocks")],
        [[point.day, point.follows, point.blocks] for point in points],
        figure=figure_data(figure) if points else None,
        empty=_("No LINE follows or blocks in this period."),
        note=_("From the LINE webhook: a follow is a new friend or an unblock."),
    )
