"""Audience sources: members another app chose for an automated message (DESIGN.md §1b).

A campaign's audience is normally a segment. An automated message's run campaign (loyalty's
birthday offers and points reminders, later journeys) is sent to the members its job picked
for the period instead: the job writes its own unique rows, and registers a source that turns
the run's parameters into a queryset of those members' ids. The launch reads it in the same
INSERT … SELECT as a segment (campaigns/services/audience.py), narrowed by the template's segment
when the marketer gave it one, so consent, quiet hours, caps and exactly-once are the same.

    register_audience_source(AudienceSource(
        name="loyalty.birthday", label=_("Birthday offers"),
        member_ids=lambda params: LoyaltyJobMessage.objects.filter(
            job="birthday", period=params["period"], path="campaign").values("member_id"),
    ))
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from omnichannel.registry import Registry


class UnknownAudienceSource(LookupError):
    pass


@dataclass(frozen=True)
class AudienceSource:
    name: str
    label: str
    # The run's parameters → a queryset of one column, the member ids (used as a subquery).
    member_ids: Callable[[dict[str, Any]], QuerySet]


AUDIENCE_SOURCES: Registry[AudienceSource] = Registry("audience source", key=lambda s: s.name)


def register_audience_source(source: AudienceSource) -> None:
    AUDIENCE_SOURCES.register(source)


def audience_source_member_ids(name: str, params: dict[str, Any]) -> QuerySet:
    """The member ids a registered source gives for these parameters (a subquery)."""
    source = AUDIENCE_SOURCES.get(name)
    if source is None:
        raise UnknownAudienceSource(f"no audience source {name!r} is registered")
    return source.member_ids(params)
