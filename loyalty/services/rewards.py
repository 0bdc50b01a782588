"""Redeeming points for a reward (a coupon), expiring unused coupons, cancelling one, and
saving the catalogue.

`reward_redeem` is the one verb for "a member spends points on a reward": the marketer's page,
the demo data and any later channel call it. In one transaction it:
1. locks the member's points account (ledger.accounts_lock; the account lock is always taken
   before the reward's row, so two redemptions never wait on each other in opposite orders);
2. returns the coupon already issued when the idempotency key is posted (a double click, a
   retried request);
3. checks the reward is active and inside its window, and that the points *available* cover
   it: the balance minus the points held at the till for sales in progress (open holds);
4. takes one from stock with a conditional UPDATE (`stock > 0 OR stock IS NULL`) whose row
   count decides. THE RACE IT CLOSES: two members redeem the last one at once; both read
   stock 1 and both would issue. The UPDATE takes the reward's row lock, and PostgreSQL
   re-checks `stock > 0` on the row the first one committed, so the second updates nothing
   and is refused (out of stock); the CHECK on stock ≥ 0 (PositiveIntegerField) backs it up;
5. issues the coupon with a unique, unguessable code, and posts ONE redeem entry (reward and
   coupon on it) through ledger.entries_post.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.expiry import credit_expires_on
from loyalty.models import Coupon, PointsTransaction, Programme, Reward
from loyalty.selectors import points_held
from loyalty.services.ledger import (
    Entry,
    InsufficientPoints,
    accounts_ensure,
    accounts_lock,
    entries_post,
)

# No look-alikes (0/O, 1/I): a cashier reads the code off a phone and types it.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 12  # 32^12 = 2^60 codes: unguessable by trying, short enough to type
CODE_ATTEMPTS = 5
EXPIRE_CHUNK = 10_000  # coupons marked expired per statement
KEY_PREFIX = "reward:"
REASON_REQUIRED = _("Say why the coupon is cancelled.")


class RewardUnavailable(Exception):
    """Why a reward cannot be redeemed now; `reason` is a stable code, str() says it."""

    MESSAGES = {
        "inactive": _("This reward is not offered at the moment."),
        "not_started": _("This reward is not available yet."),
        "ended": _("This reward is no longer available."),
        "out_of_stock": _("This reward is out of stock."),
        "key_reused": _(
            "This redemption was already made for another member: open the form again."
        ),
    }

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(self.MESSAGES[reason])


class CouponNotVoidable(Exception):
    """Only an unused coupon can be cancelled."""

    def __init__(self, coupon: Coupon):
        self.coupon = coupon
        super().__init__(
            _("Only an unused coupon can be cancelled: this one is %(status)s.")
            % {"status": coupon.get_status_display()}
        )


def coupon_code_new() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _i in range(CODE_LENGTH))


def coupon_code_display(code: str) -> str:
    """ABCD-EFGH-JKLM: printed and shown in groups of four (coupon_code_normalise drops the
    dashes again)."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def coupon_expires_at(*, issued_at: datetime, valid_days: int) -> datetime:
    """A coupon valid N days is good until the end of the Nth day after the day it was issued,
    Asia/Taipei (issued 12/07, valid 30 days: usable through 2027/01/06 23:59)."""
    issued_on = timezone.localtime(issued_at).date()
    last_day = issued_on + timedelta(days=valid_days)
    return timezone.make_aware(datetime.combine(last_day + timedelta(days=1), time.min))


def reward_unavailable_reason(reward: Reward, *, at: datetime) -> str | None:
    """Why the reward cannot be redeemed at `at` (stock aside: the UPDATE decides that), or
    None."""
    if not reward.is_active or reward.purpose:
        # A job's gift (the birthday coupon) is given by its job, never bought.
        return "inactive"
    if reward.available_from and at < reward.available_from:
        return "not_started"
    if reward.available_until and at >= reward.available_until:
        return "ended"
    if reward.stock == 0:
        return "out_of_stock"
    return None


def reward_redeem(
    *,
    reward_id: int,
    source: str,
    idempotency_key: str,
    member_id: int | None = None,
    account_id: int | None = None,
    actor_id: int | None = None,
    at: datetime | None = None,
) -> Coupon:
    """Spend the reward's points price from the member's account (name the member or the
    account) and issue a coupon for it; see the module docstring for the steps.

    Idempotent by `idempotency_key`: the same key returns the coupon it issued, nothing more is
    taken. Raises RewardUnavailable (inactive, not_started, ended, out_of_stock),
    InsufficientPoints (available = balance − open holds), Reward.DoesNotExist, ValueError (the
    key was used for another member).
    """
    if (member_id is None) == (account_id is None):
        raise ValueError("name the member or the account, not both")
    at = at or timezone.now()
    key = f"{KEY_PREFIX}{idempotency_key}"
    with transaction.atomic():
        if account_id is None:
            account_id = accounts_ensure(member_ids=[member_id])[member_id]
        locked = accounts_lock([account_id])
        account = locked[account_id]
        done = _coupon_for_key(key)
        if done is not None:
            if done.account_id != account_id:
                # A form's one-time key sent again for someone else (a copied or tampered form).
                raise RewardUnavailable("key_reused")
            return done
        reward = Reward.objects.get(pk=reward_id)
        if reason := reward_unavailable_reason(reward, at=at):
            raise RewardUnavailable(reason)
        available = account.balance - points_held(account_id=account_id, now=at)
        if available < reward.points_price:
            raise InsufficientPoints(
                account_id=account_id, balance=max(available, 0), wanted=reward.points_price
            )
        # stock − 1 stays NULL for an unlimited reward (NULL arithmetic), so one statement
        # serves both; the WHERE is re-checked under the row lock (the race in the docstring).
        taken = (
            Reward.objects.filter(pk=reward.pk)
            .filter(Q(stock__gt=0) | Q(stock__isnull=True))
            .update(stock=F("stock") - 1, issued_count=F("issued_count") + 1)
        )
        if not taken:
            raise RewardUnavailable("out_of_stock")
        coupon = _coupon_issue(reward=reward, account_id=account_id, at=at)
        entries_post(
            entries=[
                Entry(
                    account_id=account_id,
                    kind=PointsTransaction.Kind.REDEEM,
                    points=-reward.points_price,
                    idempotency_key=key,
                    source=source,
                    reward_id=reward.pk,
                    coupon_id=coupon.pk,
                    reason=reward.name,
                    actor_id=actor_id,
                    at=at,
                )
            ],
            locked=locked,
        )
        return coupon


def _coupon_for_key(key: str) -> Coupon | None:
    coupon_id = (
        PointsTransaction.objects.filter(idempotency_key=key)
        .values_list("coupon_id", flat=True)
        .first()
    )
    return Coupon.objects.select_related("reward").get(pk=coupon_id) if coupon_id else None


def _coupon_issue(*, reward: Reward, account_id: int, at: datetime) -> Coupon:
    """A new coupon with a fresh code; a code drawn twice (one in 2^60 per pair) is drawn
    again, inside a savepoint so the transaction goes on."""
    for _attempt in range(CODE_ATTEMPTS):
        try:
            with transaction.atomic():
                return Coupon.objects.create(
                    code=coupon_code_new(),
                    reward=reward,
                    account_id=account_id,
                    issued_at=at,
                    expires_at=coupon_expires_at(issued_at=at, valid_days=reward.coupon_valid_days),
                )
        except IntegrityError:
            continue
    raise IntegrityError(f"no free coupon code after {CODE_ATTEMPTS} draws")


def coupons_expire(*, now: datetime | None = None) -> int:
    """Mark every unused coupon past its expiry expired (the nightly job); returns how many.

    Set-wise, a chunk of ids per statement; the status guard in the UPDATE makes a second run
    (or a coupon used meanwhile) change nothing.
    """
    now = now or timezone.now()
    expired = 0
    last_pk = 0
    while True:
        ids = list(
            Coupon.objects.filter(status=Coupon.Status.ISSUED, expires_at__lte=now, pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", flat=True)[:EXPIRE_CHUNK]
        )
        if not ids:
            return expired
        last_pk = ids[-1]
        expired += Coupon.objects.filter(pk__in=ids, status=Coupon.Status.ISSUED).update(
            status=Coupon.Status.EXPIRED
        )


@dataclass(frozen=True)
class VoidResult:
    coupon: Coupon
    points_returned: int


def coupon_void(
    *, coupon_id: int, reason: str, actor_id: int | None, refund: bool = True
) -> VoidResult:
    """Cancel an unused coupon (a marketer's decision, with a mandatory reason). With `refund`
    the member gets the reward's points back (a reverse entry, expiring like points earned
    today) and the reward its stock. Raises CouponNotVoidable, ValueError (no reason)."""
    reason = reason.strip()
    if not reason:
        raise ValueError(str(REASON_REQUIRED))
    now = timezone.now()
    with transaction.atomic():
        # Lock order as in reward_redeem: the account, then the coupon (then the reward).
        account_id = Coupon.objects.values_list("account_id", flat=True).get(pk=coupon_id)
        locked = accounts_lock([account_id])
        coupon = Coupon.objects.select_for_update().select_related("reward").get(pk=coupon_id)
        if coupon.status != Coupon.Status.ISSUED:
            raise CouponNotVoidable(coupon)
        coupon.status = Coupon.Status.VOID
        coupon.void_reason = reason[:200]
        coupon.voided_at = now
        coupon.voided_by_id = actor_id
        coupon.save(update_fields=["status", "void_reason", "voided_at", "voided_by"])
        returned = 0
        if refund:
            price = (
                PointsTransaction.objects.filter(
                    coupon_id=coupon.pk, kind=PointsTransaction.Kind.REDEEM
                ).aggregate(total=Sum("points"))["total"]
                or 0
            )
            if price < 0:
                returned = -price
                entries_post(
                    entries=[
                        Entry(
                            account_id=account_id,
                            kind=PointsTransaction.Kind.REVERSE,
                            points=returned,
                            idempotency_key=f"coupon-void:{coupon.pk}",
                            source=PointsTransaction.Source.PAGE,
                            expires_on=credit_expires_on(
                                earned_on=timezone.localdate(now),
                                months=Programme.current().expiry_months,
                            ),
                            reward_id=coupon.reward_id,
                            coupon_id=coupon.pk,
                            reason=reason,
                            actor_id=actor_id,
                            at=now,
                        )
                    ],
                    locked=locked,
                )
            Reward.objects.filter(pk=coupon.reward_id, stock__isnull=False).update(
                stock=F("stock") + 1
            )
        return VoidResult(coupon=coupon, points_returned=returned)


def reward_save(*, reward: Reward) -> Reward:
    """Save a reward from the catalogue form (validated by the form: the model's constraints
    and the image checks). One place so a later audit entry has its home."""
    reward.save()
    return reward
