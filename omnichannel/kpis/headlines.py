"""The home dashboard's KPI part: every registered headline (registry.py HEADLINES) for the
last 30 Taipei days against the 30 before, and the online/store split of net revenue.

Each headline is built on its own, as the page shell builds each section: one that raises is
logged and shown as "could not be computed", the others still show. Like the KPI pages, all of
it reads rollups, never orders.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from django.db.models import Q, Sum

from omnichannel.channels import ONLINE_SALES_CHANNELS, Channel
from omnichannel.kpis.filters import KpiFilters, default_filters
from omnichannel.kpis.models import SalesDaily
from omnichannel.kpis.registry import Headline, Tile, headlines_in_order

logger = logging.getLogger(__name__)
HOME_DAYS = 30


@dataclass(frozen=True)
class HeadlineTiles:
    headline: Headline
    tiles: Sequence[Tile]
    failed: bool = False


def home_filters(*, today: date | None = None) -> KpiFilters:
    """The last 30 Taipei days, today included, compared with the 30 before."""
    return replace(default_filters(today=today, days=HOME_DAYS), compare=True)


def headline_tiles(filters: KpiFilters) -> list[HeadlineTiles]:
    """Every registered headline's tiles, in order; a headline that raises is marked failed."""
    built = []
    for headline in headlines_in_order():
        try:
            tiles = list(headline.build(filters))
        except Exception:
            logger.exception("KPI headline %s failed", headline.key)
            built.append(HeadlineTiles(headline, (), failed=True))
            continue
        built.append(HeadlineTiles(headline, tiles))
    return built


@dataclass(frozen=True)
class RevenueSplit:
    online_twd: int
    store_twd: int

    @property
    def total_twd(self) -> int:
        return self.online_twd + self.store_twd

    def share(self, part: int) -> int | None:
        """part's share of the total in whole percent (None without revenue)."""
        return round(part * 100 / self.total_twd) if self.total_twd > 0 else None

    @property
    def online_share(self) -> int | None:
        return self.share(self.online_twd)

    @property
    def store_share(self) -> int | None:
        share = self.online_share
        return None if share is None else 100 - share


def revenue_split(filters: KpiFilters) -> RevenueSplit:
    """Net revenue online and in store over the period (one query on the daily rollup)."""
    rows = SalesDaily.objects.filter(day__gte=filters.start, day__lte=filters.end)
    sums = rows.aggregate(
        online=Sum("revenue_twd", filter=Q(channel__in=ONLINE_SALES_CHANNELS)),
        store=Sum("revenue_twd", filter=Q(channel=Channel.STORE)),
    )
    return RevenueSplit(online_twd=sums["online"] or 0, store_twd=sums["store"] or 0)
