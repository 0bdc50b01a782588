"""crm/events.py: another app reacts to an ingest event without crm importing it; the handler
runs in the event's transaction (its failure leaves no touchpoint) and only for its kinds."""

from datetime import UTC, datetime

import pytest

from crm.events import EVENT_HANDLERS, EventHandler, register_event_handler
from crm.models import Touchpoint
from crm.services.api_keys import api_key_create
from crm.services.ingest import event_record
from omnichannel.registry import AlreadyRegistered

pytestmark = pytest.mark.django_db
AT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.fixture
def app_key(alice):
    return api_key_create(name="App", channel="app", actor=alice)[0]


def test_a_registered_handler_gets_the_events_of_its_kinds(app_key):
    seen = []
    with EVENT_HANDLERS.scoped():
        register_event_handler(
            EventHandler(name="test.seen", kinds=("app_open",), handle=seen.append)
        )
        with pytest.raises(AlreadyRegistered):
            register_event_handler(EventHandler(name="test.seen", kinds=(), handle=print))
        recorded = event_record(
            api_key=app_key,
            channel="app",
            kind="app_open",
            at=AT,
            identifiers={"phone": "0912345678"},
            properties={"screen": "home"},
        )
        event_record(
            api_key=app_key,
            channel="app",
            kind="page_view",
            at=AT,
            identifiers={"phone": "0912345678"},
        )
    (event,) = seen
    assert (event.touchpoint_id, event.member_id, event.kind, event.at) == (
        recorded.touchpoint.pk,
        recorded.touchpoint.member_id,
        "app_open",
        AT,
    )
    assert event.properties == {"screen": "home"}


def test_a_failing_handler_rolls_the_touchpoint_back(app_key):
    def boom(event):
        raise RuntimeError("handler failed")

    with EVENT_HANDLERS.scoped():
        register_event_handler(EventHandler(name="test.boom", kinds=("app_open",), handle=boom))
        with pytest.raises(RuntimeError):
            event_record(
                api_key=app_key,
                channel="app",
                kind="app_open",
                at=AT,
                identifiers={"phone": "0912345678"},
            )
    assert not Touchpoint.objects.exists()
