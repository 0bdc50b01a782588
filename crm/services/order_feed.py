"""The order-change feed: how loyalty, campaigns and KPI rollups learn that orders changed.

Writers. Every service that changes orders writes one `OrderChange` row per order changed, set
wise (one INSERT … SELECT per batch, never a row per query) and in the same transaction as the
change itself, so the feed and the orders can never disagree:

    created / changed / member_assigned   crm.services.orders.orders_upsert (imports, the API's
                                          order_record and return_record, the demo)
    returned                              a sale whose returns now cover it (orders_upsert)
    member_moved                          members_merge, member_unmerge, member_forget (erasure:
                                          the new member is null)

A row holds what the order is after the change (member, amount, status) and, for a move or an
assignment, the member it had before; for a change that moved the order's placed_at (only
orders_upsert changes it), the placed_at it had before (old_placed_at, null otherwise).
Linking a return to its sale is not a change: the return was fed when it was written, and the
sale when its returns covered it.

Readers. A consumer (say "loyalty.earn") calls `order_changes_consume(consumer=…, handler=…)`.
The handler gets the next batch of changes in feed order and writes its effects; the handler's
writes and the advance of the consumer's cursor commit in ONE transaction, with the cursor row
locked, so a second worker of the same consumer skips the batch instead of doing it twice, and a
crash rolls back both the effects and the advance. The contract for a handler:

- Be idempotent by a unique row per effect (e.g. a ledger entry unique on (order, kind of
  entry)) and write with ignore_conflicts / ON CONFLICT DO NOTHING: the transaction makes a
  replay unlikely, the unique row makes it harmless (a consumer reset, a restored backup).
- Do not call services that commit on their own or send anything; send with on_commit.
- Read the order's current state from the row (member, amount, status), not from `orders`:
  a later row for the same order follows. Nobody scans the orders table.
- An order moved to another member (member_moved) carries old_member: move what you gave the
  old one (points, conversions) or reverse it; member null means the person was erased.
- An order placed at another time carries old_placed_at: a consumer that buckets orders by
  day or month (the KPI rollups) recomputes the old bucket as well as the new one.

The race a reader must not lose (PostgreSQL). Ids come from a sequence when a row is written, but
become visible when the writing transaction commits: a transaction that took id 10 may commit
after one that took id 11. A reader that saw 11 and remembered "after 11" would skip 10 forever.
So each row records its writer's transaction id (`pg_current_xact_id()`, a 64-bit xid8 that
never wraps, as the column's default), and a consumer reads in intervals between two snapshots
of which transactions had committed (`pg_current_snapshot()`, the way PgQ reads its queues):
an interval holds the rows whose writer is visible in the `high` snapshot and was not in the
`low` one. A row of a transaction still running at `high` belongs to a later interval, however
small its id, so none is skipped; and nobody waits for unrelated long transactions elsewhere in
the cluster (a plain "xid below the oldest running transaction" horizon would stall every
consumer behind any idle-in-transaction session). Within an interval rows go in id order:
two changes of one order are ordered by the order's row lock (the feed row is written after
it is taken), so a later change of an order always has a larger id and a later or equal
interval. SQLite has one writer at a time, so ids commit in order there: plain ids suffice.
"""

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from django.db import connection, transaction

from crm.bulk import CASE_CHUNK, chunked, uses_copy
from crm.models import OrderChange, OrderChangeCursor
from crm.selectors import order_changes_between, order_feed_snapshot
from crm.signals import order_changes_announce

DEFAULT_BATCH_SIZE = 1_000
FEED_COLUMNS = "order_id, member_id, old_member_id, kind, amount_twd, status, at"
_KEEP = object()

OrderChangeHandler = Callable[[list[OrderChange]], None]


def order_changes_record(
    *,
    order_ids: Sequence[int],
    kind: str,
    at: datetime,
    member_id: int | object | None = _KEEP,
) -> int:
    """Feed one `kind` row for each of these orders, as they are now. With `member_id`, call
    it BEFORE moving the orders to that member: the row has it as the member and the order's
    present member as old_member. Returns rows written.

    On PostgreSQL the orders are locked first (in id order), so a concurrent change of one of
    them commits wholly before or after this one and its feed row has the smaller or the
    larger id accordingly."""
    if not order_ids:
        return 0
    moving = member_id is not _KEEP
    member = "%s" if moving else "member_id"
    old = "member_id" if moving else "NULL"
    written = 0
    with connection.cursor() as cursor:
        for chunk in chunked(sorted(set(order_ids)), 50_000 if uses_copy() else CASE_CHUNK):
            if uses_copy():
                where, ids = "id = ANY(%s::bigint[])", [list(chunk)]
                lock = " ORDER BY id FOR UPDATE"
            else:
                where, ids = f"id IN ({', '.join(['%s'] * len(chunk))})", list(chunk)
                lock = ""
            cursor.execute(
                f"INSERT INTO crm_orderchange ({FEED_COLUMNS}) "  # noqa: S608
                f"SELECT id, {member}, {old}, %s, amount_twd, status, %s FROM crm_order "
                f"WHERE {where}{lock}",
                [
                    *([member_id] if moving else []),
                    kind,
                    connection.ops.adapt_datetimefield_value(at),
                    *ids,
                ],
            )
            written += cursor.rowcount
    if written:
        order_changes_announce()
    return written


def order_changes_record_moves(*, moves: Mapping[int, int | None], at: datetime) -> int:
    """Feed a member_moved row for every order of each old member of `moves` (old → new, new
    None for an erasure). Call it BEFORE the orders move; the orders are locked as in
    order_changes_record. Returns rows written."""
    if not moves:
        return 0
    written = _moves_insert(moves=moves, at=at)
    if written:
        order_changes_announce()
    return written


def _moves_insert(*, moves: Mapping[int, int | None], at: datetime) -> int:
    kind = OrderChange.Kind.MEMBER_MOVED.value
    stamp = connection.ops.adapt_datetimefield_value(at)
    with connection.cursor() as cursor:
        if uses_copy():
            cursor.execute(
                f"INSERT INTO crm_orderchange ({FEED_COLUMNS}) "  # noqa: S608
                "SELECT o.id, m.new, o.member_id, %s, o.amount_twd, o.status, %s "
                "FROM crm_order o JOIN unnest(%s::bigint[], %s::bigint[]) AS m(old, new) "
                "ON o.member_id = m.old ORDER BY o.id FOR UPDATE OF o",
                [kind, stamp, list(moves), list(moves.values())],
            )
            return cursor.rowcount
        written = 0
        for chunk in chunked(list(moves.items()), CASE_CHUNK):
            cases = " ".join("WHEN %s THEN %s" for _ in chunk)
            olds = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"INSERT INTO crm_orderchange ({FEED_COLUMNS}) "  # noqa: S608
                f"SELECT id, CASE member_id {cases} END, member_id, %s, amount_twd, status, %s "
                f"FROM crm_order WHERE member_id IN ({olds})",
                [*(v for pair in chunk for v in pair), kind, stamp, *(old for old, _ in chunk)],
            )
            written += cursor.rowcount
        return written


def order_changes_consume(
    *, consumer: str, handler: OrderChangeHandler, batch_size: int = DEFAULT_BATCH_SIZE
) -> int:
    """Hand the consumer's next batch of order changes to `handler` and advance its cursor,
    both in one transaction. Returns how many changes were handled: 0 when there is nothing
    new, or when another worker of the same consumer holds the cursor right now (it is
    handling that batch). Whatever the handler raises rolls back its writes and the advance,
    and is raised again: the same batch comes back next time."""
    # Create the cursor in its own statement so two first workers cannot both insert it.
    OrderChangeCursor.objects.bulk_create(
        [OrderChangeCursor(consumer=consumer)], ignore_conflicts=True
    )
    with transaction.atomic():
        # Two workers of one consumer: the second skips the locked cursor rather than
        # handling the same batch (SQLite serialises writers; there it waits).
        cursor = (
            OrderChangeCursor.objects.select_for_update(skip_locked=True)
            .filter(consumer=consumer)
            .first()
        )
        if cursor is None:
            return 0
        if connection.vendor == "postgresql" and not cursor.high_snapshot:
            cursor.high_snapshot = order_feed_snapshot()
        changes = _next(cursor, batch_size)
        if not changes and connection.vendor == "postgresql":
            # This interval is done: the next one ends at what has committed by now.
            cursor.low_snapshot, cursor.high_snapshot = cursor.high_snapshot, order_feed_snapshot()
            cursor.last_id = 0
            changes = _next(cursor, batch_size)
        if changes:
            handler(changes)
            cursor.last_id = changes[-1].pk
        cursor.save(update_fields=["low_snapshot", "high_snapshot", "last_id", "updated_at"])
        return len(changes)


def order_changes_drain(
    *,
    consumer: str,
    handler: OrderChangeHandler,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int | None = None,
) -> int:
    """order_changes_consume, a batch (one transaction) at a time, until nothing new is left
    (or `max_batches`). Returns the changes handled."""
    handled = batches = 0
    while max_batches is None or batches < max_batches:
        n = order_changes_consume(consumer=consumer, handler=handler, batch_size=batch_size)
        if not n:
            break
        handled += n
        batches += 1
    return handled


def _next(cursor: OrderChangeCursor, batch_size: int) -> list[OrderChange]:
    return order_changes_between(
        low=cursor.low_snapshot,
        high=cursor.high_snapshot,
        after_id=cursor.last_id,
        limit=batch_size,
    )


def order_changes_skip(*, consumer: str) -> None:
    """Move the consumer's cursor past every change committed by now, for a consumer that has
    just recomputed its effects from the orders themselves (a KPI rebuild): the changes
    committed later are still handed to it. Call it before that recompute, so a change
    committed during the recompute is handed over again rather than lost (a consumer's
    handler recomputes, so seeing it twice is harmless)."""
    OrderChangeCursor.objects.bulk_create(
        [OrderChangeCursor(consumer=consumer)], ignore_conflicts=True
    )
    with transaction.atomic():
        cursor = OrderChangeCursor.objects.select_for_update().get(consumer=consumer)
        if connection.vendor == "postgresql":
            cursor.low_snapshot = cursor.high_snapshot = order_feed_snapshot()
            cursor.last_id = 0
        else:
            last = OrderChange.objects.order_by("-id").values_list("id", flat=True).first()
            cursor.last_id = last or 0
        cursor.save(update_fields=["low_snapshot", "high_snapshot", "last_id", "updated_at"])
