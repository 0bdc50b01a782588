"""Tiers: a member's level follows their rolling 12-month net spend (the one tier rule).

The rule (`tier_decide`, one function, used by every trigger):
- spend = crm's net revenue (crm.models.net_revenue: placed rows, returns included) of the
  member's orders placed in the last 365 days, counted EXACTLY for the accounts evaluated
  (one subquery per account on crm's (member, placed_at) index; never a scan of all orders);
- the tier a spend reaches = the highest Tier whose threshold ≤ spend;
- reaching a higher tier upgrades at once;
- falling below the tier held starts a grace period of Programme.downgrade_grace_days: the tier
  is kept and `downgrade_due_at` set; spend that recovers in time clears it; when it has passed,
  the next evaluation downgrades (reason "grace_ended"). Grace 0 downgrades at once.
- every change of tier is a TierChange row with its reason.

When it runs: on each order (the feed consumer "loyalty.tiers" over the members the batch
touches), nightly over every account (batches of id ranges, as the days move spend out of the
window), when the tiers are edited (reason "rules") and after a merge (reason "merge").
Each batch locks its accounts (FOR UPDATE, id order) before it reads them, so the nightly job,
a second copy of it and the order consumer never write the same change twice; rows whose
spend, tier and due date already agree are not written, so a second run writes nothing.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.bulk import chunked
from crm.models import Order, OrderChange, net_revenue
from crm.services.order_feed import order_changes_drain
from loyalty.models import PointsAccount, Programme, Tier, TierChange
from loyalty.services.ledger import accounts_ensure
from loyalty.services.wallet import wallet_passes_touch

SPEND_WINDOW = timedelta(days=365)  # "rolling 12 months"
BATCH_SIZE = 5_000  # accounts per transaction
CONSUMER = "loyalty.tiers"
# Changes per feed transaction: like loyalty.earn's (see earning.BATCH_SIZE), large enough that
# the per-batch queries do not dominate an import's drain, small enough that the accounts a
# batch locks are held for well under a second.
FEED_BATCH_SIZE = 5_000

Reason = TierChange.Reason


@dataclass(frozen=True)
class TierStep:
    """What tier_decide says for one account."""

    tier_id: int | None
    downgrade_due_at: datetime | None
    reason: str | None  # None: the tier stays (the due date may still move)


def tier_reached(spend_twd: int, tiers: Sequence[Tier]) -> Tier:
    """The highest tier whose threshold the spend reaches (`tiers` by rank; the entry tier's
    threshold is 0, so a spend of 0 or below reaches the lowest)."""
    ordered = sorted(tiers, key=lambda tier: tier.threshold_twd)
    reached = ordered[0]
    for tier in ordered:
        if tier.threshold_twd <= spend_twd:
            reached = tier
    return reached


def tier_decide(
    *,
    tier_id: int | None,
    downgrade_due_at: datetime | None,
    spend_twd: int,
    tiers: Sequence[Tier],
    grace_days: int,
    now: datetime,
    trigger: str,
) -> TierStep:
    """THE tier rule (module docstring): the account's next tier and due date. `trigger` is the
    TierChange.Reason of what asked (order, nightly, rules, merge)."""
    reached = tier_reached(spend_twd, tiers)
    held = next((tier for tier in tiers if tier.pk == tier_id), None)
    if held is None or reached.threshold_twd > held.threshold_twd:
        return TierStep(reached.pk, None, trigger)
    if reached.pk == held.pk:
        return TierStep(held.pk, None, None)
    # Below the tier held: keep it through the grace period.
    due = downgrade_due_at or now + timedelta(days=grace_days)
    if due <= now:
        return TierStep(reached.pk, None, Reason.GRACE_ENDED if downgrade_due_at else trigger)
    return TierStep(held.pk, due, None)


def spend_12m(at: datetime) -> Coalesce:
    """An expression over PointsAccount: the member's net spend of the 365 days up to `at`
    (crm's one net-revenue rule; crm's (member, placed_at) index finds the orders)."""
    orders = (
        Order.objects.filter(member_id=OuterRef("member_id"), placed_at__gt=at - SPEND_WINDOW)
        .order_by()
        .values("member_id")
        .annotate(total=net_revenue())
        .values("total")[:1]
    )
    return Coalesce(Subquery(orders, output_field=IntegerField()), 0)


def tiers_evaluate(
    *,
    account_ids: Iterable[int],
    trigger: str,
    at: datetime | None = None,
    actor_id: int | None = None,
) -> int:
    """Re-evaluate these accounts (spend, tier, due date), a batch per transaction. Returns the
    tier changes written."""
    ids = sorted(set(account_ids))
    if not ids:
        return 0
    at = at or timezone.now()
    changed = 0
    context = _context()
    for chunk in chunked(ids, BATCH_SIZE):
        changed += _evaluate(Q(pk__in=chunk), trigger=trigger, at=at, actor_id=actor_id, **context)
    return changed


def tiers_evaluate_all(
    *,
    trigger: str = Reason.NIGHTLY,
    at: datetime | None = None,
    actor_id: int | None = None,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Every account, in id ranges of `batch_size` (the nightly job, a tier edit). Returns the
    tier changes written."""
    at = at or timezone.now()
    context = _context()
    changed, after = 0, 0
    while True:
        bounds = list(
            PointsAccount.objects.filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[batch_size - 1 : batch_size]
        )
        last = bounds[0] if bounds else None
        span = Q(pk__gt=after) if last is None else Q(pk__gt=after, pk__lte=last)
        changed += _evaluate(span, trigger=trigger, at=at, actor_id=actor_id, **context)
        if last is None:
            return changed
        after = last


def tiers_consume(*, batch_size: int = FEED_BATCH_SIZE, max_batches: int | None = None) -> int:
    """The feed consumer "loyalty.tiers": re-evaluate the members each batch of order changes
    touches, in the batch's transaction. Returns the changes handled."""
    return order_changes_drain(
        consumer=CONSUMER,
        handler=tiers_on_order_changes,
        batch_size=batch_size,
        max_batches=max_batches,
    )


def tiers_on_order_changes(changes: list[OrderChange]) -> None:
    """The feed handler. A member who orders gets an account; a member an order moved away from
    (a merge, an erasure) is re-evaluated if they have one. Idempotent: evaluating twice writes
    nothing the second time."""
    buyers = {change.member_id for change in changes if change.member_id}
    left = {change.old_member_id for change in changes if change.old_member_id} - buyers
    account_ids = set(accounts_ensure(member_ids=buyers).values())
    if left:
        account_ids.update(
            PointsAccount.objects.filter(member_id__in=left).values_list("pk", flat=True)
        )
    tiers_evaluate(account_ids=account_ids, trigger=Reason.ORDER)


def _context() -> dict:
    return {
        "tiers": list(Tier.objects.order_by("rank")),
        "grace_days": Programme.current().downgrade_grace_days,
    }


def _evaluate(
    scope: Q,
    *,
    trigger: str,
    at: datetime,
    actor_id: int | None,
    tiers: Sequence[Tier],
    grace_days: int,
) -> int:
    if not tiers:
        return 0
    with transaction.atomic():
        # Lock first, read after: READ COMMITTED gives the read a fresh snapshot that holds
        # whatever a concurrent evaluation of these accounts committed while we waited.
        list(
            PointsAccount.objects.select_for_update()
            .filter(scope)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        rows = (
            PointsAccount.objects.filter(scope)
            .annotate(spend_now=spend_12m(at))
            .values_list(
                "pk", "member_id", "tier_id", "downgrade_due_at", "spend_12m_twd", "spend_now"
            )
        )
        updates: list[tuple] = []
        changes: list[TierChange] = []
        moved_members: list[int] = []
        for pk, member_id, tier_id, due, spend_kept, spend in rows:
            step = tier_decide(
                tier_id=tier_id,
                downgrade_due_at=due,
                spend_twd=spend,
                tiers=tiers,
                grace_days=grace_days,
                now=at,
                trigger=trigger,
            )
            moved = step.tier_id != tier_id
            if not moved and step.downgrade_due_at == due and spend == spend_kept:
                continue
            updates.append((pk, step.tier_id, step.downgrade_due_at, spend, moved))
            if moved:
                moved_members.append(member_id)
                changes.append(
                    TierChange(
                        account_id=pk,
                        from_tier_id=tier_id,
                        to_tier_id=step.tier_id,
                        reason=step.reason or trigger,
                        spend_12m_twd=spend,
                        actor_id=actor_id,
                        at=at,
                    )
                )
        _accounts_write(updates, at=at)
        TierChange.objects.bulk_create(changes, batch_size=2_000)
        # The wallet cards show the tier: marked changed with the move (the push job coalesces).
        wallet_passes_touch(member_ids=moved_members, now=at)
        return len(changes)


def _accounts_write(updates: list[tuple], *, at: datetime) -> None:
    """One UPDATE per batch on PostgreSQL (unnest of arrays); bulk_update on SQLite."""
    if not updates:
        return
    if connection.vendor == "postgresql":
        ids, tier_ids, dues, spends, moved = (list(column) for column in zip(*updates, strict=True))
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE loyalty_pointsaccount AS a SET tier_id = v.tier_id, "
                "downgrade_due_at = v.due, spend_12m_twd = v.spend, spend_12m_at = %s, "
                "tier_since = CASE WHEN v.moved THEN %s ELSE a.tier_since END, updated_at = %s "
                "FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[], %s::int[], "
                "%s::bool[]) AS v(id, tier_id, due, spend, moved) WHERE a.id = v.id",
                [at, at, at, ids, tier_ids, dues, spends, moved],
            )
        return
    accounts = []
    for pk, tier_id, due, spend, moved in updates:
        account = PointsAccount(
            pk=pk,
            tier_id=tier_id,
            downgrade_due_at=due,
            spend_12m_twd=spend,
            spend_12m_at=at,
            updated_at=at,
        )
        account.tier_since = at if moved else None
        accounts.append(account)
    fields = ["tier_id", "downgrade_due_at", "spend_12m_twd", "spend_12m_at", "updated_at"]
    PointsAccount.objects.bulk_update(accounts, fields, batch_size=500)
    moved_ids = [pk for pk, _tier, _due, _spend, moved in updates if moved]
    for chunk in chunked(moved_ids, 500):
        PointsAccount.objects.filter(pk__in=chunk).update(tier_since=at)


@dataclass(frozen=True)
class TierIn:
    """A tier as the tiers page submits it (pk None: a new one)."""

    pk: int | None
    name: str
    threshold_twd: int
    earn_multiplier: Decimal
    colour: str


INLINE_REEVALUATION_MAX = 2_000  # accounts re-evaluated in the request; more go to a task
# Ranks, thresholds and names no tier has, while the rows are renumbered.
PARKED_RANK, PARKED_THRESHOLD = 20_000, 2_000_000_000


def tiers_save(
    *,
    tiers: Sequence[TierIn],
    removed: Sequence[int],
    grace_days: int,
    actor_id: int | None,
) -> str:
    """Write the tiers (ranks follow thresholds), remove `removed`, set the grace days, then
    re-evaluate every account (reason "rules"): in this request for a small programme, else in
    a background task after the commit. The caller (the page's form) has checked that one tier
    starts at 0, names and thresholds are unique and the removed ones were never held.
    Returns "done" or "queued"."""
    with transaction.atomic():
        # Two marketers saving at once: the second waits, then writes over the first.
        kept = set(
            Tier.objects.select_for_update()
            .filter(pk__in=[t.pk for t in tiers if t.pk])
            .values_list("pk", flat=True)
        )
        Tier.objects.filter(pk__in=removed).delete()
        # Park the kept rows out of the unique ranks, thresholds and names, so that two tiers
        # may swap any of them in one save.
        for number, pk in enumerate(sorted(kept)):
            Tier.objects.filter(pk=pk).update(
                rank=PARKED_RANK + number,
                threshold_twd=PARKED_THRESHOLD + number,
                name=f"\u2060{pk}",
            )
        for rank, wanted in enumerate(sorted(tiers, key=lambda t: t.threshold_twd)):
            fields = {
                "name": wanted.name,
                "rank": rank,
                "threshold_twd": wanted.threshold_twd,
                "earn_multiplier": wanted.earn_multiplier,
                "colour": wanted.colour,
            }
            if wanted.pk in kept:
                Tier.objects.filter(pk=wanted.pk).update(**fields)
            else:
                Tier.objects.create(**fields)
        Programme.current()
        Programme.objects.filter(pk=1).update(
            downgrade_grace_days=grace_days, updated_by_id=actor_id, updated_at=timezone.now()
        )
        if PointsAccount.objects.count() <= INLINE_REEVALUATION_MAX:
            tiers_evaluate_all(trigger=Reason.RULES, actor_id=actor_id)
            return "done"
        from loyalty.tasks import tiers_rules_task  # the tasks module imports this one

        transaction.on_commit(lambda: tiers_rules_task.delay(actor_id))
        return "queued"
