"""The till's services: the one quote rule, holds that reserve points under the account's lock,
a commit that redeems once per order, release, and holds that expire by themselves."""

from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from loyalty.models import PointsAccount, PointsHold, PointsTransaction, Programme
from loyalty.selectors import points_available
from loyalty.selectors_till import till_points
from loyalty.services.ledger import Entry, accounts_ensure, entries_post
from loyalty.services.till import (
    TillRefused,
    hold_commit,
    hold_create,
    hold_release,
    holds_expire,
    points_quote,
)
from loyalty.tasks import holds_expire_task
from omnichannel.schedule import SCHEDULE
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

EARN = PointsTransaction.Kind.EARN
ORDER = PointsTransaction.Source.ORDER


def _account(points: int = 100) -> PointsAccount:
    member = MemberFactory()
    account_id = accounts_ensure(member_ids=[member.pk])[member.pk]
    if points:
        entries_post(entries=[Entry(account_id, EARN, points, f"earn:{member.pk}", ORDER)])
    return PointsAccount.objects.get(pk=account_id)


def _ledger_sum(account: PointsAccount) -> int:
    return account.transactions.aggregate(total=Sum("points"))["total"] or 0


def _hold(account: PointsAccount, points: int | None = 80, amount: int = 1000, **kw):
    return hold_create(
        account_id=account.pk, order_amount_twd=amount, points=points, channel="store", **kw
    )


# --- The quote rule --------------------------------------------------------------------------


def _programme(**fields) -> Programme:
    programme = Programme.current()
    for name, value in fields.items():
        setattr(programme, name, value)
    return programme


@pytest.mark.parametrize(
    "amount, available, share, value, wanted, expected",
    [
        # (max_points, points, discount): 1 point = NT$1, points may pay the whole order.
        (500, 1000, 100, 1, None, (500, 500, 500)),
        (500, 120, 100, 1, None, (120, 120, 120)),  # the available points bind
        (500, 1000, 30, 1, None, (150, 150, 150)),  # 30% of NT$500
        (999, 1000, 30, 1, None, (299, 299, 299)),  # floor(299.7): never over the share
        (500, 1000, 100, 2, None, (250, 250, 500)),  # a point pays NT$2
        (501, 1000, 100, 2, None, (250, 250, 500)),  # half a point is no point
        (500, 1000, 100, 1, 80, (500, 80, 80)),  # the member asks for fewer
        (500, 1000, 100, 1, 900, (500, 500, 500)),  # more than the order may use: cut
        (500, 0, 100, 1, None, (0, 0, 0)),
        (0, 1000, 100, 1, None, (0, 0, 0)),
    ],
)
def test_the_quote_rule(amount, available, share, value, wanted, expected):
    programme = _programme(redeem_max_share_pct=share, point_value_twd=value)
    quote = points_quote(
        order_amount_twd=amount, available=available, programme=programme, wanted=wanted
    )
    assert (quote.max_points, quote.points, quote.discount_twd) == expected
    assert quote.pay_twd == amount - quote.discount_twd


# --- Holds -----------------------------------------------------------------------------------


def test_a_hold_reserves_points_for_its_minutes(settings):
    settings.LOYALTY_HOLD_MINUTES = 7
    account = _account(100)
    now = timezone.now()

    hold = _hold(account, 80, now=now)

    assert (hold.status, hold.points, hold.discount_twd) == ("held", 80, 80)
    assert hold.expires_at == now + timedelta(minutes=7)
    assert points_available(account=account, now=now) == 20
    # Held is not spent: the ledger has not moved.
    account.refresh_from_db()
    assert account.balance == 100 == _ledger_sum(account)


def test_a_second_hold_cannot_take_points_held_already():
    account = _account(100)
    _hold(account, 80)

    with pytest.raises(TillRefused) as refusal:
        _hold(account, 30)

    assert refusal.value.reason == "insufficient_points"
    assert refusal.value.params == {"available": 20, "wanted": 30}
    assert PointsHold.objects.count() == 1


def test_a_hold_over_the_orders_share_is_refused():
    _programme(redeem_max_share_pct=50).save()
    account = _account(1000)

    with pytest.raises(TillRefused) as refusal:
        _hold(account, 600, amount=1000)

    assert refusal.value.reason == "over_order_share"
    assert refusal.value.params["max"] == 500


def test_a_hold_without_points_takes_the_most_the_quote_allows():
    account = _account(100)
    assert _hold(account, None, amount=60).points == 60
    assert _hold(account, None, amount=1000).points == 40  # what is left available


def test_an_expired_hold_holds_nothing_even_before_the_sweep():
    account = _account(100)
    now = timezone.now()
    _hold(account, 80, now=now - timedelta(hours=1))

    assert points_available(account=account, now=now) == 100
    assert _hold(account, 90, now=now).points == 90


def test_commit_redeems_once_on_the_order():
    account = _account(100)
    hold = _hold(account, 80)

    committed = hold_commit(hold_id=hold.pk, order_no="POS-1")
    again = hold_commit(hold_id=hold.pk, order_no=" POS-1 ")

    assert again.entry.pk == committed.entry.pk
    entry = PointsTransaction.objects.get(kind="redeem")
    assert (entry.points, entry.order_no, entry.hold_id, entry.source) == (
        -80,
        "POS-1",
        hold.pk,
        "till",
    )
    assert entry.idempotency_key == f"redeem:hold:{hold.pk}"
    account.refresh_from_db()
    assert account.balance == 20 == _ledger_sum(account)
    assert account.last_redeemed_at is not None
    hold.refresh_from_db()
    assert (hold.status, hold.order_no) == ("committed", "POS-1")
    # Committed points are spent, no longer held.
    assert points_available(account=account, now=timezone.now()) == 20


def test_commit_links_the_order_when_the_till_sent_it_already():
    from tests.factories import OrderFactory

    account = _account(100)
    order = OrderFactory(member=account.member, external_no="POS-9", channel="store")
    hold = _hold(account, 10)

    hold_commit(hold_id=hold.pk, order_no="POS-9")

    assert PointsTransaction.objects.get(kind="redeem").order_id == order.pk


def test_commit_with_another_order_number_is_refused():
    account = _account(100)
    hold = _hold(account, 80)
    hold_commit(hold_id=hold.pk, order_no="POS-1")

    with pytest.raises(TillRefused) as refusal:
        hold_commit(hold_id=hold.pk, order_no="POS-2")

    assert refusal.value.reason == "hold_committed_other_order"
    assert PointsTransaction.objects.filter(kind="redeem").count() == 1


def test_an_expired_hold_is_refused_at_commit_before_and_after_the_sweep():
    account = _account(100)
    now = timezone.now()
    hold = _hold(account, 80, now=now - timedelta(minutes=16))

    with pytest.raises(TillRefused) as before_sweep:
        hold_commit(hold_id=hold.pk, order_no="POS-1", now=now)
    assert holds_expire(now=now) == 1
    with pytest.raises(TillRefused) as after_sweep:
        hold_commit(hold_id=hold.pk, order_no="POS-1", now=now)

    assert before_sweep.value.reason == after_sweep.value.reason == "hold_expired"
    account.refresh_from_db()
    assert account.balance == 100 == _ledger_sum(account)


def test_a_released_hold_gives_its_points_back_and_cannot_be_committed():
    account = _account(100)
    hold = _hold(account, 80)

    released = hold_release(hold_id=hold.pk)
    again = hold_release(hold_id=hold.pk)

    assert released.status == again.status == "released"
    assert points_available(account=account, now=timezone.now()) == 100
    with pytest.raises(TillRefused) as refusal:
        hold_commit(hold_id=hold.pk, order_no="POS-1")
    assert refusal.value.reason == "hold_released"


def test_a_committed_hold_cannot_be_released():
    account = _account(100)
    hold = _hold(account, 80)
    hold_commit(hold_id=hold.pk, order_no="POS-1")

    with pytest.raises(TillRefused) as refusal:
        hold_release(hold_id=hold.pk)

    assert refusal.value.reason == "hold_committed"


def test_an_unknown_hold_is_refused():
    with pytest.raises(TillRefused) as refusal:
        hold_commit(hold_id=999_999, order_no="POS-1")
    assert refusal.value.reason == "hold_unknown"


def test_commit_refuses_when_the_balance_fell_under_the_hold():
    account = _account(100)
    hold = _hold(account, 80)
    # A hand adjustment took points since the hold was made.
    entries_post(
        entries=[Entry(account.pk, PointsTransaction.Kind.ADJUST, -50, "adjust:1", "admin")]
    )

    with pytest.raises(TillRefused) as refusal:
        hold_commit(hold_id=hold.pk, order_no="POS-1")

    assert refusal.value.reason == "insufficient_points"
    account.refresh_from_db()
    assert account.balance == 50 == _ledger_sum(account)


def test_the_sweep_expires_only_open_holds_past_their_time():
    account = _account(1000)
    now = timezone.now()
    old = _hold(account, 10, now=now - timedelta(minutes=20))
    fresh = _hold(account, 10, now=now)
    committed = _hold(account, 10, now=now - timedelta(minutes=20))
    hold_commit(hold_id=committed.pk, order_no="POS-1", now=now - timedelta(minutes=19))

    assert holds_expire(now=now) == 1
    assert holds_expire(now=now) == 0

    statuses = dict(PointsHold.objects.values_list("pk", "status"))
    assert statuses == {old.pk: "expired", fresh.pk: "held", committed.pk: "committed"}


def test_the_sweep_runs_every_minute_as_a_task():
    account = _account(100)
    _hold(account, 10, now=timezone.now() - timedelta(hours=1))

    assert holds_expire_task.apply().get() == 1
    job = next(job for job in SCHEDULE if job.task == "loyalty.tasks.holds_expire_task")
    assert (job.minute, job.hour) == ("*", "*")


# --- What the till shows ----------------------------------------------------------------------


def test_till_points_counts_holds_tier_and_points_expiring_within_30_days():
    account = _account(0)
    today = timezone.localdate()
    entries_post(
        entries=[
            Entry(account.pk, EARN, 50, "e1", ORDER, expires_on=today + timedelta(days=3)),
            Entry(account.pk, EARN, 30, "e2", ORDER, expires_on=today + timedelta(days=20)),
            Entry(account.pk, EARN, 70, "e3", ORDER, expires_on=today + timedelta(days=90)),
            # Spent first-in-first-out: from the lot expiring in 3 days.
            Entry(account.pk, PointsTransaction.Kind.REDEEM, -20, "r1", ORDER),
        ]
    )
    account.refresh_from_db()
    _hold(account, 40)

    points = till_points(member=account.member)

    assert (points.balance, points.held, points.available) == (130, 40, 90)
    assert [(item.on, item.points) for item in points.expiring] == [
        (today + timedelta(days=3), 30),
        (today + timedelta(days=20), 30),
    ]
    assert points.expiring_total == 60
    assert points.next_tier is not None and points.next_tier.rank == 1


def test_two_holds_committed_to_one_order_stay_within_its_share():
    """A till that retried a hold without an Idempotency-Key has two; committed to the same
    NT$1,000 order they may not pay more of it than one hold could (100 % by default)."""
    account = _account(2_000)
    first, second = _hold(account, 700, amount=1000), _hold(account, 700, amount=1000)

    hold_commit(hold_id=first.pk, order_no="POS-9")
    with pytest.raises(TillRefused) as refusal:
        hold_commit(hold_id=second.pk, order_no="POS-9")

    assert refusal.value.reason == "over_order_share"
    account.refresh_from_db()
    assert account.balance == 1_300 == _ledger_sum(account)
    # The same hold on another order is fine.
    assert hold_commit(hold_id=second.pk, order_no="POS-10").entry.points == -700
