"""The Loyalty page: points issued, redeemed and expired, the liability and its breakage
forecast, tier movements, coupons, wallet cards, and how often wallet-card holders buy.

Points and wallet figures come from their rollups (rollups_loyalty.py); tiers and coupons from
loyalty's own small-table selectors; the holders' frequency from members' monthly activity.
The segment narrows the member-grained figure (the holders' frequency) only, and the page
says so.
"""

from django.utils.translation import gettext_lazy as _

from loyalty.models import WalletPass
from omnichannel.charts import (
    OTHER_COLOURS,
    bar_trace,
    day_axis,
    figure_data,
    kpi_figure,
    line_trace,
    twd_axis,
)
from omnichannel.kpis.filters import KpiFilters
from omnichannel.kpis.registry import Chart, KpiContent, Tile
from omnichannel.kpis.selectors_loyalty import (
    coupons_by_reward,
    holders_frequency,
    points_flows,
    points_liability,
    points_per_day,
    tier_moves_total,
    tiers,
    wallet_per_day,
    wallet_totals,
)

FLOWS = (
    ("issued", _("Issued"), OTHER_COLOURS[0]),
    ("redeemed", _("Redeemed"), OTHER_COLOURS[2]),
    ("expired", _("Expired"), OTHER_COLOURS[1]),
)
WALLET_SERIES = (
    ("", _("Members with a card"), OTHER_COLOURS[3]),
    (WalletPass.Platform.APPLE, WalletPass.Platform.APPLE.label, "#212529"),
    (WalletPass.Platform.GOOGLE, WalletPass.Platform.GOOGLE.label, OTHER_COLOURS[0]),
)
NOTE_BREAKAGE = _(
    "Breakage: of the points redeemed or expired in the 12 months up to the period's end, the "
    "share that expired; the expected cost is the liability less that share (loyalty's "
    "overview method). Without redemptions or expiries, every point is assumed used."
)
NOTE_TIERS = _("Members per tier now; upgrades and downgrades are moves into a tier in the period.")
NOTE_COUPONS = _("Coupons issued in the period, and how many of those have been used so far.")
NOTE_WALLET = _(
    "From each card's current state: a card taken out and added again counts from its latest "
    "addition. Adoption is the share of members with a card in a wallet at the period's end."
)
NOTE_FREQUENCY = _(
    "Orders per active member per month over the period's calendar months; a member's month "
    "counts as a holder's when they had a card in a wallet at the month's end (this month: "
    "now). An association, not a cause: members who add the card may be the ones who buy more "
    "anyway. The segment filter narrows this figure."
)


def _line(name: str, x, y, colour: str):
    """A line of a series that is not a channel, in its own colour."""
    return line_trace(name, x, y).update(line_color=colour)


def _previous(filters: KpiFilters) -> KpiFilters | None:
    return filters.previous() if filters.compare else None


def points_tiles(filters: KpiFilters) -> list[Tile]:
    now = points_flows(filters)
    previous = _previous(filters)
    before = points_flows(previous) if previous else None
    return [
        Tile(key, label, getattr(now, key), previous=before and getattr(before, key))
        for key, label in (
            ("issued", _("Points issued")),
            ("redeemed", _("Points redeemed")),
            ("expired", _("Points expired")),
        )
    ]


def points_section(filters: KpiFilters) -> KpiContent:
    """Points flows per day and the liability they leave."""
    days = points_per_day(filters)
    liability = points_liability(filters)
    previous = _previous(filters)
    before = points_liability(previous) if previous else None
    tiles = [
        *points_tiles(filters),
        Tile(
            "liability",
            _("Points liability"),
            liability.liability_twd,
            unit="twd",
            previous=before and before.liability_twd,
            note=_("Points outstanding at the period's end × their value in NT$."),
            lower_is_better=True,
        ),
        Tile(
            "breakage",
            _("Forecast breakage"),
            liability.breakage.percent,
            unit="percent",
            previous=before and before.breakage.percent,
            note=_("Expected cost %(cost)s") % {"cost": f"NT${liability.expected_cost_twd:,}"},
        ),
    ]
    flows = kpi_figure()
    for key, label, colour in FLOWS:
        flows.add_trace(
            _line(
                str(label),
                [day.day for day in days],
                [getattr(day.flows, key) for day in days],
                colour,
            )
        )
    day_axis(flows, [day.day for day in days])
    value = liability.point_value_twd
    outstanding = kpi_figure()
    outstanding.add_trace(
        _line(
            str(_("Liability")),
            [day.day for day in days],
            [day.outstanding * value for day in days],
            OTHER_COLOURS[3],
        )
    )
    day_axis(outstanding, [day.day for day in days])
    twd_axis(outstanding)
    empty = _("No days in this period yet.")
    charts = [
        Chart(
            "points-per-day",
            _("Points issued, redeemed and expired per day"),
            [_("Day"), _("Issued"), _("Redeemed"), _("Expired"), _("Other moves")],
            [
                [d.day, d.flows.issued, d.flows.redeemed, d.flows.expired, d.flows.other]
                for d in days
            ],
            figure=figure_data(flows) if days else None,
            empty=empty,
        ),
        Chart(
            "liability-per-day",
            _("Points liability per day"),
            [_("Day"), _("Points outstanding"), _("Liability")],
            [[d.day, d.outstanding, d.outstanding * value] for d in days],
            figure=figure_data(outstanding) if days else None,
            empty=empty,
            note=_("Expected cost %(cost)s, expected breakage %(breakage)s.")
            % {
                "cost": f"NT${liability.expected_cost_twd:,}",
                "breakage": f"NT${liability.expected_breakage_twd:,}",
            },
        ),
    ]
    return KpiContent(tiles=tiles, charts=charts, notes=[NOTE_BREAKAGE])


def tiers_section(filters: KpiFilters) -> KpiContent:
    """Members per tier now and the moves between tiers in the period."""
    rows = tiers(filters)
    previous = _previous(filters)
    before = tier_moves_total(previous) if previous else None
    upgrades = sum(row.row.upgrades for row in rows)
    downgrades = sum(row.row.downgrades for row in rows)
    tiles = [
        Tile("upgrades", _("Tier upgrades"), upgrades, previous=before and before[0]),
        Tile(
            "downgrades",
            _("Tier downgrades"),
            downgrades,
            previous=before and before[1],
            lower_is_better=True,
        ),
    ]
    table = Chart(
        "tiers",
        _("Tiers"),
        [_("Tier"), _("Members"), _("Share of members"), _("Upgrades"), _("Downgrades")],
        [
            [
                row.row.tier.name if row.row.tier else str(_("No tier yet")),
                row.row.accounts,
                round(row.percent, 1),
                row.row.upgrades,
                row.row.downgrades,
            ]
            for row in rows
        ],
        table=True,
        units=["text", "count", "percent", "count", "count"],
        note=NOTE_TIERS,
    )
    return KpiContent(tiles=tiles, charts=[table])


def _coupon_totals(rows) -> tuple[int, int, float | None]:
    issued = sum(row.issued for row in rows)
    used = sum(row.used for row in rows)
    return issued, used, used * 100 / issued if issued else None


def coupons_section(filters: KpiFilters) -> KpiContent:
    """Coupons issued against used in the period, per reward."""
    rows = coupons_by_reward(filters)
    issued, _used, rate = _coupon_totals(rows)
    previous = _previous(filters)
    before = _coupon_totals(coupons_by_reward(previous)) if previous else None
    tiles = [
        Tile("coupons-issued", _("Coupons issued"), issued, previous=before and before[0]),
        Tile(
            "coupon-use-rate",
            _("Coupons used"),
            rate,
            unit="percent",
            previous=before and before[2],
            note=_("Of the coupons issued in the period."),
        ),
    ]
    figure = kpi_figure(barmode="group")
    names = [row.name for row in rows]
    figure.add_trace(
        bar_trace(str(_("Issued")), names, [row.issued for row in rows]).update(
            marker_color=OTHER_COLOURS[0]
        )
    )
    figure.add_trace(
        bar_trace(str(_("Used")), names, [row.used for row in rows]).update(
            marker_color=OTHER_COLOURS[2]
        )
    )
    chart = Chart(
        "coupons-by-reward",
        _("Coupons issued and used per reward"),
        [_("Reward"), _("Points price"), _("Issued"), _("Used"), _("Use rate")],
        [
            [row.name, row.points_price, row.issued, row.used, round(row.used_percent, 1)]
            for row in rows
        ],
        figure=figure_data(figure) if rows else None,
        empty=_("No coupon was issued in this period."),
        note=NOTE_COUPONS,
    )
    return KpiContent(tiles=tiles, charts=[chart])


def wallet_tiles(filters: KpiFilters) -> list[Tile]:
    now = wallet_totals(filters)
    previous = _previous(filters)
    before = wallet_totals(previous, members=now.members) if previous else None
    return [
        Tile(
            "wallet-holders",
            _("Members with a wallet card"),
            now.holders,
            previous=before and before.holders,
        ),
        Tile(
            "wallet-adoption",
            _("Wallet adoption"),
            now.adoption_percent,
            unit="percent",
            previous=before and before.adoption_percent,
            note=_("Share of members with a card in a wallet."),
        ),
        Tile(
            "wallet-removed",
            _("Wallet cards removed"),
            now.removed,
            previous=before and before.removed,
            lower_is_better=True,
        ),
    ]


def wallet_section(filters: KpiFilters) -> KpiContent:
    """Cards in wallets over time, per platform, and members holding one."""
    days = wallet_per_day(filters)
    figure = kpi_figure()
    labels = {platform: str(label) for platform, label, _colour in WALLET_SERIES}
    for platform, label, colour in WALLET_SERIES:
        series = [day for day in days if day.platform == platform]
        figure.add_trace(
            _line(
                str(label),
                [day.day for day in series],
                [day.in_wallets for day in series],
                colour,
            )
        )
    day_axis(figure, sorted({day.day for day in days}))
    chart = Chart(
        "wallet-cards",
        _("Cards in wallets"),
        [_("Day"), _("Wallet"), _("Added"), _("Removed"), _("In wallets")],
        [[d.day, labels[d.platform], d.added, d.removed, d.in_wallets] for d in days],
        figure=figure_data(figure) if days else None,
        empty=_("No days in this period yet."),
        note=NOTE_WALLET,
    )
    return KpiContent(tiles=wallet_tiles(filters), charts=[chart])


def frequency_section(filters: KpiFilters) -> KpiContent:
    """How often wallet-card holders buy against the other active members."""
    now = holders_frequency(filters)
    previous = _previous(filters)
    before = holders_frequency(previous) if previous else None
    tile = Tile(
        "holders-frequency",
        _("Wallet holders buy (× as often)"),
        now.ratio,
        unit="ratio",
        previous=before and before.ratio,
        note=_("Association, not cause."),
    )
    groups = ((_("Wallet-card holders"), now.holders), (_("Other active members"), now.others))
    figure = kpi_figure()
    figure.add_trace(
        bar_trace(
            str(_("Orders per active member per month")),
            [str(label) for label, _group in groups],
            [group.per_member_month or 0 for _label, group in groups],
        ).update(marker_color=[OTHER_COLOURS[3], OTHER_COLOURS[5]])
    )
    chart = Chart(
        "wallet-frequency",
        _("Purchase frequency: wallet-card holders against the rest"),
        [_("Members"), _("Active member-months"), _("Orders"), _("Orders per member per month")],
        [
            [
                str(label),
                group.member_months,
                group.orders,
                round(group.per_member_month, 2) if group.per_member_month is not None else None,
            ]
            for label, group in groups
        ],
        figure=figure_data(figure)
        if now.holders.member_months or now.others.member_months
        else None,
        empty=_("No member bought in this period."),
        note=_("Holders buy %(ratio)s as often as the others. %(note)s")
        % {
            "ratio": f"{now.ratio:.2f}×" if now.ratio is not None else "—",
            "note": NOTE_FREQUENCY,
        },
    )
    return KpiContent(tiles=[tile], charts=[chart], notes=[NOTE_FREQUENCY])


def loyalty_headline(filters: KpiFilters) -> list[Tile]:
    """Points issued and redeemed, the liability and wallet adoption, for the home page."""
    tiles = {tile.key: tile for tile in points_tiles(filters)}
    liability = points_liability(filters)
    previous = _previous(filters)
    before = points_liability(previous) if previous else None
    adoption = next(tile for tile in wallet_tiles(filters) if tile.key == "wallet-adoption")
    return [
        tiles["issued"],
        tiles["redeemed"],
        Tile(
            "liability",
            _("Points liability"),
            liability.liability_twd,
            unit="twd",
            previous=before and before.liability_twd,
            lower_is_better=True,
        ),
        adoption,
    ]
