"""Points follow crm's members (crm.hooks): merges, their undo, erasure.

Merge. The merged member's points move to the survivor as TRANSFER entries, one pair per
remaining lot: the lot's remainder leaves the merged account and arrives in the survivor's with
the lot's own expiry date, so the survivor's points expire exactly when the merged member's
would have (`counterpart` names the other account on both sides). What remains of each lot is
the shared first-in-first-out rule (loyalty.expiry): up to a day D, a member holds
max(0, credits expiring by D − all debits); a lot's remainder is that amount at its day less
the amount at the day before. Open holds of the merged member are released (a till holding
them must ask again, now for the survivor), its coupons are re-pointed to the survivor's
account, and the survivor's tier is re-evaluated (reason "merge": it now has both spends).
Set-wise per batch of pairs: a fixed number of statements whatever the number of pairs.

Undo. What comes back is the merged member's lots that have not reached their expiry day, as
far as the survivor's balance still holds them, latest-expiring first: whatever the survivor
spent since was taken first-in-first-out, i.e. from the earliest lots, so those are the ones
missing. The survivor is never put below zero and the merged member never gets back points
that were spent or expired; both entries say so. Coupons move back if they are still on the
survivor's account; released holds stay released. Both tiers are re-evaluated.

Erasure. The ledger stays (the figures: points issued, redeemed, expired); the balance is
forfeited with one ADJUST entry "member erased", open holds are released and unused coupons
void.
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from django.db.models import Case, Sum, Value, When
from django.utils import timezone
from django.utils.translation import gettext

from crm.hooks import MemberHook, register_member_hook
from loyalty.models import Coupon, PointsAccount, PointsHold, PointsTransaction, TierChange
from loyalty.services.ledger import Entry, accounts_ensure, accounts_lock, entries_post
from loyalty.services.tiers import tiers_evaluate

HOOK_NAME = "loyalty"
Kind = PointsTransaction.Kind
Source = PointsTransaction.Source


def lots_remaining(account_ids: Sequence[int]) -> dict[int, list[tuple[date | None, int]]]:
    """What remains of each account's lots, by expiry day (None: never), earliest first: the
    first-in-first-out rule of loyalty.expiry, per lot. Two queries for all the accounts."""
    credits: dict[int, dict[date | None, int]] = defaultdict(dict)
    for account_id, expires_on, total in (
        PointsTransaction.objects.filter(account_id__in=account_ids, points__gt=0)
        .values("account_id", "expires_on")
        .annotate(total=Sum("points"))
        .values_list("account_id", "expires_on", "total")
    ):
        credits[account_id][expires_on] = total
    debits = dict(
        PointsTransaction.objects.filter(account_id__in=account_ids, points__lt=0)
        .values("account_id")
        .annotate(total=Sum("points"))
        .values_list("account_id", "total")
    )
    lots: dict[int, list[tuple[date | None, int]]] = {}
    for account_id in account_ids:
        days = sorted(credits[account_id], key=lambda day: (day is None, day or date.min))
        running, held_before, remaining = debits.get(account_id, 0), 0, []
        for day in days:
            running += credits[account_id][day]
            held = max(0, running)  # loyalty.expiry.expiring_by at `day`
            if held > held_before:
                remaining.append((day, held - held_before))
            held_before = held
        lots[account_id] = remaining
    return lots


def points_on_merge(pairs: Sequence[tuple[int, int]]) -> dict[int, dict]:
    survivor_of = {merged_id: survivor_id for survivor_id, merged_id in pairs}
    # One query for both sides: a batch of members who never ordered costs one query here.
    accounts = dict(
        PointsAccount.objects.filter(
            member_id__in=[*survivor_of, *survivor_of.values()]
        ).values_list("member_id", "pk")
    )
    merged_accounts = {m: a for m, a in accounts.items() if m in survivor_of}
    if not merged_accounts:
        # The survivors' orders moved all the same: their spend may reach a new tier.
        tiers_evaluate(
            account_ids=[a for m, a in accounts.items() if m not in survivor_of],
            trigger=TierChange.Reason.MERGE,
        )
        return {}
    survivor_accounts = accounts_ensure(member_ids=set(survivor_of.values()))
    account_pairs = {
        merged_accounts[merged]: survivor_accounts[survivor_of[merged]]
        for merged in merged_accounts
    }
    locked = accounts_lock([*account_pairs, *account_pairs.values()])
    lots = lots_remaining(list(account_pairs))
    now = timezone.now()
    entries: list[Entry] = []
    for merged_account, survivor_account in account_pairs.items():
        key = f"merge:{merged_account}:{locked[merged_account].entries}"
        entries += _transfers(
            lots[merged_account],
            source=merged_account,
            target=survivor_account,
            key=key,
            reason=gettext("Member merged: points moved"),
        )
    entries_post(entries=entries, locked=locked)

    merged_ids = list(account_pairs)
    holds = list(
        PointsHold.objects.filter(
            account_id__in=merged_ids, status=PointsHold.Status.HELD
        ).values_list("pk", flat=True)
    )
    PointsHold.objects.filter(pk__in=holds).update(status=PointsHold.Status.RELEASED, closed_at=now)
    coupons: dict[int, list[int]] = defaultdict(list)
    for pk, account_id in Coupon.objects.filter(account_id__in=merged_ids).values_list(
        "pk", "account_id"
    ):
        coupons[account_id].append(pk)
    if coupons:
        Coupon.objects.filter(account_id__in=merged_ids).update(
            account_id=Case(
                *(When(account_id=m, then=Value(s)) for m, s in account_pairs.items()),
            )
        )
    tiers_evaluate(
        account_ids=[*account_pairs.values(), *account_pairs], trigger=TierChange.Reason.MERGE
    )
    member_of = {account: member for member, account in merged_accounts.items()}
    return {
        member_of[merged_account]: {
            "account": merged_account,
            "survivor_account": survivor_account,
            "lots": [
                [day.isoformat() if day else None, points] for day, points in lots[merged_account]
            ],
            "coupons": coupons.get(merged_account, []),
            "holds_released": list(holds),
        }
        for merged_account, survivor_account in account_pairs.items()
    }


def points_on_unmerge(survivor_id: int, merged_id: int, snapshot: dict) -> None:
    merged_account = snapshot.get("account")
    survivor_account = snapshot.get("survivor_account")
    if not merged_account or not survivor_account:
        return
    locked = accounts_lock([merged_account, survivor_account])
    today = timezone.localdate()
    lots = [
        (date.fromisoformat(day) if day else None, points)
        for day, points in snapshot.get("lots", [])
    ]
    # Latest-expiring first: the survivor's spending took the earliest lots.
    can_take = locked[survivor_account].balance
    back: list[tuple[date | None, int]] = []
    for day, points in sorted(lots, key=lambda lot: (lot[0] is None, lot[0] or date.min))[::-1]:
        if day is not None and day <= today:
            continue  # expired by now: the nightly job expires lots due on or before today
        taken = min(points, can_take)
        if taken > 0:
            back.append((day, taken))
            can_take -= taken
    entries = _transfers(
        back[::-1],
        source=survivor_account,
        target=merged_account,
        key=f"unmerge:{merged_account}:{locked[merged_account].entries}",
        reason=gettext("Merge undone: points moved back"),
    )
    entries_post(entries=entries, locked=locked)
    Coupon.objects.filter(pk__in=snapshot.get("coupons", []), account_id=survivor_account).update(
        account_id=merged_account
    )
    tiers_evaluate(account_ids=[survivor_account, merged_account], trigger=TierChange.Reason.MERGE)


def points_on_erase(member_ids: Sequence[int]) -> None:
    account_ids = list(
        PointsAccount.objects.filter(member_id__in=member_ids).values_list("pk", flat=True)
    )
    if not account_ids:
        return
    locked = accounts_lock(account_ids)
    reason = gettext("Member erased")
    entries_post(
        entries=[
            Entry(
                account_id=pk,
                kind=Kind.ADJUST,
                points=-account.balance,
                idempotency_key=f"erase:{pk}:{account.entries}",
                source=Source.ADMIN,
                reason=reason,
            )
            for pk, account in sorted(locked.items())
            if account.balance > 0
        ],
        locked=locked,
    )
    now = timezone.now()
    PointsHold.objects.filter(account_id__in=account_ids, status=PointsHold.Status.HELD).update(
        status=PointsHold.Status.RELEASED, closed_at=now
    )
    Coupon.objects.filter(account_id__in=account_ids, status=Coupon.Status.ISSUED).update(
        status=Coupon.Status.VOID
    )


def _transfers(
    lots: Sequence[tuple[date | None, int]], *, source: int, target: int, key: str, reason: str
) -> list[Entry]:
    """A TRANSFER pair per lot: out of `source`, into `target` with the lot's expiry day."""
    entries = []
    for number, (day, points) in enumerate(lots):
        common = {"kind": Kind.TRANSFER, "source": Source.MERGE, "reason": reason}
        entries.append(
            Entry(
                account_id=source,
                points=-points,
                idempotency_key=f"{key}:out:{number}",
                counterpart_id=target,
                **common,
            )
        )
        entries.append(
            Entry(
                account_id=target,
                points=points,
                expires_on=day,
                idempotency_key=f"{key}:in:{number}",
                counterpart_id=source,
                **common,
            )
        )
    return entries


def register_loyalty_member_hook() -> None:
    register_member_hook(
        MemberHook(
            name=HOOK_NAME,
            on_merge=points_on_merge,
            on_unmerge=points_on_unmerge,
            on_erase=points_on_erase,
        )
    )
