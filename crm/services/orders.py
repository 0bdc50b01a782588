"""Orders from the brand's systems, written a batch at a time and idempotent.

An order is unique per (channel, external number): importing the same file again changes
nothing, and a changed status updates the order. A POS return is its own row (negative amount)
naming its sale; the link is made whichever of the two arrives first. A sale whose returns cover
its whole amount is marked returned with its returns; a partial return stays placed with its
negative amount, so the sum of placed orders is always the net revenue.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import F, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from crm.bulk import CASE_CHUNK, case_by_pk, chunked, rows_copy, uses_copy
from crm.models import Order, OrderChange, Store
from crm.services.order_feed import FEED_COLUMNS, order_changes_record
from crm.services.stats import member_stats_refresh
from crm.signals import order_changes_announce

LOOKUP_CHUNK = 5_000


@dataclass(frozen=True)
class OrderIn:
    channel: str
    external_no: str
    amount_twd: int
    placed_at: datetime
    status: str
    store_code: str = ""
    store_name: str = ""
    is_return: bool = False
    returns_external_no: str = ""


@dataclass
class OrdersWritten:
    written: int
    returns_linked: int
    # The members whose figures these orders change: theirs, and those of sales a return reversed.
    members: set[int] = field(default_factory=set)


def stores_ensure(*, stores: dict[str, str]) -> dict[str, int]:
    """Store ids by code, creating the stores a file names for the first time."""
    if not stores:
        return {}
    Store.objects.bulk_create(
        [Store(code=code, name=name or code) for code, name in stores.items()],
        ignore_conflicts=True,
    )
    return dict(Store.objects.filter(code__in=stores).values_list("code", "pk"))


ORDER_COLUMNS = (
    "member_id",
    "channel",
    "store_id",
    "external_no",
    "amount_twd",
    "placed_at",
    "status",
    "returns_external_no",
    "created_at",
    "updated_at",
)
# A store sale's "returned" is derived from its returns, never sent by the POS: a re-import of
# the sale row keeps it. An order first seen anonymously gets the member a later row names.
UPSERT_CONFLICT = """
ON CONFLICT (channel, external_no) DO UPDATE SET
    member_id = COALESCE(crm_order.member_id, EXCLUDED.member_id),
    store_id = EXCLUDED.store_id,
    amount_twd = EXCLUDED.amount_twd,
    placed_at = EXCLUDED.placed_at,
    status = CASE WHEN crm_order.channel = 'store' AND crm_order.status = 'returned'
                  THEN crm_order.status ELSE EXCLUDED.status END,
    returns_external_no = CASE WHEN EXCLUDED.returns_external_no = ''
                               THEN crm_order.returns_external_no
                               ELSE EXCLUDED.returns_external_no END,
    returns_order_id = CASE WHEN EXCLUDED.returns_external_no IN ('', crm_order.returns_external_no)
                            THEN crm_order.returns_order_id END,
    updated_at = EXCLUDED.updated_at
WHERE (crm_order.member_id IS NULL AND EXCLUDED.member_id IS NOT NULL)
   OR crm_order.store_id IS DISTINCT FROM EXCLUDED.store_id
   OR crm_order.amount_twd <> EXCLUDED.amount_twd
   OR crm_order.placed_at <> EXCLUDED.placed_at
   OR (crm_order.status <> EXCLUDED.status
       AND NOT (crm_order.channel = 'store' AND crm_order.status = 'returned'))
   OR EXCLUDED.returns_external_no NOT IN ('', crm_order.returns_external_no)
RETURNING id, returns_external_no, returns_order_id, created_at <> updated_at AS updated,
          member_id, amount_twd, status, placed_at
"""
STAGING_TABLE = "crm_order_staging"
# PostgreSQL: the upsert and its feed rows in one statement. `before` reads, for the orders the
# upsert changed (not those it inserted), the member and placed_at they had: every part of a
# statement reads the same snapshot, so crm_order there is as it was before `up`, and the join
# is by primary key on changed rows only (a join of the staging table with crm_order on the
# order number was planned as a hash join over every order, a whole-table scan per batch).
_FEED_KIND = f"""CASE WHEN NOT up.updated THEN '{OrderChange.Kind.CREATED.value}'
    WHEN before.member_id IS NULL AND up.member_id IS NOT NULL
    THEN '{OrderChange.Kind.MEMBER_ASSIGNED.value}'
    ELSE '{OrderChange.Kind.CHANGED.value}' END"""
UPSERT_WITH_FEED = f"""
WITH up AS (
    INSERT INTO crm_order ({{columns}}) SELECT {{columns}} FROM {STAGING_TABLE} {UPSERT_CONFLICT}
), before AS (
    SELECT o.id, o.member_id, o.placed_at
    FROM up JOIN crm_order o ON o.id = up.id WHERE up.updated
), feed AS (
    INSERT INTO crm_orderchange ({FEED_COLUMNS}, old_placed_at)
    SELECT up.id, up.member_id, CASE WHEN up.updated THEN before.member_id END, {_FEED_KIND},
           up.amount_twd, up.status, %s,
           CASE WHEN up.updated AND before.placed_at <> up.placed_at THEN before.placed_at END
    FROM up LEFT JOIN before ON before.id = up.id
    ORDER BY up.id
)
SELECT id, returns_external_no, returns_order_id, updated, member_id FROM up
"""  # noqa: S608  (only constants are formatted in)
# What RETURNING gives for each order inserted or changed: id, the sale it names, the sale it
# is linked to, whether it was there before, its member.
Changed = tuple[int, str, int | None, bool, int | None]
SQLITE_ROWS_PER_INSERT = 500  # 10 values a row, under SQLite's limit of 32,766 parameters


@transaction.atomic
def orders_upsert(
    *,
    orders: Sequence[OrderIn],
    member_ids: Sequence[int | None],
    refresh_stats: bool = True,
) -> OrdersWritten:
    """Insert or update the orders of one batch (member_ids[i] is the member of orders[i]).

    An order already stored changes only where the new row differs; `written` counts the orders
    inserted or changed, so importing a file again writes 0. The members' figures are
    refreshed unless the caller (an import) refreshes `members` of many batches at once.
    """
    store_ids = stores_ensure(stores={o.store_code: o.store_name for o in orders if o.store_code})
    now = timezone.now()
    # Within one batch the last row for an order number wins, as a later export would.
    latest: dict[tuple[str, str], tuple] = {}
    for order, member_id in zip(orders, member_ids, strict=True):
        latest[(order.channel, order.external_no)] = (
            member_id,
            order.channel,
            store_ids.get(order.store_code),
            order.external_no,
            order.amount_twd,
            order.placed_at,
            order.status,
            order.returns_external_no,
            now,
            now,
        )
    changed = _orders_write(list(latest.values()), at=now)
    if changed:
        order_changes_announce()  # the feed rows _orders_write wrote with them
    linked, sale_ids = _returns_link(changed=changed, at=now)
    touched = {member_id for member_id in member_ids if member_id is not None}
    # A changed order keeps the member it had even when this row names none.
    touched.update(row[4] for row in changed if row[4] is not None)
    # A return may belong to no member (or another) while the sale it reverses has one.
    for chunk in chunked(sorted(sale_ids), LOOKUP_CHUNK):
        touched.update(
            Order.objects.filter(pk__in=chunk)
            .exclude(member=None)
            .values_list("member_id", flat=True)
        )
    if refresh_stats and (changed or sale_ids):
        member_stats_refresh(member_ids=touched, at=now)
    return OrdersWritten(written=len(changed), returns_linked=linked, members=touched)


def _orders_write(rows: list[tuple], *, at: datetime) -> list[Changed]:
    """Upsert rows of ORDER_COLUMNS and feed a row for each order inserted or changed; a
    `Changed` tuple for each."""
    if not rows:
        return []
    columns = ", ".join(ORDER_COLUMNS)
    with connection.cursor() as cursor:
        if uses_copy():
            # COPY into a scratch table, then one INSERT … SELECT decides insert or update.
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {STAGING_TABLE} ON COMMIT DELETE ROWS "  # noqa: S608
                f"AS SELECT {columns} FROM crm_order WITH NO DATA"
            )
            cursor.execute(f"TRUNCATE {STAGING_TABLE}")
            rows_copy(STAGING_TABLE, ORDER_COLUMNS, rows)
            cursor.execute(
                UPSERT_WITH_FEED.format(columns=columns),
                [connection.ops.adapt_datetimefield_value(at)],
            )
            return cursor.fetchall()
        changed = []
        adapt = connection.ops.adapt_datetimefield_value
        for start in range(0, len(rows), SQLITE_ROWS_PER_INSERT):
            chunk = rows[start : start + SQLITE_ROWS_PER_INSERT]
            placeholders = ", ".join(
                ["(" + ", ".join(["%s"] * len(ORDER_COLUMNS)) + ")"] * len(chunk)
            )
            params = [
                adapt(value) if isinstance(value, datetime) else value
                for row in chunk
                for value in row
            ]
            before = _before(cursor, [(row[1], row[3]) for row in chunk])
            cursor.execute(
                f"INSERT INTO crm_order ({columns}) VALUES {placeholders} {UPSERT_CONFLICT}",  # noqa: S608
                params,
            )
            returned = cursor.fetchall()
            OrderChange.objects.bulk_create(
                OrderChange(
                    order_id=pk,
                    member_id=member_id,
                    old_member_id=before[pk][0] if updated else None,
                    kind=_feed_kind(
                        updated=updated, before=before.get(pk, (None,))[0], after=member_id
                    ),
                    amount_twd=amount,
                    status=status,
                    at=at,
                    old_placed_at=_moved_from(before[pk][1], placed_at) if updated else None,
                )
                for pk, _, _, updated, member_id, amount, status, placed_at in sorted(returned)
            )
            changed += [row[:5] for row in returned]
        return changed


def _before(cursor, keys: list[tuple[str, str]]) -> dict[int, tuple[int | None, datetime]]:
    """(SQLite) The member and placed_at of each stored order of these (channel, external_no)
    keys, by id."""
    pairs = ", ".join(["(%s, %s)"] * len(keys))
    cursor.execute(
        f"SELECT id, member_id, placed_at FROM crm_order "  # noqa: S608
        f"WHERE (channel, external_no) IN (VALUES {pairs})",
        [value for key in keys for value in key],
    )
    return {pk: (member_id, placed_at) for pk, member_id, placed_at in cursor.fetchall()}


def _moved_from(before: datetime | str, after: datetime | str) -> datetime | None:
    """(SQLite) The placed_at an order had before, if the upsert changed it (both as the
    database returned them, in UTC)."""
    if before == after:
        return None
    if isinstance(before, str):
        before = datetime.fromisoformat(before)
    return before if before.tzinfo else before.replace(tzinfo=UTC)


def _feed_kind(*, updated: bool, before: int | None, after: int | None) -> str:
    """The same decision as _FEED_KIND, for the SQLite path."""
    if not updated:
        return OrderChange.Kind.CREATED
    if before is None and after is not None:
        return OrderChange.Kind.MEMBER_ASSIGNED
    return OrderChange.Kind.CHANGED


def _returns_link(*, changed: list[Changed], at: datetime) -> tuple[int, set[int]]:
    """Link returns still waiting for their sale, then mark the sales they fully reverse.
    Returns how many were linked and the sales whose returns changed.

    Waiting returns are few (a partial index holds just them), so every batch looks at all of
    them: a return may arrive before its sale, in any earlier batch or file.
    """
    sale = Order.objects.filter(
        channel=OuterRef("channel"), external_no=OuterRef("returns_external_no")
    ).values("pk")[:1]
    links = dict(
        Order.objects.filter(returns_order__isnull=True)
        .exclude(returns_external_no="")
        .annotate(sale_id=Subquery(sale))
        .filter(sale_id__isnull=False)
        .values_list("pk", "sale_id")
    )
    for chunk in chunked(list(links.items()), CASE_CHUNK):
        Order.objects.filter(pk__in=[pk for pk, _ in chunk]).update(
            returns_order=case_by_pk(dict(chunk)), updated_at=at
        )
    # Sales whose returns may now cover them: just linked, linked to a changed return, or an
    # updated sale that already had returns (a new sale can have none but those just linked).
    sale_ids = set(links.values())
    sale_ids.update(sale for _, named, sale, _, _ in changed if named and sale)
    updated_sales = [pk for pk, named, _, updated, _ in changed if updated and not named]
    for chunk in chunked(updated_sales, LOOKUP_CHUNK):
        sale_ids.update(
            Order.objects.filter(returns_order_id__in=chunk).values_list(
                "returns_order_id", flat=True
            )
        )
    if not sale_ids:
        return len(links), sale_ids
    # Whole reversals leave revenue as both rows "returned"; a partial return stays "placed"
    # with its negative amount, so the sum of placed orders is the net revenue either way.
    fully_returned = list(
        Order.objects.filter(pk__in=sale_ids, returns_external_no="")
        .annotate(returned=Sum("returns__amount_twd"))
        .filter(amount_twd__lte=F("returned") * -1)
        .values_list("pk", flat=True)
    )
    newly_returned = list(
        Order.objects.filter(Q(pk__in=fully_returned) | Q(returns_order__in=fully_returned))
        .exclude(status=Order.Status.RETURNED)
        .values_list("pk", flat=True)
    )
    for chunk in chunked(newly_returned, LOOKUP_CHUNK):
        Order.objects.filter(pk__in=chunk).update(status=Order.Status.RETURNED, updated_at=at)
    order_changes_record(order_ids=newly_returned, kind=OrderChange.Kind.RETURNED, at=at)
    return len(links), sale_ids
