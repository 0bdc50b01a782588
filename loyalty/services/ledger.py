"""The one way points move: append entries to the ledger and move the balances with them.

Every verb of loyalty (earning from orders, reversing returns, redeeming at the till or for a
reward, expiring, adjusting by hand, moving points in a merge) builds `Entry` values and calls
`entries_post`. It is set-wise: the earning consumer posts a thousand orders' points in a few
statements, the till posts one entry the same way.

What keeps the ledger right:
- `accounts_lock` takes the accounts' rows FOR UPDATE, in id order (no deadlock between two
  posts that touch the same accounts). THE RACE IT CLOSES: two redemptions of the same member
  arrive at once; each reads balance 100 and checks "100 ≥ 80"; both append −80; the balance
  ends at −60, i.e. the member spent 160 points they never had. Under the row lock the second
  post reads the balance the first one committed (READ COMMITTED re-reads a locked row after
  the wait), its check fails, and it raises InsufficientPoints.
- Should a caller ever post without the lock, the database still refuses the overspend: entries
  are numbered per account (`seq`, unique with the account), so two writers that read the same
  account state collide on the same seq; and the balance and each `balance_after` are checked
  ≥ 0.
- Every entry has a unique idempotency key: a key posted already is skipped (not an error), so
  a retried task, a replayed feed batch or a re-imported file posts nothing twice.
"""

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime

from django.db import connection, transaction
from django.db.models import Case, DateTimeField, F, IntegerField, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.bulk import chunked
from loyalty.models import PointsAccount, PointsTransaction
from loyalty.services.wallet import wallet_passes_touch

KEY_CHUNK = 5_000  # idempotency keys looked up per query (SQLite: one parameter each)


def where_in(queryset, column: str, values: Sequence, *, cast: str):
    """`queryset` filtered to rows whose `column` is one of `values`. On PostgreSQL one array
    parameter (`= ANY(%s)`): an IN list of thousands of parameters costs psycopg more time to
    adapt than the database takes to answer (it was a fifth of the earning consumer's time).
    Elsewhere the plain IN; callers chunk by KEY_CHUNK there."""
    if connection.vendor == "postgresql":
        table = queryset.model._meta.db_table
        return queryset.extra(  # noqa: S610 (constants only are formatted in; values are a param)
            where=[f'"{table}"."{column}" = ANY(%s::{cast}[])'], params=[list(values)]
        )
    return queryset.filter(**{f"{column}__in": values})


def chunks(values: Sequence, size: int = KEY_CHUNK):
    """The chunks a lookup of `values` goes in: one on PostgreSQL (an array parameter)."""
    if connection.vendor == "postgresql":
        return [values] if values else []
    return chunked(values, size)


class InsufficientPoints(Exception):
    """A debit larger than the account's balance (or its points not held for other sales)."""

    def __init__(self, *, account_id: int, balance: int, wanted: int):
        self.account_id = account_id
        self.balance = balance
        self.wanted = wanted
        super().__init__(
            _("Not enough points: %(balance)s available, %(wanted)s asked for.")
            % {"balance": balance, "wanted": wanted}
        )


@dataclass(frozen=True)
class Entry:
    """One ledger entry to post. `points` is signed: + credits the account, − debits it."""

    account_id: int
    kind: str  # PointsTransaction.Kind
    points: int
    idempotency_key: str
    source: str  # PointsTransaction.Source
    expires_on: date | None = None  # credits only: the day their remainder expires
    order_id: int | None = None
    order_no: str = ""
    reward_id: int | None = None
    coupon_id: int | None = None
    hold_id: int | None = None
    counterpart_id: int | None = None
    reason: str = ""
    actor_id: int | None = None
    at: datetime | None = None  # default: now


# The model's defaults (balance, entries, 12-month spend 0; no tier), written in SQL.
ACCOUNTS_ENSURE_PG = """
INSERT INTO loyalty_pointsaccount (member_id, balance, entries, spend_12m_twd, created_at,
                                   updated_at)
SELECT m, 0, 0, 0, %s, %s FROM unnest(%s::bigint[]) AS m ORDER BY m
ON CONFLICT (member_id) DO NOTHING
"""
ACCOUNTS_OF_MEMBERS_PG = (
    "SELECT member_id, id FROM loyalty_pointsaccount WHERE member_id = ANY(%s::bigint[])"
)


def accounts_ensure(*, member_ids: Iterable[int]) -> dict[int, int]:
    """The points account of each member, created where missing: {member_id: account_id}.
    Two statements per chunk, whatever the number of members (an import's batch)."""
    wanted = sorted(set(member_ids))
    found: dict[int, int] = {}
    if connection.vendor == "postgresql" and wanted:
        # One INSERT … ON CONFLICT and one SELECT for all: bulk_create builds a model per new
        # member, which at an import's pace (thousands of new members a second) adds up.
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(ACCOUNTS_ENSURE_PG, [now, now, wanted])
            cursor.execute(ACCOUNTS_OF_MEMBERS_PG, [wanted])
            found.update(cursor.fetchall())
        return found
    for chunk in chunked(wanted, KEY_CHUNK):
        PointsAccount.objects.bulk_create(
            [PointsAccount(member_id=member_id) for member_id in chunk], ignore_conflicts=True
        )
        found.update(
            where_in(PointsAccount.objects, "member_id", chunk, cast="bigint").values_list(
                "member_id", "pk"
            )
        )
    return found


def accounts_lock(account_ids: Iterable[int]) -> dict[int, PointsAccount]:
    """Lock these accounts for the caller's transaction (see the race in the module docstring)
    and return them as they are now, by id. Must be called inside transaction.atomic()."""
    ids = sorted(set(account_ids))
    locked: dict[int, PointsAccount] = {}
    for chunk in chunks(ids):
        accounts = where_in(
            PointsAccount.objects.select_for_update(), "id", chunk, cast="bigint"
        ).order_by("pk")
        locked.update((account.pk, account) for account in accounts)
    return locked


def keys_posted(keys: Iterable[str]) -> set[str]:
    """Which of these idempotency keys the ledger holds already."""
    wanted = list(set(keys))
    posted: set[str] = set()
    for chunk in chunks(wanted):
        posted.update(
            where_in(PointsTransaction.objects, "idempotency_key", chunk, cast="text").values_list(
                "idempotency_key", flat=True
            )
        )
    return posted


def entries_post(
    *,
    entries: Sequence[Entry],
    clamp_debits: bool = False,
    locked: Mapping[int, PointsAccount] | None = None,
) -> list[PointsTransaction]:
    """Append these entries (in the order given per account) and move the balances, atomically.

    Entries whose idempotency key is posted already (or repeated in `entries`) are skipped. A
    debit larger than the balance raises InsufficientPoints and nothing is posted, unless
    `clamp_debits`: then it takes what the balance holds (a return reversing points the member
    has spent; the entry's reason says so) and a debit cut to nothing is dropped.
    `locked`: the accounts, when the caller holds their locks already (accounts_lock in the
    same transaction) and has checked what it needed against them.
    Returns the entries written, with ids.
    """
    with transaction.atomic():
        fresh = _fresh(entries)
        if not fresh:
            return []
        accounts = dict(locked) if locked is not None else {}
        missing = {entry.account_id for entry in fresh} - accounts.keys()
        if missing:
            accounts.update(accounts_lock(missing))
        # A key might have been posted between _fresh and the lock by a writer we waited for.
        if locked is None:
            fresh = _fresh(fresh)
        now = timezone.now()
        balance = {pk: account.balance for pk, account in accounts.items()}
        seq = {pk: account.entries for pk, account in accounts.items()}
        rows = []
        for entry in fresh:
            if entry.account_id not in accounts:
                raise PointsAccount.DoesNotExist(f"points account {entry.account_id}")
            points = entry.points
            have = balance[entry.account_id]
            if points < 0 and have + points < 0:
                if not clamp_debits:
                    raise InsufficientPoints(
                        account_id=entry.account_id, balance=have, wanted=-points
                    )
                entry = replace(
                    entry,
                    points=-have,
                    reason=_clamped_reason(entry.reason, wanted=-points, taken=have),
                )
                points = -have
            if points == 0:
                continue
            balance[entry.account_id] = have + points
            seq[entry.account_id] += 1
            rows.append(_row(entry, seq=seq[entry.account_id], after=have + points, now=now))
        if not rows:
            return []
        written = _rows_insert(rows)
        _accounts_move(rows, now=now)
        # The members' wallet cards show the balance: marked changed in this transaction, one
        # UPDATE for the whole post (the push job coalesces; five entries are one push).
        wallet_passes_touch(
            member_ids={accounts[row.account_id].member_id for row in rows}, now=now
        )
        return written


# PostgreSQL: the entries in one INSERT … SELECT FROM unnest(one array a column), ids
# returned in the arrays' order. bulk_create spends ~0.3 ms a row preparing 17 values per row in
# Python, which at the earning consumer's pace was a third of its time.
ENTRY_COLUMNS = (
    ("account_id", "bigint"),
    ("seq", "integer"),
    ("kind", "text"),
    ("points", "integer"),
    ("balance_after", "integer"),
    ("expires_on", "date"),
    ("order_id", "bigint"),
    ("order_no", "text"),
    ("reward_id", "bigint"),
    ("coupon_id", "bigint"),
    ("hold_id", "bigint"),
    ("counterpart_id", "bigint"),
    ("reason", "text"),
    ("source", "text"),
    ("actor_id", "bigint"),
    ("at", "timestamptz"),
    ("idempotency_key", "text"),
)
ENTRIES_INSERT_PG = (  # noqa: S608  (constants only are formatted in)
    "INSERT INTO loyalty_pointstransaction ({columns}) "
    "SELECT {columns} FROM unnest({arrays}) WITH ORDINALITY AS e({columns}, n) ORDER BY n "
    "RETURNING id"
).format(
    columns=", ".join(column for column, _ in ENTRY_COLUMNS),
    arrays=", ".join(f"%s::{kind}[]" for _, kind in ENTRY_COLUMNS),
)


@contextmanager
def _binding_cursor():
    """A cursor of Django's connection (same transaction) that sends parameters apart from the
    SQL. Django's psycopg cursors bind on the client: the arrays of the two statements below are
    quoted into the SQL text in Python, value by value (a tenth of the earning consumer's time);
    sent as parameters they are dumped by psycopg's C adapters. Errors come out as Django's
    (IntegrityError on a seq taken), and the statements are logged where Django logs its own
    (DEBUG, or a test capturing queries), so statement counts stay honest."""
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield _LoggedCursor(cursor)


class _LoggedCursor:
    def __init__(self, cursor):
        self._cursor = cursor

    def execute(self, sql: str, params) -> None:
        started = time.monotonic()
        self._cursor.execute(sql, params)
        if connection.queries_logged:
            connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})

    def fetchall(self):
        return self._cursor.fetchall()


def _rows_insert(rows: list[PointsTransaction]) -> list[PointsTransaction]:
    if connection.vendor != "postgresql":
        return PointsTransaction.objects.bulk_create(rows, batch_size=2_000)
    with _binding_cursor() as cursor:
        for start in range(0, len(rows), 10_000):
            chunk = rows[start : start + 10_000]
            cursor.execute(
                ENTRIES_INSERT_PG,
                [[getattr(row, column) for row in chunk] for column, _ in ENTRY_COLUMNS],
            )
            for row, (pk,) in zip(chunk, cursor.fetchall(), strict=True):
                row.pk = pk
                row._state.adding = False
    return rows


def _fresh(entries: Sequence[Entry]) -> list[Entry]:
    posted = keys_posted(entry.idempotency_key for entry in entries)
    fresh, seen = [], set()
    for entry in entries:
        key = entry.idempotency_key
        if key in posted or key in seen:
            continue
        seen.add(key)
        fresh.append(entry)
    return fresh


def _clamped_reason(reason: str, *, wanted: int, taken: int) -> str:
    note = str(
        _("%(wanted)s points due, %(taken)s left to take") % {"wanted": wanted, "taken": taken}
    )
    return f"{reason} ({note})"[:200] if reason else note[:200]


def _row(entry: Entry, *, seq: int, after: int, now: datetime) -> PointsTransaction:
    return PointsTransaction(
        account_id=entry.account_id,
        seq=seq,
        kind=entry.kind,
        points=entry.points,
        balance_after=after,
        expires_on=entry.expires_on if entry.points > 0 else None,
        order_id=entry.order_id,
        order_no=entry.order_no,
        reward_id=entry.reward_id,
        coupon_id=entry.coupon_id,
        hold_id=entry.hold_id,
        counterpart_id=entry.counterpart_id,
        reason=entry.reason[:200],
        source=entry.source,
        actor_id=entry.actor_id,
        at=entry.at or now,
        idempotency_key=entry.idempotency_key,
    )


def _accounts_move(rows: Sequence[PointsTransaction], *, now: datetime) -> None:
    """One UPDATE per chunk of accounts: the balance moves by the entries' sum, the entry count
    by their number, and the last earn / redeem times follow."""
    delta: dict[int, int] = defaultdict(int)
    count: dict[int, int] = defaultdict(int)
    earned: dict[int, datetime] = {}
    redeemed: dict[int, datetime] = {}
    for row in rows:
        delta[row.account_id] += row.points
        count[row.account_id] += 1
        if row.kind == PointsTransaction.Kind.EARN:
            earned[row.account_id] = max(row.at, earned.get(row.account_id, row.at))
        elif row.kind == PointsTransaction.Kind.REDEEM:
            redeemed[row.account_id] = max(row.at, redeemed.get(row.account_id, row.at))
    if connection.vendor == "postgresql":
        _accounts_move_pg(delta, count, earned, redeemed, now=now)
        return
    for chunk in chunked(sorted(delta), 500):
        changes = {
            "balance": F("balance") + _by_pk({pk: delta[pk] for pk in chunk}),
            "entries": F("entries") + _by_pk({pk: count[pk] for pk in chunk}),
            "updated_at": now,
        }
        for field, times in (("last_earned_at", earned), ("last_redeemed_at", redeemed)):
            if moved := {pk: times[pk] for pk in chunk if pk in times}:
                # The later of the time kept and this post's newest entry of the kind.
                newest = Case(
                    *(When(pk=pk, then=Value(at)) for pk, at in moved.items()),
                    default=F(field),
                    output_field=DateTimeField(),
                )
                changes[field] = Greatest(Coalesce(F(field), newest), newest)
        PointsAccount.objects.filter(pk__in=chunk).update(**changes)


# PostgreSQL: one UPDATE … FROM unnest(arrays) for the whole post. The portable path below
# builds CASE expressions of one WHEN per account, which Django takes ~1 ms per account to
# compile: at an import's pace (the earning consumer posts thousands of accounts a second)
# that was two thirds of the consumer's time. GREATEST ignores NULLs, so a time kept and a
# time of this post give the later one, and either alone gives itself.
ACCOUNTS_MOVE_PG = """
UPDATE loyalty_pointsaccount AS a
SET balance = a.balance + d.delta,
    entries = a.entries + d.n,
    updated_at = %s,
    last_earned_at = GREATEST(a.last_earned_at, d.earned),
    last_redeemed_at = GREATEST(a.last_redeemed_at, d.redeemed)
FROM unnest(%s::bigint[], %s::integer[], %s::integer[], %s::timestamptz[], %s::timestamptz[])
     AS d(id, delta, n, earned, redeemed)
WHERE a.id = d.id
"""


def _accounts_move_pg(delta, count, earned, redeemed, *, now: datetime) -> None:
    ids = sorted(delta)
    with _binding_cursor() as cursor:
        cursor.execute(
            ACCOUNTS_MOVE_PG,
            [
                now,
                ids,
                [delta[pk] for pk in ids],
                [count[pk] for pk in ids],
                [earned.get(pk) for pk in ids],
                [redeemed.get(pk) for pk in ids],
            ],
        )


def _by_pk(values: Mapping[int, int]) -> Case:
    return Case(
        *(When(pk=pk, then=Value(value)) for pk, value in values.items()),
        default=Value(0),
        output_field=IntegerField(),
    )
