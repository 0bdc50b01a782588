"""Filters other apps add to the member list (/members/), without touching crm.

A filter is a query-string key, a label, its choices (read when the list is drawn) and a
function turning the chosen value into a `Q` over `Member` (plain lookups, a join along a
single-valued relation, `pk__in=<subquery>` or `Exists(...)`: one query, never a loop). The
list renders a select per registered filter; the value rides in the URL with the others, so
the export, the bulk actions and "load more" act on the same members. Apps register theirs in
AppConfig.ready():

    register_member_list_filter(MemberListFilter("tier", _("Tier"), tier_choices, tier_q))
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils.functional import Promise

from omnichannel.registry import Registry

Choices = Sequence[tuple[Any, str | Promise]]


@dataclass(frozen=True)
class MemberListFilter:
    """`key` is the query-string name: never rename it (bookmarked lists carry it)."""

    key: str
    label: str | Promise
    choices: Callable[[], Choices]  # (value, label); a value is compared as text
    q: Callable[[str], Q]  # the chosen value (one of the choices, as text) -> members


MEMBER_LIST_FILTERS: Registry[MemberListFilter] = Registry(
    "member list filter", key=lambda list_filter: list_filter.key
)


# The list's own query-string keys: a filter named like one would take its value.
RESERVED_KEYS = frozenset(
    {"q", "segment", "channel", "bought", "tag", "consent_channel", "consent", "store"}
    | {"sort", "after", "before"}
)


def register_member_list_filter(list_filter: MemberListFilter) -> None:
    """Raises omnichannel.registry.AlreadyRegistered for a key that is taken, ValueError for
    one of the list's own keys."""
    if list_filter.key in RESERVED_KEYS:
        raise ValueError(f"{list_filter.key!r} is a member list key of crm's own")
    MEMBER_LIST_FILTERS.register(list_filter)


def member_list_filters() -> list[MemberListFilter]:
    return MEMBER_LIST_FILTERS.all()


def member_list_filter_q(extra: Sequence[tuple[str, str]]) -> Q:
    """The Q of the chosen (key, value) pairs; a key no longer registered is ignored."""
    q = Q()
    for key, value in extra:
        if (list_filter := MEMBER_LIST_FILTERS.get(key)) is not None:
            q &= list_filter.q(value)
    return q
