"""Points follow crm's members (loyalty.hooks): merge moves the lots with their expiry dates,
undo moves back what the survivor still holds, erasure forfeits the balance and keeps the
ledger. Through crm's own merge / undo / erase services."""

from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from crm.services.erasure import member_forget
from crm.services.merges import MergePair, member_unmerge, members_merge
from loyalty.models import (
    Coupon,
    PointsAccount,
    PointsHold,
    PointsTransaction,
    Reward,
    TierChange,
)
from loyalty.services.ledger import Entry, accounts_ensure, entries_post
from tests.factories import MemberFactory, OrderFactory

pytestmark = pytest.mark.django_db
EARN = PointsTransaction.Kind.EARN
REDEEM = PointsTransaction.Kind.REDEEM
SOURCE = PointsTransaction.Source.ORDER
SOON = timezone.localdate() + timedelta(days=40)
LATER = timezone.localdate() + timedelta(days=200)


def _account(member, *entries) -> PointsAccount:
    account_id = accounts_ensure(member_ids=[member.pk])[member.pk]
    entries_post(
        entries=[
            Entry(account_id, kind, points, f"{account_id}:{n}", SOURCE, expires_on=day)
            for n, (kind, points, day) in enumerate(entries)
        ]
    )
    return PointsAccount.objects.get(pk=account_id)


def _coupon(account, code="C1") -> Coupon:
    reward = Reward.objects.get_or_create(name="Tote", points_price=100)[0]
    return Coupon.objects.create(
        code=code,
        reward=reward,
        account=account,
        expires_at=timezone.now() + timedelta(days=30),
    )


def _balanced(*accounts):
    for account in accounts:
        account.refresh_from_db()
        total = account.transactions.aggregate(total=Sum("points"))["total"] or 0
        assert account.balance == total


def _merge(survivor, merged):
    (log,) = members_merge(
        pairs=[MergePair(survivor_id=survivor.pk, merged_id=merged.pk, matched_keys=["manual"])]
    )
    return log


def test_merge_moves_each_remaining_lot_with_its_expiry_and_undo_moves_it_back():
    survivor, merged = MemberFactory(), MemberFactory()
    kept = _account(survivor, (EARN, 10, LATER))
    gone = _account(merged, (EARN, 100, SOON), (EARN, 50, LATER), (REDEEM, -30, None))
    coupon = _coupon(gone)
    hold = PointsHold.objects.create(
        account=gone,
        points=20,
        discount_twd=20,
        channel="store",
        expires_at=timezone.now() + timedelta(minutes=10),
    )
    OrderFactory(member=merged, amount_twd=12_000)

    log = _merge(survivor, merged)

    _balanced(kept, gone)
    assert (kept.balance, gone.balance) == (130, 0)
    arrived = list(
        kept.transactions.filter(kind="transfer").values_list(
            "points", "expires_on", "counterpart_id"
        )
    )
    assert arrived == [(70, SOON, gone.pk), (50, LATER, gone.pk)]
    assert set(
        gone.transactions.filter(kind="transfer").values_list("counterpart_id", flat=True)
    ) == {kept.pk}
    coupon.refresh_from_db()
    hold.refresh_from_db()
    assert coupon.account_id == kept.pk
    assert hold.status == "released"
    kept.refresh_from_db()
    assert kept.tier.name == "銀卡"  # the merged member's spend came along
    assert TierChange.objects.filter(account=kept).latest("pk").reason == "merge"
    assert log.snapshot["hooks"]["loyalty"]["lots"] == [
        [SOON.isoformat(), 70],
        [LATER.isoformat(), 50],
    ]

    # The survivor spends 90 (first in, first out: its merged 70 and 20 more) before the undo.
    entries_post(entries=[Entry(kept.pk, REDEEM, -90, "spend", SOURCE)])
    member_unmerge(merge_log=log)

    _balanced(kept, gone)
    # Back goes what the survivor still holds, latest-expiring first: 40 of the lot of LATER.
    assert (gone.balance, kept.balance) == (40, 0)
    back = list(
        gone.transactions.filter(kind="transfer", points__gt=0).values_list("points", "expires_on")
    )
    assert back == [(40, LATER)]
    coupon.refresh_from_db()
    assert coupon.account_id == gone.pk


def test_merges_of_many_pairs_are_one_batch():
    pairs, accounts = [], []
    for _ in range(5):
        survivor, merged = MemberFactory(), MemberFactory()
        accounts.append(_account(merged, (EARN, 25, LATER)))
        pairs.append(MergePair(survivor_id=survivor.pk, merged_id=merged.pk, matched_keys=["x"]))

    members_merge(pairs=pairs)

    for pair in pairs:
        assert PointsAccount.objects.get(member_id=pair.survivor_id).balance == 25
        assert PointsAccount.objects.get(member_id=pair.merged_id).balance == 0


def test_erasure_forfeits_the_balance_keeps_the_ledger_and_voids_coupons(alice):
    member = MemberFactory()
    account = _account(member, (EARN, 80, LATER))
    _coupon(account, "U1")
    used = _coupon(account, "U2")
    Coupon.objects.filter(pk=used.pk).update(status="used", used_at=timezone.now())
    hold = PointsHold.objects.create(
        account=account,
        points=20,
        discount_twd=20,
        channel="store",
        expires_at=timezone.now() + timedelta(minutes=10),
    )

    member_forget(member=member, actor=alice, reason="PDPA request #12")

    _balanced(account)
    assert account.balance == 0
    entry = account.transactions.get(kind="adjust")
    assert (entry.points, entry.reason) == (-80, "會員資料已刪除")
    assert account.transactions.filter(kind="earn").exists()  # the figures stay
    assert dict(Coupon.objects.values_list("code", "status")) == {"U1": "void", "U2": "used"}
    hold.refresh_from_db()
    assert hold.status == "released"


def test_lots_ignore_a_member_without_points():
    survivor, merged = MemberFactory(), MemberFactory()
    log = _merge(survivor, merged)
    assert log.snapshot["hooks"]["loyalty"] == {}
    member_unmerge(merge_log=log)
    assert not PointsAccount.objects.filter(member=survivor).exists()
