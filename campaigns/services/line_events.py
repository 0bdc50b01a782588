"""LINE webhook events: follow and unfollow, set-wise for one request (it may carry many).

- follow: a touchpoint "line_follow" (with `follow.isUnblocked`), the member's line_blocked
  suppression lifted, and an opt-in on LINE when the member has no LINE consent decision yet
  (following the official account is asking for its messages; an earlier opt-out stands).
- unfollow (= blocked): a touchpoint "line_block" and a line_blocked suppression, so no campaign
  sends to the member on LINE until a follow lifts it; the block counts in the report of the
  campaign whose LINE message the member got last, within 3 days.

A follow from a LINE user id nobody knows resolves through crm's identity resolution (a new
member, like any other identifier first seen). An unfollow from an unknown id writes nothing:
there is nobody to hold back. Each event is handled once: its webhookEventId is written in
WebhookEvent in the same transaction as its effects, so LINE's redelivery is ignored.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.models import DeliveryReason, WebhookEvent
from campaigns.services.suppressions import suppression_lift, suppression_record
from campaigns.services.tracking import line_blocks_attribute
from crm.models import Identity
from crm.services import BatchRecord, Identifier, identifiers_normalize, members_resolve_batch
from crm.services.consent import consent_states, consents_record_batch
from crm.services.touchpoints import TouchpointIn, touchpoints_write_batch

logger = logging.getLogger(__name__)

PROVIDER = "line"
SOURCE = "line_webhook"
HANDLED_TYPES = ("follow", "unfollow")


@dataclass(frozen=True)
class LineEventsOutcome:
    received: int
    replays: int
    follows: int
    unfollows: int
    members_created: int


@dataclass(frozen=True)
class _Event:
    event_id: str
    kind: str  # follow | unfollow
    user: Identifier
    at: datetime
    is_unblocked: bool


def _parse(raw_events: Sequence) -> list[_Event]:
    events = []
    for raw in raw_events:
        if not isinstance(raw, dict) or raw.get("type") not in HANDLED_TYPES:
            continue
        source = raw.get("source") or {}
        event_id = str(raw.get("webhookEventId") or "")
        user_id = source.get("userId") if source.get("type") == "user" else None
        normal = identifiers_normalize([(Identity.Kind.LINE_USER_ID, user_id)]).identifiers
        if not event_id or not normal:
            continue
        try:
            at = datetime.fromtimestamp(int(raw.get("timestamp")) / 1000, tz=UTC)
        except (TypeError, ValueError, OverflowError):
            at = timezone.now()
        events.append(
            _Event(
                event_id=event_id[:100],
                kind=raw["type"],
                user=normal[0],
                at=at,
                is_unblocked=bool((raw.get("follow") or {}).get("isUnblocked")),
            )
        )
    return events


def line_events_process(*, events: Sequence[dict]) -> LineEventsOutcome:
    """Apply a webhook request's events (already verified); replays write nothing."""
    parsed = _parse(events)
    for attempt in range(2):
        try:
            with transaction.atomic():
                return _apply(parsed, received=len(events))
        except IntegrityError:
            # Another request (LINE's redelivery racing the original) wrote an event id
            # between our read and our insert: read again, its events are now replays.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _apply(parsed: list[_Event], *, received: int) -> LineEventsOutcome:
    ids = {event.event_id for event in parsed}
    seen = set(
        WebhookEvent.objects.filter(provider=PROVIDER, event_id__in=ids).values_list(
            "event_id", flat=True
        )
    )
    new: dict[str, _Event] = {}
    for event in parsed:
        if event.event_id not in seen:
            new.setdefault(event.event_id, event)
    events = sorted(new.values(), key=lambda event: event.at)
    replays = len(parsed) - len(events)
    if not events:
        return LineEventsOutcome(received, replays, 0, 0, 0)
    WebhookEvent.objects.bulk_create(
        [WebhookEvent(provider=PROVIDER, event_id=event.event_id) for event in events]
    )
    now = timezone.now()
    # Members: follows resolve (creating a member for a new LINE user); unfollows only find.
    follow_users = list(dict.fromkeys(e.user for e in events if e.kind == "follow"))
    member_of: dict[Identifier, int] = {}
    created = 0
    if follow_users:
        resolution = members_resolve_batch(
            records=[BatchRecord(identifiers=[user]) for user in follow_users],
            source=SOURCE,
            at=now,
        )
        member_of.update(zip(follow_users, resolution.member_ids, strict=True))
        created = resolution.members_created
    unknown = {e.user.value for e in events if e.user not in member_of}
    if unknown:
        rows = Identity.objects.filter(
            kind=Identity.Kind.LINE_USER_ID, value__in=unknown
        ).values_list("value", "member_id")
        member_of.update({Identifier(Identity.Kind.LINE_USER_ID, v): m for v, m in rows})
    applied = [event for event in events if member_of.get(event.user)]

    touchpoints_write_batch(
        touchpoints=[
            TouchpointIn(
                channel="line",
                kind="line_follow" if event.kind == "follow" else "line_block",
                at=event.at,
                properties={"webhook_event_id": event.event_id}
                | ({"is_unblocked": event.is_unblocked} if event.kind == "follow" else {}),
            )
            for event in applied
        ],
        member_ids=[member_of[event.user] for event in applied],
    )
    # The member's state follows the latest event (a request may hold a follow and an unfollow).
    latest: dict[int, _Event] = {}
    for event in applied:
        latest[member_of[event.user]] = event
    following = [member for member, event in latest.items() if event.kind == "follow"]
    blocking = [member for member, event in latest.items() if event.kind == "unfollow"]
    if following:
        suppression_lift(
            member_ids=following, channel="line", reason=DeliveryReason.LINE_BLOCKED, at=now
        )
        states = consent_states(member_ids=following)
        undecided = [member for member in following if (member, "line") not in states]
        consents_record_batch(
            decisions=[(member, "line", True) for member in undecided], source=SOURCE, at=now
        )
    if blocking:
        suppression_record(
            member_ids=blocking,
            channel="line",
            reason=DeliveryReason.LINE_BLOCKED,
            source=SOURCE,
            at=max(latest[member].at for member in blocking),
        )
        # The report's "LINE blocks": each put down to the member's latest LINE campaign message.
        line_blocks_attribute(at_by_member={member: latest[member].at for member in blocking})
    return LineEventsOutcome(
        received=received,
        replays=replays,
        follows=sum(1 for e in applied if e.kind == "follow"),
        unfollows=sum(1 for e in applied if e.kind == "unfollow"),
        members_created=created,
    )
