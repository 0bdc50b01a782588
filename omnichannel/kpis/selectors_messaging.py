"""Messaging figures read from the messaging rollups (never from deliveries or touchpoints): per
messaging channel over a period, per day and channel, and LINE friends per day.

The figures come back as campaigns' own `Figures` (campaigns.report), so every rate, the cost
in NT$ and the ROI are the campaign report's rules, computed by the same properties."""

from dataclasses import dataclass
from datetime import date

from django.db.models import Q, QuerySet, Sum

from campaigns.report import Figures
from omnichannel.channels import MESSAGING_CHANNELS
from omnichannel.kpis.filters import KpiFilters
from omnichannel.kpis.models import LineFriendsDaily, MessagingDaily

# The rollup's columns that are Figures' counts of the same name.
SUMMED = (
    "members",
    "sent",
    "delivered",
    "failed",
    "opened",
    "clicked",
    "converted",
    "orders",
    "revenue_online_twd",
    "revenue_store_twd",
    "cost_cents",
    "unsubscribed",
    "line_blocked",
)
SUPPRESSED = ("suppressed", "suppressed_consent", "suppressed_unreachable", "suppressed_cap")


@dataclass(frozen=True)
class Messaging:
    """A channel's (or all channels') figures, and its suppressed members: in all, for want of
    consent, unreachable (blocked the LINE account, bounced, complained), over the frequency
    cap, and for any other reason."""

    channel: str
    figures: Figures
    suppressed: int = 0
    suppressed_consent: int = 0
    suppressed_unreachable: int = 0
    suppressed_cap: int = 0

    @property
    def suppressed_other(self) -> int:
        named = self.suppressed_consent + self.suppressed_unreachable + self.suppressed_cap
        return self.suppressed - named


def _messaging(filters: KpiFilters) -> QuerySet[MessagingDaily]:
    rows = MessagingDaily.objects.filter(day__gte=filters.start, day__lte=filters.end)
    if filters.messaging_channel:
        rows = rows.filter(channel=filters.messaging_channel)
    return rows


def _sums() -> dict:
    return {f"n_{name}": Sum(name) for name in (*SUMMED, *SUPPRESSED)}


def _messaging_of(row: dict, *, channel: str = "") -> Messaging:
    figures = Figures(channel=channel)
    for name in SUMMED:
        setattr(figures, name, int(row.get(f"n_{name}") or 0))
    return Messaging(
        channel,
        figures,
        **{name: int(row.get(f"n_{name}") or 0) for name in SUPPRESSED},
    )


def messaging_totals(filters: KpiFilters) -> Messaging:
    """Every messaging channel's figures of the period added up (or the chosen channel's)."""
    return _messaging_of(_messaging(filters).aggregate(**_sums()))


def messaging_by_channel(filters: KpiFilters) -> list[Messaging]:
    """One row per messaging channel (all of them, in the vocabulary's order)."""
    rows = {
        row["channel"]: row
        for row in _messaging(filters).values("channel").annotate(**_sums()).order_by()
    }
    channels = (
        [filters.messaging_channel]
        if filters.messaging_channel
        else [channel.value for channel in MESSAGING_CHANNELS]
    )
    return [_messaging_of(rows.get(channel, {}), channel=channel) for channel in channels]


@dataclass(frozen=True)
class DayMessaging:
    day: date
    channel: str
    sent: int
    converted: int
    revenue_twd: int


def messaging_per_day(filters: KpiFilters) -> list[DayMessaging]:
    """Messages sent, members converted and revenue credited per send day and channel (days
    without any left out)."""
    rows = (
        _messaging(filters)
        .values("day", "channel")
        .annotate(
            n_sent=Sum("sent"),
            n_converted=Sum("converted"),
            revenue=Sum("revenue_online_twd") + Sum("revenue_store_twd"),
        )
        .filter(Q(n_sent__gt=0) | Q(n_converted__gt=0))
        .order_by()
    )
    order = [channel.value for channel in MESSAGING_CHANNELS]
    return sorted(
        (
            DayMessaging(
                row["day"], row["channel"], row["n_sent"], row["n_converted"], row["revenue"]
            )
            for row in rows
        ),
        key=lambda point: (point.day, order.index(point.channel)),
    )


@dataclass(frozen=True)
class DayFriends:
    day: date
    follows: int
    blocks: int


def line_friends_per_day(filters: KpiFilters) -> list[DayFriends]:
    """LINE friends added and blocks per day of the period (days with neither left out)."""
    rows = (
        LineFriendsDaily.objects.filter(day__gte=filters.start, day__lte=filters.end)
        .filter(Q(follows__gt=0) | Q(blocks__gt=0))
        .order_by("day")
        .values_list("day", "follows", "blocks")
    )
    return [DayFriends(*row) for row in rows]


def line_friends_totals(filters: KpiFilters) -> DayFriends:
    days = LineFriendsDaily.objects.filter(day__gte=filters.start, day__lte=filters.end)
    totals = days.aggregate(follows=Sum("follows"), blocks=Sum("blocks"))
    return DayFriends(filters.end, totals["follows"] or 0, totals["blocks"] or 0)
