"""crm.services.ingest called directly, with plain values and no HTTP (the API's tests cover it
through /api/v1/)."""

from datetime import UTC, datetime

import pytest

from crm.models import Consent, Member, Order
from crm.services.api_keys import api_key_create
from crm.services.ingest import (
    ERROR_IS_A_RETURN,
    ERROR_MASKED,
    ERROR_NO_PERSON_MEMBER,
    ERROR_STORE_REQUIRED,
    ChannelNotAllowed,
    InputError,
    ProfileInput,
    event_record,
    member_upsert,
    order_record,
    return_record,
)

pytestmark = pytest.mark.django_db

AT = datetime(2025, 3, 12, 6, 5, 33, tzinfo=UTC)


@pytest.fixture
def store_key(alice):
    api_key, _key = api_key_create(name="POS", channel="store", actor=alice)
    return api_key


def test_member_upsert_resolves_spellings_and_records_consents(store_key):
    first = member_upsert(
        api_key=store_key,
        identifiers={"phone": "0912-345-678"},
        profile=ProfileInput(name="陳美玲"),
        consents={"sms": True},
    )
    again = member_upsert(api_key=store_key, identifiers={"phone": "+886 912 345 678"})

    assert first.created and not again.created
    assert again.member == first.member
    assert first.member.name == "陳美玲"
    assert Consent.objects.filter(member=first.member, channel="sms").count() == 1


def test_member_upsert_without_identifiers_names_the_field(store_key):
    with pytest.raises(InputError) as raised:
        member_upsert(api_key=store_key, identifiers={"phone": "  "})

    assert raised.value.errors == [(("identifiers",), str(ERROR_NO_PERSON_MEMBER))]
    assert not Member.objects.exists()


def test_order_and_return_land_on_one_member_and_link(store_key):
    sale = order_record(
        api_key=store_key,
        channel="store",
        external_no="TPE01-1",
        amount_twd=1280,
        placed_at=AT,
        store_code="TPE01",
        identifiers={"pos_card": "a00012345"},
    )
    returned = return_record(
        api_key=store_key,
        external_no="TPE01-2",
        returns_external_no="TPE01-1",
        amount_twd=-1280,
        placed_at=AT,
        store_code="TPE01",
        identifiers={"pos_card": "A00012345"},
    )

    assert sale.created and returned.created and returned.sale_linked
    assert returned.order.member == sale.order.member
    sale.order.refresh_from_db()
    assert sale.order.status == Order.Status.RETURNED


def test_every_problem_of_an_order_is_listed_at_once(store_key):
    return_record(
        api_key=store_key,
        external_no="TPE01-9",
        returns_external_no="TPE01-8",
        amount_twd=-100,
        placed_at=AT,
        store_code="TPE01",
    )

    with pytest.raises(InputError) as raised:
        order_record(
            api_key=store_key,
            channel="store",
            external_no="TPE01-9",
            amount_twd=100,
            placed_at=AT,
            identifiers={"phone": "09******78"},
        )

    assert dict(raised.value.errors) == {
        ("store_code",): str(ERROR_STORE_REQUIRED),
        ("external_no",): str(ERROR_IS_A_RETURN % {"no": "TPE01-9", "channel": "store"}),
        ("identifiers", "phone"): str(ERROR_MASKED),
    }


def test_key_may_write_only_its_channel(store_key):
    with pytest.raises(ChannelNotAllowed):
        event_record(
            api_key=store_key,
            channel="web",
            kind="page_view",
            at=AT,
            identifiers={"email": "a@example.com"},
        )
