"""Touchpoints: what a member did on a channel (a store visit, a page view, a LINE follow)."""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from crm.models import Touchpoint
from crm.services.identity import Identifier, Resolution
from crm.services.resolution import member_resolve
from omnichannel.channels import Channel

# The kinds the brand's systems send today; any other lower-case slug is accepted as well.
KNOWN_KINDS = (
    "store_visit",
    "page_view",
    "product_view",
    "cart_add",
    "search",
    "line_follow",
    "line_block",
    "app_open",
    "app_install",
    "push_opened",
    "message_sent",
    "message_opened",
    "link_clicked",
    "unsubscribed",
)
BATCH_SIZE = 2_000
KIND_MAX_LENGTH = Touchpoint._meta.get_field("kind").max_length
KIND_PATTERN = re.compile(rf"^[a-z][a-z0-9_]{{0,{KIND_MAX_LENGTH - 1}}}$")

ERROR_NO_PERSON = _("A touchpoint needs an identifier or a member number of the person.")
ERROR_KIND = _("A kind is lower-case letters, digits and _ (at most %(max)s), e.g. page_view.")
ERROR_CHANNEL = _("Unknown channel %(channel)s.")
ERROR_NAIVE_AT = _("The time needs a time zone.")


class TouchpointError(ValueError):
    pass


@dataclass
class TouchpointRecorded:
    touchpoint: Touchpoint
    resolution: Resolution


@transaction.atomic
def touchpoint_record(
    *,
    identifiers: Sequence[Identifier],
    channel: str,
    kind: str,
    at: datetime,
    source: str,
    member_no: str = "",
    properties: Mapping[str, Any] | None = None,
) -> TouchpointRecorded:
    """Resolve the member the identifiers belong to (creating or merging as needed) and record
    the touchpoint on it.

    Raises TouchpointError with no identifier and no member number, an unknown channel, a kind
    that is not a slug, or a naive `at`.
    """
    if not identifiers and not member_no:
        raise TouchpointError(ERROR_NO_PERSON)
    _touchpoint_check(channel=channel, kind=kind, at=at)
    resolution = member_resolve(
        identifiers=identifiers, member_no=member_no, source=source, seen_at=at
    )
    touchpoint = Touchpoint.objects.create(
        member=resolution.member,
        channel=channel,
        kind=kind,
        at=at,
        properties=dict(properties or {}),
    )
    return TouchpointRecorded(touchpoint=touchpoint, resolution=resolution)


@dataclass(frozen=True)
class TouchpointIn:
    channel: str
    kind: str
    at: datetime  # aware
    properties: Mapping[str, Any] = field(default_factory=dict)


def touchpoints_write_batch(
    *, touchpoints: Sequence[TouchpointIn], member_ids: Sequence[int]
) -> int:
    """Write the touchpoints of one batch; member_ids[i] is the member of touchpoints[i], as the
    caller resolved it (members_resolve_batch), the way orders_upsert takes its orders.

    Checks every touchpoint before writing any; raises TouchpointError for an unknown channel, a
    kind that is not a slug or a naive time. Returns the number written.
    """
    rows = []
    for touchpoint, member_id in zip(touchpoints, member_ids, strict=True):
        _touchpoint_check(channel=touchpoint.channel, kind=touchpoint.kind, at=touchpoint.at)
        rows.append(
            Touchpoint(
                member_id=member_id,
                channel=touchpoint.channel,
                kind=touchpoint.kind,
                at=touchpoint.at,
                properties=dict(touchpoint.properties),
            )
        )
    Touchpoint.objects.bulk_create(rows, batch_size=BATCH_SIZE)
    return len(rows)


def _touchpoint_check(*, channel: str, kind: str, at: datetime) -> None:
    if channel not in Channel.values:
        raise TouchpointError(ERROR_CHANNEL % {"channel": channel})
    if not KIND_PATTERN.match(kind):
        raise TouchpointError(ERROR_KIND % {"max": KIND_MAX_LENGTH})
    if at.tzinfo is None:
        raise TouchpointError(ERROR_NAIVE_AT)
