"""The profile's timeline: a registry of sources, merged newest first with a keyset cursor.

Every source is a function that returns at most `limit` entries of one member older than a
cursor, newest first, with one bounded query. The page merges the sources' lists in Python and
keeps the first `page_size`; the last entry's (at, kind, id) is the next cursor. Because each
source hands back its own newest `page_size` after the cursor, the merged page is exactly the
union's newest `page_size`, and no entry is lost or repeated between pages.

crm registers its own sources (orders, touchpoints, merges, consents, notes); later apps
register theirs (messages, points) in their AppConfig.ready(), without touching crm:

    register_timeline_source(TimelineSource(kind="points", fetch=points_entries))
"""

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from django.db.models import Q
from django.utils.dateparse import parse_datetime

from omnichannel.channels import channel_colour, channel_icon
from omnichannel.registry import Registry

PAGE_SIZE = 20


@dataclass(frozen=True, order=True)
class Cursor:
    """A timeline position: entries sort by (at, kind, id), newest first."""

    at: datetime
    kind: str
    id: int

    def encode(self) -> str:
        return f"{self.at.isoformat()}|{self.kind}|{self.id}"

    @classmethod
    def decode(cls, text: str) -> "Cursor | None":
        """The cursor a `next` link carries; None for anything malformed."""
        try:
            at_text, kind, id_text = text.split("|")
            at = parse_datetime(at_text)
            return cls(at, kind, int(id_text)) if at is not None and at.tzinfo else None
        except ValueError:
            return None


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    id: int
    channel: str = ""
    icon: str = ""  # a Bootstrap Icons name; the channel's icon when blank
    title: str = ""
    detail: str = ""
    amount_twd: int | None = None
    status: str = ""  # a short label shown as a badge ("Returned", "Cancelled", "Undone")
    url: str = ""  # where the entry's detail links to (a campaign's page), blank for none
    obj: Any = field(default=None, compare=False)  # the row, for kind-specific bits

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.at, self.kind, self.id)

    @property
    def icon_name(self) -> str:
        return self.icon or (channel_icon(self.channel) if self.channel else "circle")

    @property
    def colour(self) -> str:
        return channel_colour(self.channel) if self.channel else "#5b6472"


# fetch(member_id, before, limit) -> at most `limit` entries, newest first, all before `before`.
Fetch = Callable[[int, Cursor | None, int], list[TimelineEntry]]


@dataclass(frozen=True)
class TimelineSource:
    kind: str
    fetch: Fetch


TIMELINE_SOURCES: Registry[TimelineSource] = Registry(
    "timeline source", key=lambda source: source.kind
)


def register_timeline_source(source: TimelineSource) -> None:
    """Raises omnichannel.registry.AlreadyRegistered for a kind that is taken."""
    TIMELINE_SOURCES.register(source)


def timeline_sources() -> list[TimelineSource]:
    return TIMELINE_SOURCES.all()


def before_q(kind: str, before: Cursor | None, *, at: str = "at", pk: str = "pk") -> Q:
    """The filter of a source of `kind` for rows strictly after `before` in newest-first order.

    (at, kind, id) descending: a row comes after the cursor when it is older, or as old and of a
    kind that sorts lower, or as old, of the same kind, and with a lower id.
    """
    if before is None:
        return Q()
    if kind < before.kind:
        return Q(**{f"{at}__lte": before.at})
    if kind > before.kind:
        return Q(**{f"{at}__lt": before.at})
    return Q(**{f"{at}__lt": before.at}) | Q(**{at: before.at, f"{pk}__lt": before.id})


@dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]
    next_cursor: Cursor | None


def timeline_page(
    *, member_id: int, before: Cursor | None = None, page_size: int = PAGE_SIZE
) -> TimelinePage:
    """One page of a member's timeline: one bounded query per registered source."""
    lists = [source.fetch(member_id, before, page_size + 1) for source in timeline_sources()]
    merged = heapq.merge(*lists, key=lambda entry: entry.cursor, reverse=True)
    entries = list(islice(merged, page_size + 1))
    has_more = len(entries) > page_size
    entries = entries[:page_size]
    return TimelinePage(entries=entries, next_cursor=entries[-1].cursor if has_more else None)
