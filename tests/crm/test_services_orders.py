"""Orders upsert: idempotent per channel and number; returns reverse sales in either order."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from crm.models import Order, Store
from crm.services.orders import OrderIn, orders_upsert
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
TAIPEI = ZoneInfo("Asia/Taipei")
AT = datetime(2025, 3, 12, 14, 5, 33, tzinfo=TAIPEI)

SALE = OrderIn(
    channel="store",
    external_no="TPE01-20250312-0042",
    amount_twd=1280,
    placed_at=AT,
    status="placed",
    store_code="TPE01",
    store_name="台北信義店",
)


@pytest.fixture
def member():
    return MemberFactory()


RETURN = OrderIn(
    channel="store",
    external_no="TPE01-20250320-0101",
    amount_twd=-1280,
    placed_at=AT,
    status="placed",
    store_code="TPE01",
    store_name="台北信義店",
    is_return=True,
    returns_external_no="TPE01-20250312-0042",
)


def test_orders_land_with_their_store():
    orders_upsert(orders=[SALE], member_ids=[None])

    order = Order.objects.get()
    assert (order.amount_twd, order.status, order.member_id) == (1280, "placed", None)
    assert order.store == Store.objects.get(code="TPE01")


def test_the_same_orders_again_change_nothing():
    orders_upsert(orders=[SALE], member_ids=[None])
    before = list(Order.objects.values_list("pk", "amount_twd", "status"))

    orders_upsert(orders=[SALE], member_ids=[None])

    assert list(Order.objects.values_list("pk", "amount_twd", "status")) == before


def test_a_changed_status_updates_the_order():
    web = OrderIn(channel="web", external_no="W1", amount_twd=990, placed_at=AT, status="placed")
    orders_upsert(orders=[web], member_ids=[None])

    orders_upsert(orders=[OrderIn(**{**web.__dict__, "status": "cancelled"})], member_ids=[None])

    assert Order.objects.get().status == "cancelled"


@pytest.mark.parametrize("batches", [[[SALE], [RETURN]], [[RETURN], [SALE]], [[SALE, RETURN]]])
def test_a_return_reverses_its_sale_whichever_arrives_first(batches):
    for batch in batches:
        orders_upsert(orders=batch, member_ids=[None] * len(batch))

    sale = Order.objects.get(external_no=SALE.external_no)
    refund = Order.objects.get(external_no=RETURN.external_no)
    assert refund.returns_order == sale
    assert (sale.status, refund.status) == ("returned", "returned")


def test_reimporting_a_returned_sale_keeps_it_returned():
    orders_upsert(orders=[SALE, RETURN], member_ids=[None, None])

    orders_upsert(orders=[SALE], member_ids=[None])

    assert Order.objects.get(external_no=SALE.external_no).status == "returned"


def test_a_partial_return_nets_out_of_placed_revenue():
    partial = OrderIn(**{**RETURN.__dict__, "amount_twd": -280})

    orders_upsert(orders=[SALE, partial], member_ids=[None, None])

    assert set(Order.objects.values_list("status", flat=True)) == {"placed"}
    placed = Order.objects.filter(status="placed")
    assert sum(placed.values_list("amount_twd", flat=True)) == 1000


def test_reimporting_a_return_alone_keeps_the_reversal():
    orders_upsert(orders=[SALE, RETURN], member_ids=[None, None])

    orders_upsert(orders=[RETURN], member_ids=[None])

    assert set(Order.objects.values_list("status", flat=True)) == {"returned"}


def test_a_return_of_a_sale_never_seen_stays_unlinked():
    orders_upsert(orders=[RETURN], member_ids=[None])

    refund = Order.objects.get()
    assert refund.returns_order is None
    assert refund.returns_external_no == SALE.external_no


def test_an_order_first_seen_anonymously_gets_the_member_a_later_row_names(member):
    orders_upsert(orders=[SALE], member_ids=[None])

    written = orders_upsert(orders=[SALE], member_ids=[member.pk])

    assert written.written == 1
    assert Order.objects.get().member == member


def test_a_later_row_never_moves_an_order_off_its_member(member):
    orders_upsert(orders=[SALE], member_ids=[member.pk])

    orders_upsert(orders=[SALE], member_ids=[None])

    assert Order.objects.get().member == member


def test_reimporting_writes_nothing():
    orders_upsert(orders=[SALE, RETURN], member_ids=[None, None])

    again = orders_upsert(orders=[SALE, RETURN], member_ids=[None, None])

    assert (again.written, again.returns_linked) == (0, 0)


def test_a_return_naming_another_sale_is_relinked():
    other = OrderIn(**{**SALE.__dict__, "external_no": "TPE01-20250312-0043"})
    orders_upsert(orders=[SALE, other, RETURN], member_ids=[None, None, None])

    corrected = OrderIn(**{**RETURN.__dict__, "returns_external_no": other.external_no})
    orders_upsert(orders=[corrected], member_ids=[None])

    refund = Order.objects.get(external_no=RETURN.external_no)
    assert refund.returns_external_no == other.external_no
    assert refund.returns_order.external_no == other.external_no
    assert Order.objects.get(external_no=other.external_no).status == "returned"
