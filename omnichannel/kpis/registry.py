"""The KPI area's two extension points (STYLE.md 21): rollups and pages.

A rollup is a table the refresh keeps current (`refresh`: fold in what changed since the last
run; `rebuild`: recompute everything), run in `order` so a derived rollup (cohorts) follows the
ones it reads. A page is a slug under /kpis/, a title and its sections, each a
`section(filters) -> KpiContent` that reads rollups and MemberStats only. The shell builds each
section on its own: one that fails shows "could not be computed" in its place and is logged,
the others still show (one bad value never breaks a page). Each area (channels, members,
loyalty) registers its own from KpisConfig.ready(); the shell (views, template, CSV) knows
none of them.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from omnichannel.registry import Registry

if TYPE_CHECKING:
    from django.utils.functional import Promise

    from omnichannel.kpis.filters import KpiFilters


@dataclass(frozen=True)
class Rollup:
    name: str
    refresh: Callable[[], int]  # → cells rewritten
    rebuild: Callable[[], int]  # → rows written
    order: int = 100


ROLLUPS: Registry[Rollup] = Registry("KPI rollup", key=lambda rollup: rollup.name)


def rollups_in_order() -> list[Rollup]:
    return sorted(ROLLUPS.all(), key=lambda rollup: rollup.order)


@dataclass(frozen=True)
class Tile:
    """A headline number; `previous` is the same figure for the period before (compare)."""

    key: str
    label: "str | Promise"
    value: int | float | None
    unit: str = "count"  # count · twd · percent (0–100) · number (one decimal) · ratio (×)
    previous: int | float | None = None
    note: "str | Promise" = ""
    # True when a rise is bad news (cost, unsubscribes, blocks): the delta is coloured so.
    lower_is_better: bool = False


@dataclass(frozen=True)
class Chart:
    """A chart (a Plotly figure as JSON data, omnichannel/kpis/charts.py) or a table, and the
    numbers behind it, which the page offers as CSV (UI.md). `figure` None and `table` False:
    nothing to draw for these filters, and `empty` says why."""

    key: str  # unique on its page; the CSV's URL
    title: "str | Promise"
    headers: Sequence["str | Promise"]
    rows: Sequence[Sequence[Any]]
    figure: dict | None = None
    table: bool = False  # show the rows as a table (a grid, a per-channel comparison)
    note: "str | Promise" = ""
    empty: "str | Promise" = ""
    units: Sequence[str] = ()  # per column for a table: count · twd · percent · number · text
    wide: bool = False  # the full width of the page rather than half


@dataclass(frozen=True)
class KpiContent:
    tiles: Sequence[Tile] = ()
    charts: Sequence[Chart] = ()
    notes: Sequence["str | Promise"] = field(default_factory=tuple)

    def chart(self, key: str) -> Chart | None:
        return next((chart for chart in self.charts if chart.key == key), None)


# The filters the shell knows; a page lists those it honours, and the bar shows only those.
FILTER_NAMES = ("period", "store", "channel", "segment", "compare")


@dataclass(frozen=True)
class KpiPage:
    slug: str
    title: "str | Promise"
    icon: str  # a Bootstrap icon name
    sections: tuple[Callable[["KpiFilters"], KpiContent], ...]
    description: "str | Promise" = ""
    filters: tuple[str, ...] = FILTER_NAMES
    channels: tuple[tuple[str, "str | Promise"], ...] = ()  # the channel filter's choices
    order: int = 100


PAGES: Registry[KpiPage] = Registry("KPI page", key=lambda page: page.slug)


def pages_in_order() -> list[KpiPage]:
    return sorted(PAGES.all(), key=lambda page: page.order)


@dataclass(frozen=True)
class Headline:
    """Headline tiles an area offers the home dashboard (the last 30 days against the 30
    before): `build(filters)` returns its tiles with `previous` filled."""

    key: str
    title: "str | Promise"
    page_slug: str  # the KPI page the tiles link to
    build: Callable[["KpiFilters"], Sequence[Tile]]
    order: int = 100


HEADLINES: Registry[Headline] = Registry("KPI headline", key=lambda headline: headline.key)


def headlines_in_order() -> list[Headline]:
    return sorted(HEADLINES.all(), key=lambda headline: headline.order)
