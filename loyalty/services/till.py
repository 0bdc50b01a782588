"""Points as money at the till: quote, hold, commit, release, and the sweep of forgotten holds.

The rules kept here:
- ONE quote rule (`points_quote`): an order of NT$X may use at most
  floor(X × redeem_max_share_pct / 100 / point_value_twd) points, and never more than the
  member's available points; the discount is points × point_value_twd. The API's quote, a
  hold's check and the bench all call it.
- Available points = balance − the points of the account's open holds that have not expired
  (`points_available`). A hold past its time holds nothing, even before the sweep marks it.
- A hold is made under the account's row lock (ledger.accounts_lock), so two tills cannot both
  reserve the same points: the second waits, then sees the first one's hold.
- A commit writes ONE redeem entry through ledger.entries_post, keyed "redeem:hold:<id>", with
  the order number on it; committing again with the same order number answers the same entry,
  with another number is refused. A hold past its time is refused at commit ("hold_expired")
  whether or not the sweep has run: what a cashier was told expires, expires.
- Lock order is account, then hold, in every verb here; the sweep (`holds_expire`) locks only
  holds and takes no account lock, so no verb and the sweep can wait on each other in a cycle.
- Refusals are decided before anything is written and raised after the verb's transaction
  block, which opens no savepoint (`atomic(savepoint=False)`): inside the API's transaction a
  savepoint is two more round trips a call, and a refusal then leaves the caller's
  transaction as it was. A verb that must write before it can refuse needs its savepoint back.
- Held points are not expired by the nightly job (loyalty/services/expiry.py keeps that rule),
  so a hold made before midnight commits after it.

Refusals are TillRefused with a stable `reason` (the API's answer) and a translated message.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Order
from loyalty.models import PointsAccount, PointsHold, PointsTransaction, Programme
from loyalty.selectors import points_available
from loyalty.services.ledger import Entry, InsufficientPoints, accounts_lock, entries_post


class TillRefused(Exception):
    """Why the till's call cannot be done: `reason` is a stable code, str() says it."""

    MESSAGES = {
        "insufficient_points": _(
            "Not enough points: %(available)s available, %(wanted)s asked for."
        ),
        "over_order_share": _(
            "An order of NT$%(amount)s may use at most %(max)s points; %(wanted)s asked for."
        ),
        "hold_unknown": _("No points hold has this id."),
        "hold_expired": _("This points hold has expired; make a new one."),
        "hold_released": _("This points hold was released."),
        "hold_committed": _("This points hold was committed to order %(order_no)s already."),
        "hold_committed_other_order": _(
            "This points hold was committed to order %(order_no)s already, not to this one."
        ),
    }

    def __init__(self, reason: str, **params):
        self.reason = reason
        self.params = params
        super().__init__(self.MESSAGES[reason] % params if params else self.MESSAGES[reason])


@dataclass(frozen=True)
class Quote:
    """What an order may take from the member's points."""

    order_amount_twd: int
    available: int  # the member's available points
    max_points: int  # the most this order may use (its share cap and the available points)
    points: int  # what the quote uses: the points asked for, or max_points
    discount_twd: int  # points × point value

    @property
    def pay_twd(self) -> int:
        return self.order_amount_twd - self.discount_twd


def points_quote(
    *,
    order_amount_twd: int,
    available: int,
    programme: Programme,
    wanted: int | None = None,
) -> Quote:
    """THE quote rule (see the module docstring). `wanted`: the points the member asks to use;
    more than max_points is cut to max_points (the hold refuses it instead)."""
    value = max(1, programme.point_value_twd)
    share_cap_twd = max(0, order_amount_twd) * programme.redeem_max_share_pct // 100
    max_points = max(0, min(available, share_cap_twd // value))
    points = max_points if wanted is None else max(0, min(wanted, max_points))
    return Quote(
        order_amount_twd=order_amount_twd,
        available=max(0, available),
        max_points=max_points,
        points=points,
        discount_twd=points * value,
    )


def hold_create(
    *,
    account_id: int,
    order_amount_twd: int,
    channel: str,
    points: int | None = None,
    store_id: int | None = None,
    api_key_id: int | None = None,
    now: datetime | None = None,
) -> PointsHold:
    """Reserve points for a sale in progress of NT$order_amount_twd, for
    settings.LOYALTY_HOLD_MINUTES. `points` None: as many as the quote allows (the order's
    share cap or the available points, whichever is less). Raises TillRefused:
    over_order_share (more than the order may use), insufficient_points. The hold answered
    carries `available_after`: the member's available points once it is made, as read under
    the lock (the API answers it without reading again)."""
    now = now or timezone.now()
    programme = Programme.current()
    with transaction.atomic(savepoint=False):
        account = accounts_lock([account_id])[account_id]
        # Its own statement, AFTER the lock: under READ COMMITTED only a statement started
        # after the wait sees the hold another till committed meanwhile (a subquery folded
        # into the locking SELECT would read the snapshot from before the wait: an overspend).
        available = points_available(account=account, now=now)
        refusal = _hold_refusal(
            order_amount_twd=order_amount_twd,
            points=points,
            available=available,
            programme=programme,
        )
        if refusal is None:
            quote = points_quote(
                order_amount_twd=order_amount_twd,
                available=available,
                programme=programme,
                wanted=min(available, _share_cap(order_amount_twd, programme))
                if points is None
                else points,
            )
            hold = PointsHold.objects.create(
                account=account,
                points=quote.points,
                discount_twd=quote.discount_twd,
                status=PointsHold.Status.HELD,
                expires_at=now + timedelta(minutes=settings.LOYALTY_HOLD_MINUTES),
                order_amount_twd=order_amount_twd,
                channel=channel,
                store_id=store_id,
                api_key_id=api_key_id,
                created_at=now,
            )
            hold.available_after = available - hold.points
            return hold
    # Raised after the block, which wrote nothing: no savepoint is needed to undo it, and the
    # caller's transaction stays usable.
    raise refusal


def _share_cap(order_amount_twd: int, programme: Programme) -> int:
    """The most points the order's share allows, whatever the member has."""
    return points_quote(
        order_amount_twd=order_amount_twd, available=2**31, programme=programme
    ).max_points


def _hold_refusal(
    *, order_amount_twd: int, points: int | None, available: int, programme: Programme
) -> TillRefused | None:
    """Why this hold cannot be made, or None. "Too many for this order" and "not enough
    points" are told apart: the share cap is taken alone first."""
    cap = _share_cap(order_amount_twd, programme)
    wanted = min(cap, available) if points is None else points
    if wanted > cap or cap == 0:
        return TillRefused(
            "over_order_share", amount=order_amount_twd, max=cap, wanted=max(wanted, 1)
        )
    if wanted <= 0 or wanted > available:
        return TillRefused("insufficient_points", available=available, wanted=max(wanted, 1))
    return None


@dataclass(frozen=True)
class Committed:
    hold: PointsHold
    entry: PointsTransaction  # the redeem entry
    balance: int  # the account's balance after the commit


def hold_redeem_key(hold_id: int) -> str:
    return f"redeem:hold:{hold_id}"


def _holds_of(api_key_id: int | None) -> QuerySet[PointsHold]:
    """The holds a caller may act on: a till's API key, its own holds (and those made inside
    the app); no key (the app itself), every hold."""
    if api_key_id is None:
        return PointsHold.objects.all()
    return PointsHold.objects.filter(Q(api_key_id=api_key_id) | Q(api_key__isnull=True))


def _hold_locked(
    hold_id: int, *, api_key_id: int | None = None
) -> tuple[PointsAccount | None, PointsHold | None]:
    """The hold and its account, both locked: the account first (the lock order of the module
    docstring), then the hold; (None, None) for no such hold, or one another till's API key
    made. Two queries: the account is found through the hold in the lock's own statement (a
    hold's account never changes, so the subquery cannot go stale), its member read alongside
    (not locked: FOR UPDATE OF the account only) for the answer's number."""
    holds = _holds_of(api_key_id).filter(pk=hold_id)
    account = (
        PointsAccount.objects.select_for_update(of=("self",))
        .select_related("member")
        .filter(pk=Subquery(holds.values("account_id")[:1]))
        .first()
    )
    if account is None:
        return None, None
    hold = PointsHold.objects.select_for_update().get(pk=hold_id)
    hold.account = account
    return account, hold


def hold_commit(
    *,
    hold_id: int,
    order_no: str,
    actor_id: int | None = None,
    api_key_id: int | None = None,
    now: datetime | None = None,
) -> Committed:
    """Spend the held points on order `order_no`: one redeem entry on the ledger. Idempotent
    for the same order number. Raises TillRefused: hold_unknown, hold_expired, hold_released,
    hold_committed_other_order, insufficient_points (the balance fell under the hold since,
    e.g. by a hand adjustment). `api_key_id`: the till's key; another till's hold is unknown."""
    now = now or timezone.now()
    order_no = order_no.strip()[:64]
    key = hold_redeem_key(hold_id)
    with transaction.atomic(savepoint=False):
        account, hold = _hold_locked(hold_id, api_key_id=api_key_id)
        refusal = _commit_refusal(hold, order_no=order_no, now=now)
        if refusal is None and hold.status == PointsHold.Status.COMMITTED:
            entry = PointsTransaction.objects.get(idempotency_key=key)
            return Committed(hold=hold, entry=entry, balance=account.balance)
        if refusal is None:
            refusal = _order_share_refusal(account, hold, order_no=order_no)
        if refusal is None:
            order_id = (
                Order.objects.filter(channel=hold.channel, external_no=order_no)
                .values_list("pk", flat=True)
                .first()
            )
            try:
                # entries_post refuses inside its own savepoint: this block stays clean.
                (entry,) = entries_post(
                    entries=[
                        Entry(
                            account_id=account.pk,
                            kind=PointsTransaction.Kind.REDEEM,
                            points=-hold.points,
                            idempotency_key=key,
                            source=PointsTransaction.Source.TILL,
                            order_id=order_id,
                            order_no=order_no,
                            hold_id=hold.pk,
                            actor_id=actor_id,
                            at=now,
                        )
                    ],
                    locked={account.pk: account},
                )
            except InsufficientPoints as exc:
                refusal = TillRefused(
                    "insufficient_points", available=exc.balance, wanted=exc.wanted
                )
            else:
                # The locked account as the post left it (the answer's available points).
                account.balance = entry.balance_after
                account.entries = entry.seq
                hold.status = PointsHold.Status.COMMITTED
                hold.order_no = order_no
                hold.closed_at = now
                hold.save(update_fields=["status", "order_no", "closed_at"])
                return Committed(hold=hold, entry=entry, balance=entry.balance_after)
    raise refusal  # after the block, which wrote nothing (see hold_create)


def _order_share_refusal(
    account: PointsAccount, hold: PointsHold, *, order_no: str
) -> TillRefused | None:
    """One order's redemptions together stay within its share: two holds (a till that retried
    without an Idempotency-Key) committed to the same order may not pay more of it than one
    could. Read under the account's lock, so two commits cannot both pass."""
    if hold.order_amount_twd is None:
        return None
    cap = _share_cap(hold.order_amount_twd, Programme.current())
    spent = -(
        PointsTransaction.objects.filter(
            account=account,
            kind=PointsTransaction.Kind.REDEEM,
            order_no=order_no,
            hold__isnull=False,
        ).aggregate(total=Sum("points"))["total"]
        or 0
    )
    if spent + hold.points > cap:
        return TillRefused(
            "over_order_share", amount=hold.order_amount_twd, max=cap, wanted=spent + hold.points
        )
    return None


def _commit_refusal(hold: PointsHold | None, *, order_no: str, now: datetime) -> TillRefused | None:
    if hold is None:
        return TillRefused("hold_unknown")
    if hold.status == PointsHold.Status.COMMITTED:
        if hold.order_no != order_no:
            return TillRefused("hold_committed_other_order", order_no=hold.order_no)
        return None
    if hold.status == PointsHold.Status.RELEASED:
        return TillRefused("hold_released")
    if hold.status == PointsHold.Status.EXPIRED or hold.expires_at <= now:
        return TillRefused("hold_expired")
    return None


def hold_release(
    *, hold_id: int, api_key_id: int | None = None, now: datetime | None = None
) -> PointsHold:
    """Give the held points back (the sale was abandoned or paid otherwise). Releasing again,
    or releasing a hold that expired, answers the hold as it is. Raises TillRefused:
    hold_unknown (also another till's hold), hold_committed."""
    now = now or timezone.now()
    with transaction.atomic(savepoint=False):
        _account, hold = _hold_locked(hold_id, api_key_id=api_key_id)
        if hold is None:
            refusal = TillRefused("hold_unknown")
        elif hold.status == PointsHold.Status.COMMITTED:
            refusal = TillRefused("hold_committed", order_no=hold.order_no)
        else:
            if hold.status == PointsHold.Status.HELD:
                hold.status = PointsHold.Status.RELEASED
                hold.closed_at = now
                hold.save(update_fields=["status", "closed_at"])
            return hold
    raise refusal  # after the block, which wrote nothing (see hold_create)


def holds_expire(*, now: datetime | None = None) -> int:
    """Mark every open hold past its time expired (one UPDATE on the open-holds index); returns
    how many. Rerun-safe: a second run finds none. A hold being committed at the same moment is
    locked by its commit; the UPDATE waits and then re-reads its status, so it never marks a
    committed hold expired."""
    now = now or timezone.now()
    return PointsHold.objects.filter(status=PointsHold.Status.HELD, expires_at__lte=now).update(
        status=PointsHold.Status.EXPIRED, closed_at=now
    )
