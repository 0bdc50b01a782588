"""touchpoints_write_batch: a batch of touchpoints on members the caller resolved."""

from datetime import datetime

import pytest
from django.utils import timezone

from crm.models import Touchpoint
from crm.services.touchpoints import (
    ERROR_CHANNEL,
    ERROR_NAIVE_AT,
    TouchpointError,
    TouchpointIn,
    touchpoints_write_batch,
)
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def test_the_batch_is_written_on_the_members_given():
    first, second = MemberFactory(), MemberFactory()
    at = timezone.now()
    visits = [
        TouchpointIn(channel="store", kind="store_visit", at=at, properties={"store": "TPE01"}),
        TouchpointIn(channel="web", kind="page_view", at=at),
    ]

    written = touchpoints_write_batch(touchpoints=visits, member_ids=[first.pk, second.pk])

    assert written == 2
    assert list(Touchpoint.objects.order_by("pk").values_list("member", "kind", "properties")) == [
        (first.pk, "store_visit", {"store": "TPE01"}),
        (second.pk, "page_view", {}),
    ]


@pytest.mark.parametrize(
    ("touchpoint", "message"),
    [
        (TouchpointIn(channel="fax", kind="page_view", at=timezone.now()), ERROR_CHANNEL),
        (TouchpointIn(channel="web", kind="page_view", at=datetime(2025, 3, 1)), ERROR_NAIVE_AT),
    ],
)
def test_one_bad_touchpoint_writes_none(touchpoint, message):
    member = MemberFactory()
    good = TouchpointIn(channel="web", kind="page_view", at=timezone.now())

    with pytest.raises(TouchpointError, match=str(message).split("%")[0]):
        touchpoints_write_batch(touchpoints=[good, touchpoint], member_ids=[member.pk] * 2)

    assert not Touchpoint.objects.exists()
