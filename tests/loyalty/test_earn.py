"""Points earned on orders from crm's order-change feed (loyalty.services.earning): once per
order, set-wise, returns and cancellations reversed, the earn rule's terms applied.

PostgreSQL's feed reads only committed transactions, so these tests commit
(django_db(transaction=True)); tiers are created here because a transactional test empties the
tables the data migrations filled.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Order, Store
from crm.services import MergePair, members_merge
from crm.services.orders import OrderIn, orders_upsert
from loyalty.models import EarnRule, PointsAccount, PointsTransaction, Programme, Tier
from loyalty.services.earning import (
    earn_consume,
    kept_share,
    local_day,
    months_after,
)
from loyalty.services.ledger import Entry, accounts_ensure, entries_post
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db(transaction=True)

RECENT = timezone.now() - timedelta(days=3)
EARN = PointsTransaction.Kind.EARN
REVERSE = PointsTransaction.Kind.REVERSE


def _sale(no: str, amount: int, **fields) -> OrderIn:
    values = {
        "channel": "store",
        "external_no": no,
        "amount_twd": amount,
        "placed_at": RECENT,
        "status": "placed",
        "store_code": "TPE01",
        "store_name": "台北信義店",
    }
    return OrderIn(**{**values, **fields})


def _return(no: str, sale_no: str, amount: int, **fields) -> OrderIn:
    return _sale(no, amount, is_return=True, returns_external_no=sale_no, **fields)


def _upsert(*orders: OrderIn, member=None) -> None:
    orders_upsert(orders=list(orders), member_ids=[member.pk if member else None] * len(orders))


def _balance(member) -> int:
    return (
        PointsAccount.objects.filter(member=member).values_list("balance", flat=True).first() or 0
    )


def _entries(member) -> list[tuple[str, int, str]]:
    return list(
        PointsTransaction.objects.filter(account__member=member)
        .order_by("seq")
        .values_list("kind", "points", "idempotency_key")
    )


def _key(prefix: str, channel: str, no: str) -> str:
    return f"{prefix}:order:{Order.objects.get(channel=channel, external_no=no).pk}"


def _assert_ledger_sums() -> None:
    for account in PointsAccount.objects.all():
        total = sum(account.transactions.values_list("points", flat=True))
        assert account.balance == total >= 0


# --- Once per order --------------------------------------------------------------------------


def test_a_sale_earns_once_with_its_day_and_expiry():
    member = MemberFactory()
    _upsert(_sale("S-1", 1280), member=member)

    assert earn_consume() == 1
    assert earn_consume() == 0
    _upsert(_sale("S-1", 1280), member=member)  # the same order again: no change fed
    earn_consume()

    entry = PointsTransaction.objects.get()
    assert (entry.kind, entry.points, entry.balance_after) == (EARN, 12, 12)
    assert entry.idempotency_key == _key("earn", "store", "S-1")
    assert entry.order_no == "S-1"
    assert entry.at == RECENT
    assert entry.expires_on == months_after(local_day(RECENT), 12)
    assert _balance(member) == 12


def test_a_replayed_feed_earns_nothing_twice():
    from crm.models import OrderChangeCursor

    member = MemberFactory()
    _upsert(_sale("S-1", 1280), _sale("S-2", 500), member=member)
    earn_consume()
    OrderChangeCursor.objects.filter(consumer="loyalty.earn").delete()  # a reset consumer

    assert earn_consume() == 2
    assert _balance(member) == 17
    assert PointsTransaction.objects.count() == 2


def test_an_import_earns_and_the_same_file_again_earns_nothing(tmp_path):
    from crm.services.imports import import_file_run

    day = timezone.localtime(RECENT).strftime("%Y/%m/%d")
    pos = tmp_path / "pos.csv"
    pos.write_text(
        "門市代碼,門市名稱,交易序號,交易時間,會員卡號,會員手機,發票號碼,載具號碼,銷售金額,交易類型,原交易序號\n"
        f'TPE01,台北信義店,TPE01-1,{day} 14:05:33,A00012345,0912-345-678,AB-1,,"1,280",銷售,\n'
        f"TPE01,台北信義店,TPE01-2,{day} 15:00:00,A00012345,,AB-2,,350,銷售,\n"
        f"TPE01,台北信義店,TPE01-3,{day} 16:00:00,,,AB-3,,900,銷售,\n",
        encoding="utf-8",
    )

    for _ in range(2):
        import_file_run(source=pos, filename="pos.csv", preset_name="pos_orders")
        earn_consume()

    member = Order.objects.get(external_no="TPE01-1").member
    assert [(kind, points) for kind, points, _ in _entries(member)] == [(EARN, 12), (EARN, 3)]
    assert PointsTransaction.objects.count() == 2  # the anonymous sale earns nothing


def test_an_order_through_the_api_earns(alice):
    from django.test import Client

    from crm.services.api_keys import api_key_create

    _api_key, key = api_key_create(name="POS", channel="store", actor=alice)
    body = {
        "channel": "store",
        "external_no": "TPE01-API-1",
        "amount_twd": 2500,
        "placed_at": RECENT.isoformat(),
        "store_code": "TPE01",
        "identifiers": {"pos_card": "a00012345"},
    }
    for _ in range(2):  # the till retries: still one order, one earn
        response = Client().post(
            "/api/v1/orders",
            data=body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code in (200, 201), response.content
        earn_consume()

    order = Order.objects.get(external_no="TPE01-API-1")
    assert _entries(order.member) == [(EARN, 25, f"earn:order:{order.pk}")]


def test_one_batch_costs_the_same_queries_whatever_its_size():
    def queries_for(n: int, prefix: str) -> int:
        members = [MemberFactory(home_store=None) for _ in range(n)]
        orders_upsert(
            orders=[_sale(f"{prefix}-{i}", 1000 + i) for i in range(n)],
            member_ids=[m.pk for m in members],
        )
        with CaptureQueriesContext(connection) as queries:
            assert earn_consume(max_batches=1) == n
        # SQLite splits a bulk INSERT by its parameter limit: a few, never one per order.
        inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
        assert len(inserts) <= 12
        return len(queries) - len(inserts)

    queries_for(1, "W")  # the programme and the consumer's cursor are made once, here
    small = queries_for(3, "A")
    large = queries_for(300, "B")
    assert large == small
    # the feed, the sales (locked), returns, keys, accounts, ledger writes, wallet cards marked
    assert large <= 29


# --- Returns and cancellations ---------------------------------------------------------------


def test_returns_take_back_their_share_and_a_full_return_all():
    member = MemberFactory()
    _upsert(_sale("S-1", 1000), member=member)
    earn_consume()
    _upsert(_return("R-1", "S-1", -150))
    earn_consume()
    assert _balance(member) == 8  # keeps floor(10 × 850 / 1000)

    _upsert(_return("R-2", "S-1", -350))
    earn_consume()
    assert _balance(member) == 5  # keeps floor(10 × 500 / 1000)

    _upsert(_return("R-3", "S-1", -500))
    earn_consume()
    earn_consume()

    assert _entries(member) == [
        (EARN, 10, _key("earn", "store", "S-1")),
        (REVERSE, -2, _key("reverse", "store", "R-1")),
        (REVERSE, -3, _key("reverse", "store", "R-2")),
        (REVERSE, -5, _key("reverse", "store", "R-3")),
    ]
    assert Order.objects.get(external_no="S-1").status == Order.Status.RETURNED
    _assert_ledger_sums()


def test_a_return_that_arrived_before_its_sale_is_netted_when_the_sale_comes():
    member = MemberFactory()
    _upsert(_return("R-1", "S-1", -400))
    earn_consume()
    _upsert(_sale("S-1", 1000), member=member)
    earn_consume()

    assert [(kind, points) for kind, points, _ in _entries(member)] == [(EARN, 10), (REVERSE, -4)]


def test_a_sale_returned_before_it_earned_earns_nothing():
    member = MemberFactory()
    _upsert(_sale("S-1", 1000), _return("R-1", "S-1", -1000), member=member)
    earn_consume()

    assert _entries(member) == []


def test_a_return_of_points_spent_takes_what_is_left_and_says_so():
    member = MemberFactory()
    _upsert(_sale("S-1", 1000), member=member)
    earn_consume()
    account_id = accounts_ensure(member_ids=[member.pk])[member.pk]
    entries_post(
        entries=[
            Entry(account_id, PointsTransaction.Kind.REDEEM, -8, "redeem:test", "till"),
        ]
    )
    _upsert(_return("R-1", "S-1", -1000))
    earn_consume()

    reversal = PointsTransaction.objects.get(kind=REVERSE)
    assert (reversal.points, reversal.balance_after) == (-2, 0)
    assert "10" in reversal.reason and "2" in reversal.reason  # due 10, took 2
    _assert_ledger_sums()


def test_a_cancelled_order_earns_nothing_and_a_cancel_after_earning_reverses_it():
    member = MemberFactory()
    _upsert(_sale("W-1", 800, channel="web", store_code="", status="cancelled"), member=member)
    _upsert(_sale("W-2", 900, channel="web", store_code=""), member=member)
    earn_consume()
    assert _balance(member) == 9

    _upsert(_sale("W-2", 900, channel="web", store_code="", status="cancelled"), member=member)
    earn_consume()
    _upsert(_sale("W-2", 900, channel="web", store_code="", status="cancelled"), member=member)
    earn_consume()

    assert _entries(member) == [
        (EARN, 9, _key("earn", "web", "W-2")),
        (REVERSE, -9, _key("void", "web", "W-2")),
    ]


# --- Who earns ---------------------------------------------------------------------------------


def test_an_anonymous_order_earns_when_it_gets_its_member():
    _upsert(_sale("S-1", 1280))
    earn_consume()
    assert not PointsTransaction.objects.exists()
    assert not PointsAccount.objects.exists()

    member = MemberFactory()
    _upsert(_sale("S-1", 1280), member=member)
    earn_consume()

    assert _entries(member) == [(EARN, 12, _key("earn", "store", "S-1"))]


def test_a_moved_order_earns_nothing_again_and_its_return_reverses_from_its_member_now(bob):
    old, new = MemberFactory(), MemberFactory()
    _upsert(_sale("S-1", 1000), member=old)
    earn_consume()
    members_merge(pairs=[MergePair(survivor_id=new.pk, merged_id=old.pk, matched_keys=["manual"])])
    # loyalty's member hook moved the points with the member (loyalty.hooks).
    assert (_balance(old), _balance(new)) == (0, 10)
    assert earn_consume() >= 1  # the member_moved rows: nothing to post
    assert PointsTransaction.objects.filter(kind=EARN).count() == 1

    _upsert(_return("R-1", "S-1", -500))
    earn_consume()

    assert _balance(old) == 0
    assert _balance(new) == 5
    assert _entries(new)[-1] == (REVERSE, -5, _key("reverse", "store", "R-1"))


def test_the_members_tier_multiplies_the_points():
    Tier.objects.get_or_create(name="一般", defaults={"rank": 0, "threshold_twd": 0})
    gold, _ = Tier.objects.get_or_create(
        name="金卡", defaults={"rank": 2, "threshold_twd": 30_000, "earn_multiplier": "1.5"}
    )
    member, other = MemberFactory(), MemberFactory()
    account_id = accounts_ensure(member_ids=[member.pk])[member.pk]
    PointsAccount.objects.filter(pk=account_id).update(tier=gold)
    _upsert(_sale("S-1", 1000), member=member)
    _upsert(_sale("S-2", 1000), member=other)
    earn_consume()

    assert _balance(member) == int(10 * Decimal(gold.earn_multiplier))
    assert _balance(other) == 10


def test_a_promotion_in_its_window_and_stores_and_a_channel_rule():
    _upsert(_sale("S-0", 1), _sale("S-00", 1, store_code="TPE02", store_name="台北二店"))
    in_promotion, elsewhere, in_app = MemberFactory(), MemberFactory(), MemberFactory()
    promotion = EarnRule.objects.create(
        name="週年慶",
        kind=EarnRule.Kind.PROMOTION,
        multiplier=3,
        starts_at=RECENT - timedelta(hours=1),
        ends_at=RECENT + timedelta(hours=1),
    )
    promotion.stores.set(Store.objects.filter(code="TPE01"))
    EarnRule.objects.create(name="App ×2", kind=EarnRule.Kind.CHANNEL, channel="app", multiplier=2)
    _upsert(_sale("S-1", 1000), member=in_promotion)
    _upsert(_sale("S-2", 1000, store_code="TPE02"), member=elsewhere)
    _upsert(
        _sale("S-3", 1000, placed_at=RECENT + timedelta(hours=2)), member=elsewhere
    )  # after the window
    _upsert(_sale("A-1", 1000, channel="app", store_code=""), member=in_app)
    earn_consume()

    assert _balance(in_promotion) == 30
    assert _balance(elsewhere) == 20
    assert _balance(in_app) == 20


def test_an_excluded_store_and_an_order_under_the_minimum_earn_nothing():
    programme = Programme.current()
    programme.min_order_twd = 500
    programme.save()
    _upsert(_sale("S-0", 1, store_code="OUT01", store_name="Outlet"))
    programme.excluded_stores.set(Store.objects.filter(code="OUT01"))
    member = MemberFactory()
    _upsert(_sale("S-1", 499), member=member)
    _upsert(_sale("S-2", 5000, store_code="OUT01"), member=member)
    _upsert(_sale("S-3", 500), member=member)
    earn_consume()

    assert [(kind, points) for kind, points, _ in _entries(member)] == [(EARN, 5)]


def test_an_order_whose_points_would_have_expired_earns_nothing():
    member = MemberFactory()
    now = timezone.now()
    _upsert(_sale("OLD", 1000, placed_at=now - timedelta(days=370)), member=member)
    _upsert(_sale("RECENT", 1000, placed_at=now - timedelta(days=330)), member=member)
    earn_consume()

    entry = PointsTransaction.objects.get()
    assert entry.order_no == "RECENT"
    assert entry.expires_on > timezone.localdate()


def test_months_after_and_kept_share():
    from datetime import date

    assert months_after(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert months_after(date(2026, 3, 15), 12) == date(2027, 3, 15)
    assert months_after(date(2026, 1, 15), -1) == date(2025, 12, 15)
    assert kept_share(earned=10, amount_twd=1000, returned_twd=150) == 8
    assert kept_share(earned=10, amount_twd=1000, returned_twd=1000) == 0
    assert kept_share(earned=10, amount_twd=1000, returned_twd=2000) == 0


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a second session holding a row lock: PostgreSQL"
)
def test_a_sale_read_while_a_merge_moves_it_earns_for_the_member_it_ends_with():
    """Without the sale's row lock, earning reads the old member while the merge is still
    running and posts onto the merged member's account after the hook has emptied it."""
    import threading

    import psycopg

    from loyalty.services.earning import earn_orders_settle

    merged, survivor = MemberFactory(), MemberFactory()
    orders_upsert(orders=[_sale("RACE-1", 1_000)], member_ids=[merged.pk])
    order_id = Order.objects.get(external_no="RACE-1").pk
    settings = connection.settings_dict
    merge = psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        password=settings["PASSWORD"] or None,
    )
    # A merge in progress: the order locked (as crm's feed writer locks it) and moved.
    merge.execute("SELECT id FROM crm_order WHERE id = %s FOR UPDATE", [order_id])
    merge.execute("UPDATE crm_order SET member_id = %s WHERE id = %s", [survivor.pk, order_id])
    done = threading.Event()

    def earn():
        try:
            earn_orders_settle(order_ids=[order_id])
        finally:
            connection.close()
            done.set()

    worker = threading.Thread(target=earn)
    worker.start()
    assert not done.wait(1.5), "earning read the sale while the merge held it"
    merge.commit()
    merge.close()
    worker.join(10)

    assert _balance(survivor) == 10 and _balance(merged) == 0
