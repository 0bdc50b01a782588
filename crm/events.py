"""What other apps do when the ingest API records an event (DESIGN.md §1b: crm imports no
other app).

The events endpoint (/api/v1/events, crm.services.ingest.event_record) writes the touchpoint and
then calls every registered handler for its kind, in the same transaction: campaigns counts a
"push_opened" event that carries a push's tracking code as an open of that message, without crm
knowing campaigns exists.

    register_event_handler(EventHandler(name="campaigns.push_opened", kinds=("push_opened",),
                                        handle=on_push_opened))

A handler gets a RecordedEvent and must not raise for input it does not understand (a code it
cannot read): the touchpoint stands either way.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from omnichannel.registry import Registry


@dataclass(frozen=True)
class RecordedEvent:
    touchpoint_id: int
    member_id: int
    channel: str
    kind: str
    at: datetime
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EventHandler:
    name: str
    kinds: tuple[str, ...]
    handle: Callable[[RecordedEvent], None]


EVENT_HANDLERS: Registry[EventHandler] = Registry("event handler", key=lambda handler: handler.name)


def register_event_handler(handler: EventHandler) -> None:
    """Raises omnichannel.registry.AlreadyRegistered for a name that is taken."""
    EVENT_HANDLERS.register(handler)


def event_handlers_run(event: RecordedEvent) -> None:
    for handler in EVENT_HANDLERS.all():
        if event.kind in handler.kinds:
            handler.handle(event)
