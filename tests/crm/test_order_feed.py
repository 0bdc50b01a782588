"""The order-change feed: every service that changes orders feeds a row in its transaction, and
a consumer reads them through its cursor exactly once (crm.services.order_feed)."""

import threading
from dataclasses import replace
from datetime import UTC, datetime

import psycopg
import pytest
from django.db import connection

from crm.models import MergeLog, Order, OrderChange, OrderChangeCursor, Tag
from crm.services import Identifier, MemberProfile, member_forget, member_resolve, member_unmerge
from crm.services.api_keys import api_key_create
from crm.services.ingest import order_record, return_record
from crm.services.order_feed import order_changes_consume
from crm.services.orders import OrderIn, orders_upsert
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
AT = datetime(2025, 3, 12, 6, 5, 33, tzinfo=UTC)
SALE = OrderIn(
    channel="web",
    external_no="W-1",
    amount_twd=1280,
    placed_at=AT,
    status="placed",
)
PHONE = Identifier("phone", "+886912345678")
CARD = Identifier("pos_card", "A00012345")


def _feed() -> list[tuple]:
    return list(
        OrderChange.objects.order_by("id").values_list(
            "order__external_no", "kind", "member_id", "old_member_id", "amount_twd", "status"
        )
    )


def test_new_orders_are_fed_as_created():
    member = MemberFactory()

    orders_upsert(orders=[SALE, replace(SALE, external_no="W-2")], member_ids=[member.pk, None])

    assert _feed() == [
        ("W-1", "created", member.pk, None, 1280, "placed"),
        ("W-2", "created", None, None, 1280, "placed"),
    ]


def test_the_same_orders_again_feed_nothing():
    orders_upsert(orders=[SALE], member_ids=[None])

    orders_upsert(orders=[SALE], member_ids=[None])

    assert OrderChange.objects.count() == 1


def test_a_changed_order_is_fed_with_its_new_state():
    orders_upsert(orders=[SALE], member_ids=[None])

    orders_upsert(orders=[replace(SALE, status="cancelled")], member_ids=[None])

    assert _feed()[-1] == ("W-1", "changed", None, None, 1280, "cancelled")


def test_an_anonymous_order_that_gets_a_member_is_fed_as_member_assigned():
    member = MemberFactory()
    orders_upsert(orders=[SALE], member_ids=[None])

    orders_upsert(orders=[SALE], member_ids=[member.pk])

    assert _feed()[-1] == ("W-1", "member_assigned", member.pk, None, 1280, "placed")


@pytest.fixture
def store_key(alice):
    api_key, _key = api_key_create(name="POS", channel="store", actor=alice)
    return api_key


def test_the_api_feeds_a_sale_and_the_return_that_covers_it(store_key):
    sale = order_record(
        api_key=store_key,
        channel="store",
        external_no="TPE01-1",
        amount_twd=1280,
        placed_at=AT,
        store_code="TPE01",
        identifiers={"pos_card": "a00012345"},
    )
    return_record(
        api_key=store_key,
        external_no="TPE01-2",
        returns_external_no="TPE01-1",
        amount_twd=-1280,
        placed_at=AT,
        store_code="TPE01",
    )

    member = sale.order.member_id
    assert _feed() == [
        ("TPE01-1", "created", member, None, 1280, "placed"),
        ("TPE01-2", "created", None, None, -1280, "placed"),
        ("TPE01-1", "returned", member, None, 1280, "returned"),
        ("TPE01-2", "returned", None, None, -1280, "returned"),
    ]


def test_a_partial_return_feeds_no_returned_sale(store_key):
    orders_upsert(
        orders=[
            replace(SALE, channel="store", store_code="TPE01"),
            replace(
                SALE,
                channel="store",
                store_code="TPE01",
                external_no="W-R",
                amount_twd=-280,
                is_return=True,
                returns_external_no="W-1",
            ),
        ],
        member_ids=[None, None],
    )

    assert [kind for _, kind, *_ in _feed()] == ["created", "created"]


def test_merge_undo_and_erasure_feed_the_moves_of_orders(bob):
    older = member_resolve(identifiers=[PHONE], source="store", profile=MemberProfile()).member
    newer = member_resolve(identifiers=[CARD], source="store", profile=MemberProfile()).member
    orders_upsert(orders=[SALE], member_ids=[newer.pk])

    member_resolve(identifiers=[PHONE, CARD], source="store", profile=MemberProfile())
    member_unmerge(merge_log=MergeLog.objects.get())
    member_forget(member=newer, actor=bob, reason="PDPA request #42")

    moves = [(kind, member, old) for _, kind, member, old, *_ in _feed()[1:]]
    assert moves == [
        ("member_moved", older.pk, newer.pk),
        ("member_moved", newer.pk, older.pk),
        ("member_moved", None, newer.pk),
    ]
    assert Order.objects.get().member_id is None


# --- Consumers ---------------------------------------------------------------------------------


def _earn(changes: list[OrderChange]) -> None:
    """A consumer's effect: one unique row per change (a Tag stands in for a ledger entry)."""
    Tag.objects.bulk_create(
        [Tag(name=f"earned-{change.pk}") for change in changes], ignore_conflicts=True
    )


def _three_orders() -> None:
    orders_upsert(
        orders=[replace(SALE, external_no=f"W-{n}") for n in range(3)], member_ids=[None] * 3
    )


# Committed writes: on PostgreSQL a reader sees only what other transactions committed.
@pytest.mark.django_db(transaction=True)
def test_a_consumer_reads_each_change_once_in_batches():
    _three_orders()

    handled = [order_changes_consume(consumer="loyalty.earn", handler=_earn, batch_size=2)]
    handled.append(order_changes_consume(consumer="loyalty.earn", handler=_earn, batch_size=2))
    handled.append(order_changes_consume(consumer="loyalty.earn", handler=_earn, batch_size=2))

    assert handled == [2, 1, 0]
    assert Tag.objects.count() == 3
    # Another consumer has its own cursor and sees everything.
    assert order_changes_consume(consumer="kpi.rollup", handler=lambda changes: None) == 3


# Committed writes: on PostgreSQL a reader sees only what other transactions committed.
@pytest.mark.django_db(transaction=True)
def test_a_failing_handler_rolls_back_its_effects_and_the_cursor():
    _three_orders()

    def crash(changes):
        _earn(changes)
        raise RuntimeError("worker died")

    with pytest.raises(RuntimeError):
        order_changes_consume(consumer="loyalty.earn", handler=crash)

    assert Tag.objects.count() == 0
    assert OrderChangeCursor.objects.get(consumer="loyalty.earn").last_id == 0
    assert order_changes_consume(consumer="loyalty.earn", handler=_earn) == 3


# --- PostgreSQL: the race of ids that commit out of order ----------------------------------------

ON_POSTGRES = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="transaction ids and row locks of PostgreSQL"
)


def _other_connection() -> psycopg.Connection:
    """A second session on the test database, as another worker would have."""
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        password=settings["PASSWORD"] or None,
    )


@ON_POSTGRES
@pytest.mark.django_db(transaction=True)
def test_a_change_that_commits_after_a_later_id_is_not_skipped():
    # Given: an order, and a writer that took the lower feed id and has not committed yet.
    orders_upsert(orders=[SALE], member_ids=[None])
    order_changes_consume(consumer="loyalty.earn", handler=_earn)
    order_id = Order.objects.get().pk
    slow = _other_connection()
    slow.execute(
        "INSERT INTO crm_orderchange (order_id, kind, amount_twd, status, at) "
        "VALUES (%s, 'changed', 1280, 'cancelled', now())",
        [order_id],
    )
    seen: list[list[int]] = []

    def remember(changes):
        seen.append([change.pk for change in changes])

    try:
        # When: a later writer takes a higher id and commits first, and the reader reads.
        orders_upsert(orders=[replace(SALE, amount_twd=999)], member_ids=[None])
        order_changes_consume(consumer="loyalty.earn", handler=remember)
        order_changes_consume(consumer="loyalty.earn", handler=remember)
        slow.commit()
        order_changes_consume(consumer="loyalty.earn", handler=remember)
    finally:
        slow.close()

    # Then: the lower id, committed last, still comes once: a reader that remembered "after
    # the highest id seen" would have skipped it forever.
    slow_id = OrderChange.objects.get(status="cancelled").pk
    fast_id = OrderChange.objects.get(amount_twd=999).pk
    assert slow_id < fast_id
    assert seen == [[fast_id], [slow_id]]
    assert order_changes_consume(consumer="loyalty.earn", handler=remember) == 0


@ON_POSTGRES
@pytest.mark.django_db(transaction=True)
def test_two_workers_of_one_consumer_do_not_both_take_a_batch():
    _three_orders()
    inside, release = threading.Event(), threading.Event()
    first: list[int] = []

    def slow_handler(changes):
        first.extend(c.pk for c in changes)
        inside.set()
        release.wait(10)

    def worker():
        try:
            order_changes_consume(consumer="loyalty.earn", handler=slow_handler)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert inside.wait(10)
        # The second worker finds the cursor locked and takes nothing.
        assert order_changes_consume(consumer="loyalty.earn", handler=_earn) == 0
    finally:
        release.set()
        thread.join(10)
    assert len(first) == 3
    assert Tag.objects.count() == 0
    assert order_changes_consume(consumer="loyalty.earn", handler=_earn) == 0
