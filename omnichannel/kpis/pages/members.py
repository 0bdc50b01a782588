"""The Members / OMO page: who joins and through which channel, who is active, who buys both
online and in store (OMO) and what they are worth against single-channel members, customer
lifetime value (to date, and predicted for 12 months by the nightly BG/NBD + Gamma-Gamma fit),
the RFM grid and monthly cohort retention."""

import plotly.graph_objects as go
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from omnichannel.channels import CHANNEL_STYLE, Channel, channel_colour
from omnichannel.charts import (
    OTHER_COLOURS,
    bar_trace,
    day_axis,
    figure_data,
    kpi_figure,
    twd_axis,
)
from omnichannel.kpis.filters import KpiFilters
from omnichannel.kpis.registry import Chart, KpiContent, Tile
from omnichannel.kpis.selectors_members import (
    COHORT_MONTHS,
    OmoFigures,
    clv_last_run,
    cohort_retention,
    new_members_per_day,
    omo_figures,
    rfm_grid,
    value_summary,
)
from omnichannel.kpis.selectors_sales import sales_totals

ACTIVE_NOTE = _("Members with an order on a day of the period (as on the Channels page).")
OMO_SHARE_NOTE = _(
    "Active members who bought both online and in store in the same month. Counted over the "
    "period's calendar months; compared with as many whole months just before."
)
PREMIUM_NOTE = _(
    "Spend per same-month OMO member ÷ per single-channel member. Counted over the period's "
    "calendar months; compared with as many whole months just before."
)
OMO_DEFINITION = _(
    "Counted per calendar month of the period: a member is OMO in a month when they bought "
    "that month both in a store and in at least one online channel (web shop, marketplace, "
    "app, LINE shopping), single-channel when only in stores or only online; over several "
    "months a member counts once per month active (member-months). Spend is net revenue per "
    "member-month; frequency is orders per member-month. The OMO premium is the OMO figure "
    "divided by the single-channel one. A store narrows to the members who bought there that "
    "month; the channel filter does not apply. This is not the OMO shopper type of member "
    "segments, which looks at a member's lifetime orders: a member who bought online in one "
    "month and in store in another is an OMO shopper there, but single-channel here."
)
VALUE_NOTE = _(
    "Historic CLV: net revenue to date per member. Predicted CLV: expected net revenue of the "
    "next 12 months per member who has bought (BG/NBD purchases × Gamma-Gamma average order, "
    "undiscounted), fitted nightly on all members; the period, store, channel and segment "
    "filters do not apply."
)
NO_FIT = _("The customer-value models have not been fitted yet: run manage.py fit_clv.")
UNKNOWN = _("Unknown")


def _channel_label(value: str) -> str:
    if not value:
        return str(UNKNOWN)
    try:
        return str(Channel(value).label)
    except ValueError:
        return value


def _colour(value: str) -> str | None:
    return channel_colour(value) if value in CHANNEL_STYLE else None


def _ratio(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def grid_trace(cells: dict, *, colorscale: str, text: str, zmax: float | None = None):
    """A heatmap drawn as a grid of square markers: (x, y) → value. Plotly's own heatmap
    writes inline styles and a data: image, which the page's CSP refuses."""
    keys = list(cells)
    values = [cells[key] for key in keys]
    return go.Scatter(
        x=[x for x, _y in keys],
        y=[y for _x, y in keys],
        mode="markers+text",
        text=[text.format(value) for value in values],
        textfont={"size": 11},
        marker={
            "symbol": "square",
            "size": 30,
            "color": values,
            "colorscale": colorscale,
            "cmin": 0,
            "cmax": zmax if zmax is not None else max(values or [1]) or 1,
            "showscale": False,
        },
        hovertemplate="%{y} %{x}: %{text}<extra></extra>",
        showlegend=False,
    )


def _active(filters: KpiFilters) -> int:
    """Active members: the Channels page's count (members with an order on a day of the
    period, in the store and sales channel when filtered), so the two tiles always agree."""
    return sales_totals(filters).active_members


def _new(filters: KpiFilters) -> int:
    return sum(n for _day, _channel, n in new_members_per_day(filters))


def acquisition_tiles(filters: KpiFilters) -> list[Tile]:
    previous = _new(filters.previous()) if filters.compare else None
    return [Tile("new-members", _("New members"), _new(filters), previous=previous)]


def omo_tiles(filters: KpiFilters, omo: OmoFigures, before: OmoFigures | None) -> list[Tile]:
    """Active members, the OMO share and the OMO spend premium, from one OMO split."""
    return [
        Tile(
            "active-members",
            _("Active members"),
            _active(filters),
            previous=_active(filters.previous()) if filters.compare else None,
            note=ACTIVE_NOTE,
        ),
        Tile(
            "omo-share",
            _("OMO share"),
            omo.omo_share,
            unit="percent",
            previous=before and before.omo_share,
            note=OMO_SHARE_NOTE,
        ),
        Tile(
            "omo-premium",
            _("OMO spend premium"),
            omo.spend_premium,
            unit="ratio",
            previous=before and before.spend_premium,
            note=PREMIUM_NOTE,
        ),
    ]


def _omo_now_and_before(filters: KpiFilters) -> tuple[OmoFigures, OmoFigures | None]:
    """The OMO split of the period's months and, when compared, of as many whole months just
    before (never the day-shifted period, whose months would overlap these)."""
    before = omo_figures(filters.previous_months()) if filters.compare else None
    return omo_figures(filters), before


def members_tiles(filters: KpiFilters) -> list[Tile]:
    """The headline: new members, active members, the OMO share and the OMO spend premium
    (against the period before when compared)."""
    omo, before = _omo_now_and_before(filters)
    return acquisition_tiles(filters) + omo_tiles(filters, omo, before)


def acquisition_section(filters: KpiFilters) -> KpiContent:
    """The tiles, new members per day by acquisition channel, and the totals per channel."""
    points = new_members_per_day(filters)
    channels = sorted({channel for _day, channel, _n in points})
    figure = kpi_figure(barmode="stack")
    for channel in channels:
        series = [(day, n) for day, c, n in points if c == channel]
        figure.add_trace(
            bar_trace(
                _channel_label(channel),
                [day for day, _n in series],
                [n for _day, n in series],
                channel=channel if channel in CHANNEL_STYLE else "",
            )
        )
    day_axis(figure, sorted({day for day, _c, _n in points}))
    per_day = Chart(
        "new-members-per-day",
        _("New members per day"),
        [_("Day"), _("Acquisition channel"), _("New members")],
        [[day, _channel_label(channel), n] for day, channel, n in points],
        figure=figure_data(figure) if points else None,
        empty=_("No member joined in this period."),
    )
    totals: dict[str, int] = {}
    for _day, channel, n in points:
        totals[channel] = totals.get(channel, 0) + n
    everyone = sum(totals.values())
    per_channel = Chart(
        "new-members-by-channel",
        _("New members by acquisition channel"),
        [_("Acquisition channel"), _("New members"), _("Share")],
        [
            [_channel_label(channel), n, round(n * 100 / everyone, 1)]
            for channel, n in sorted(totals.items(), key=lambda item: -item[1])
        ],
        table=True,
        units=["text", "count", "percent"],
        note=_("By home store when a store is chosen; the channel filter is how they joined."),
    )
    return KpiContent(tiles=acquisition_tiles(filters), charts=[per_day, per_channel])


def omo_section(filters: KpiFilters) -> KpiContent:
    """OMO against single-channel members: members, spend and frequency, and the premium."""
    omo, before = _omo_now_and_before(filters)
    single = omo.single
    groups = [
        (_("Same-month OMO (online and store)"), omo.omo),
        (_("Store only"), omo.store_only),
        (_("Online only"), omo.online_only),
        (_("Single-channel (store only or online only)"), single),
    ]

    def premium(value, base):
        return _ratio(value / base) if value is not None and base else None

    rows = [
        [
            label,
            group.members,
            round(group.members * 100 / omo.active, 1) if omo.active else None,
            _round(group.spend_per_member),
            _round(group.orders_per_member, 2),
            premium(group.spend_per_member, single.spend_per_member),
            premium(group.orders_per_member, single.orders_per_member),
        ]
        for label, group in groups
    ]
    table = Chart(
        "omo",
        _("OMO members against single-channel members"),
        [
            _("Members"),
            _("Active members"),
            _("Share of active members"),
            _("Spend per member"),
            _("Orders per member"),
            _("Spend against single-channel"),
            _("Frequency against single-channel"),
        ],
        rows,
        table=True,
        units=["text", "count", "percent", "twd", "number", "ratio", "ratio"],
        note=OMO_DEFINITION,
    )
    figure = kpi_figure()
    names = [str(label) for label, _group in groups[:3]]
    colours = [OTHER_COLOURS[0], channel_colour("store"), channel_colour("web")]
    figure.add_trace(
        go.Bar(
            x=names,
            y=[group.spend_per_member or 0 for _label, group in groups[:3]],
            marker={"color": colours},
            name=str(_("Spend per member")),
        )
    )
    twd_axis(figure)
    chart = Chart(
        "omo-spend",
        _("Spend per member: OMO, store only, online only"),
        [_("Members"), _("Spend per member"), _("Orders per member")],
        [
            [label, _round(group.spend_per_member), _round(group.orders_per_member, 2)]
            for label, group in groups[:3]
        ],
        figure=figure_data(figure) if omo.active else None,
        empty=_("No member bought in these months."),
    )
    return KpiContent(tiles=omo_tiles(filters, omo, before), charts=[table, chart])


def month_label(k: int) -> str:
    """Months since the first purchase, as the cohort heatmap and table label them."""
    return _("M%(k)d") % {"k": k}


def score_label(kind: str, score: int) -> str:
    """An RFM score as the grid's axes label it: R (recency) or F (frequency) 1–5."""
    label = _("R%(score)d") if kind == "R" else _("F%(score)d")
    return label % {"score": score}


def _round(value: float | None, digits: int = 0):
    if value is None:
        return None
    return round(value, digits) if digits else round(value)


def value_section(filters: KpiFilters) -> KpiContent:
    """Historic and predicted CLV by acquisition channel and by first-purchase month."""
    run = clv_last_run()
    if run is None:
        return KpiContent(
            charts=[
                Chart(
                    "clv-by-channel",
                    _("Customer lifetime value by acquisition channel"),
                    [],
                    [],
                    empty=NO_FIT,
                )
            ]
        )
    by_channel = value_summary(run, "acquisition")
    figure = kpi_figure(barmode="group")
    labels = [_channel_label(row.key) for row in by_channel]
    figure.add_trace(
        go.Bar(
            name=str(_("Historic CLV")),
            x=labels,
            y=[_round(row.historic_clv) for row in by_channel],
            marker={"color": OTHER_COLOURS[0]},
        )
    )
    figure.add_trace(
        go.Bar(
            name=str(_("Predicted 12-month CLV")),
            x=labels,
            y=[_round(row.predicted_clv) or 0 for row in by_channel],
            marker={"color": OTHER_COLOURS[1]},
        )
    )
    twd_axis(figure)
    channel_chart = Chart(
        "clv-by-channel",
        _("Customer lifetime value by acquisition channel"),
        [
            _("Acquisition channel"),
            _("Members"),
            _("Members who bought"),
            _("Historic CLV"),
            _("Historic CLV per buyer"),
            _("Predicted 12-month CLV per buyer"),
        ],
        [
            [
                label,
                row.members,
                row.buyers,
                _round(row.historic_clv),
                _round(row.historic_clv_per_buyer),
                _round(row.predicted_clv),
            ]
            for label, row in zip(labels, by_channel, strict=True)
        ],
        figure=figure_data(figure) if by_channel else None,
        note=VALUE_NOTE,
        empty=_("No member yet."),
    )
    by_cohort = value_summary(run, "cohort")[-24:]
    cohort_table = Chart(
        "clv-by-cohort",
        _("Customer lifetime value by first-purchase month"),
        [
            _("First purchase"),
            _("Members"),
            _("Historic CLV"),
            _("Predicted 12-month CLV"),
            _("Predicted purchases, 12 months"),
        ],
        [
            [
                row.key,
                row.buyers,
                _round(row.historic_clv_per_buyer),
                _round(row.predicted_clv),
                _round(row.predicted_purchases_12m / row.buyers, 2) if row.buyers else None,
            ]
            for row in reversed(by_cohort)
        ],
        table=True,
        units=["text", "count", "twd", "twd", "number"],
        note=_("The last 24 first-purchase months; per member of the cohort. Fitted %(at)s.")
        % {"at": date_format(run.as_of, "SHORT_DATETIME_FORMAT")},
    )
    return KpiContent(charts=[channel_chart, cohort_table])


def rfm_section(filters: KpiFilters) -> KpiContent:
    """Members per RFM recency × frequency score, and their net revenue of the last 365
    days, as a heatmap."""
    grid = rfm_grid(filters, clv_last_run())
    scores = [1, 2, 3, 4, 5]
    figure = kpi_figure(height=360, hovermode="closest")
    counts = {
        (score_label("F", f), score_label("R", r)): grid.get((r, f), (0, 0))[0]
        for r in scores
        for f in scores
    }
    figure.add_trace(grid_trace(counts, colorscale="Blues", text="{:,}"))
    figure.update_layout(
        xaxis={
            "title": {"text": str(_("Frequency score"))},
            "type": "category",
            "categoryorder": "array",
            "categoryarray": [score_label("F", f) for f in scores],
        },
        yaxis={
            "title": {"text": str(_("Recency score"))},
            "type": "category",
            "categoryorder": "array",
            "categoryarray": [score_label("R", r) for r in scores],
        },
    )
    return KpiContent(
        charts=[
            Chart(
                "rfm-grid",
                _("RFM grid: members by recency and frequency score"),
                [_("R score"), _("F score"), _("Members"), _("Net revenue, last 365 days")],
                [
                    [r, f, *grid[(r, f)]]
                    for r in reversed(scores)
                    for f in reversed(scores)
                    if (r, f) in grid
                ],
                figure=figure_data(figure) if grid else None,
                empty=_("No member has RFM scores yet (members who bought in 365 days)."),
                note=_(
                    "Scores 1–5 from the nightly scoring (5: most recent, most frequent); "
                    "all members unless a segment is chosen."
                ),
            )
        ]
    )


def cohort_section(filters: KpiFilters) -> KpiContent:
    """Monthly cohort retention: % of each first-purchase month's members active k months
    later, as a heatmap."""
    rows = cohort_retention(filters)
    span = COHORT_MONTHS
    labels = [date_format(row.cohort, "Y-m") for row in rows]
    figure = kpi_figure(height=420, hovermode="closest")
    cells = {
        (month_label(k), label): _round(row.retained(k), 1)
        for label, row in zip(labels, rows, strict=True)
        for k in range(span)
        if row.retained(k) is not None
    }
    figure.add_trace(grid_trace(cells, colorscale="Greens", text="{:.0f}%", zmax=100))
    figure.update_layout(
        xaxis={
            "title": {"text": str(_("Months since first purchase"))},
            "type": "category",
            "categoryorder": "array",
            "categoryarray": [month_label(k) for k in range(span)],
        },
        yaxis={
            "autorange": "reversed",
            "type": "category",
            "categoryorder": "array",
            "categoryarray": labels,
        },
    )
    headers = [_("First purchase"), _("Members")] + [
        _("%(month)s, %% active") % {"month": month_label(k)} for k in range(span)
    ]
    return KpiContent(
        charts=[
            Chart(
                "cohort-retention",
                _("Monthly cohort retention"),
                headers,
                [
                    [label, row.size, *[_round(row.retained(k), 1) for k in range(span)]]
                    for label, row in zip(labels, rows, strict=True)
                ],
                figure=figure_data(figure) if rows else None,
                wide=True,
                empty=_("No first purchases in the twelve months up to the period's end."),
                note=_(
                    "Cohort: the calendar month of a member's first purchase; M0 is that month "
                    "(100%), Mk the share of the cohort that bought k months later. The twelve "
                    "cohorts up to the period's end."
                ),
            )
        ]
    )
