"""Bench: the nightly loyalty jobs over a million accounts — expiry, then the tier review.

    uv run python bench/loyalty_nightly.py [--accounts 1000000] [--database-url URL] [--keep]

1. The database (--database-url, default postgres://postgres@127.0.0.1:5432/
   omni_tiers_bench; its name must end in "_bench") is dropped, created and migrated. Written
   set-wise: --accounts members, one points account each, and their ledgers by COPY (three
   entries an account: a lot earned last year that expired by today in 3 accounts of 10, a lot
   expiring next season, a redemption), plus 1.5 orders a member over the last 12 months
   (INSERT … SELECT) so that spend spreads over the four tiers.
2. The nightly expiry (`points_expire`, today) — timed, twice: the second run must write
   nothing. Checked: balance == ledger sum for every account.
3. The nightly tier review (`tiers_evaluate_all`) — timed, twice: the first run gives every
   account its tier (a million tier changes: the worst night there is), the second writes
   nothing.
The reference is a plain `SELECT count(*)` over the ledger (the ratio: how many such scans
each job costs) and the goal "minutes, not hours" (issue 12).
"""

import argparse
import os
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_db import ROOT, copy_lines, drop_database, migrate, recreate_database

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/omni_tiers_bench"
LEDGER_COLUMNS = (
    "account_id",
    "seq",
    "kind",
    "points",
    "balance_after",
    "expires_on",
    "order_no",
    "reason",
    "source",
    "at",
    "idempotency_key",
)


def log(message: str = "") -> None:
    print(message, flush=True)


def _ledger(accounts: int, today: date, rng: random.Random):
    """Three entries an account; yields COPY lines and remembers nothing (balances are set
    from the ledger afterwards, in SQL)."""
    at = datetime.now(UTC).isoformat()
    stale = (today - timedelta(days=20)).isoformat()
    fresh = (today + timedelta(days=100)).isoformat()
    for account in range(1, accounts + 1):
        first = rng.randrange(50, 500)
        second = rng.randrange(10, 300)
        spent = rng.randrange(0, first)
        first_day = stale if account % 10 < 3 else fresh
        yield (
            f"{account}\t1\tearn\t{first}\t{first}\t{first_day}\t\t\torder\t{at}\te:{account}:1\n"
        )
        yield (
            f"{account}\t2\tearn\t{second}\t{first + second}\t{fresh}\t\t\torder\t{at}"
            f"\te:{account}:2\n"
        )
        if spent:
            yield (
                f"{account}\t3\tredeem\t{-spent}\t{first + second - spent}\t\\N\t\t\ttill"
                f"\t{at}\tr:{account}:3\n"
            )


def seed(url: str, accounts: int, today: date) -> None:
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        conn.execute(
            "INSERT INTO crm_member (id, member_no, name, gender, joined_at, "
            "acquisition_channel, status, attributes, created_at, updated_at) "
            "SELECT i, 'B' || lpad(i::text, 9, '0'), '', '', now(), 'store', 'active', '{}', "
            "now(), now() FROM generate_series(1, %s) i",
            [accounts],
        )
        conn.execute("SELECT setval(pg_get_serial_sequence('crm_member', 'id'), %s)", [accounts])
        conn.execute(
            "INSERT INTO loyalty_pointsaccount (id, member_id, balance, entries, spend_12m_twd, "
            "created_at, updated_at) "
            "SELECT i, i, 0, 0, 0, now(), now() FROM generate_series(1, %s) i",
            [accounts],
        )
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('loyalty_pointsaccount', 'id'), %s)", [accounts]
        )
        # 1.5 orders a member over the last year; amounts spread the spend across the tiers.
        conn.execute(
            "INSERT INTO crm_order (member_id, channel, external_no, amount_twd, placed_at, "
            "status, returns_external_no, created_at, updated_at) "
            "SELECT 1 + (i %% %s), 'web', 'W' || lpad(i::text, 10, '0'), "
            "(ARRAY[800, 2500, 6000, 14000, 35000, 90000])[1 + (i::bigint * 7919) %% 6], "
            "now() - ((i::bigint * 104729) %% 360) * interval '1 day', 'placed', '', now(), now() "
            "FROM generate_series(1, %s) i",
            [accounts, accounts * 3 // 2],
        )
        conn.commit()
        seconds = time.perf_counter() - started
        log(f"  members, accounts and orders by INSERT … SELECT: {seconds:.1f} s")
        started = time.perf_counter()
        lines = copy_lines(
            conn,
            "loyalty_pointstransaction",
            LEDGER_COLUMNS,
            _ledger(accounts, today, random.Random(12)),
        )
        conn.execute(
            "UPDATE loyalty_pointsaccount a SET balance = s.total, entries = s.n "
            "FROM (SELECT account_id, sum(points) AS total, count(*) AS n "
            "FROM loyalty_pointstransaction GROUP BY account_id) s WHERE a.id = s.account_id"
        )
        conn.commit()
        seconds = time.perf_counter() - started
        log(f"  {lines:,} ledger entries by COPY (and balances): {seconds:.1f} s")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _timed(label: str, call) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - started
    log(f"  {label}: {seconds:.1f} s → {result:,}")
    return seconds, result


def run(url: str, args) -> None:
    os.environ.update({"DATABASE_URL": url, "DJANGO_DEBUG": "false"})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnichannel.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from loyalty.services.expiry import points_expire
    from loyalty.services.tiers import tiers_evaluate_all

    today = timezone.localdate()
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute("SELECT count(*) FROM loyalty_pointstransaction")
        ledger_rows = cursor.fetchone()[0]
        reference = time.perf_counter() - started
    log(f"  reference: SELECT count(*) over the ledger ({ledger_rows:,} rows): {reference:.2f} s")

    log("Nightly expiry (points_expire):")
    first, _expired = _timed("run 1, points expired", lambda: points_expire(today=today))
    second, again = _timed("run 2, points expired", lambda: points_expire(today=today))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM loyalty_pointstransaction WHERE kind = 'expire'")
        entries = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM loyalty_pointsaccount a LEFT JOIN (SELECT account_id, "
            "sum(points) AS total FROM loyalty_pointstransaction GROUP BY account_id) s "
            "ON s.account_id = a.id WHERE a.balance <> coalesce(s.total, 0)"
        )
        wrong = cursor.fetchone()[0]
    log(f"  expire entries: {entries:,}; accounts whose balance ≠ ledger sum: {wrong}")
    log(
        f"  ratio to the reference: run 1 {first / reference:.0f}×, run 2 {second / reference:.0f}×"
    )

    log("Nightly tier review (tiers_evaluate_all):")
    t_first, _changed = _timed("run 1, tier changes", lambda: tiers_evaluate_all())
    t_second, changed_again = _timed("run 2, tier changes", lambda: tiers_evaluate_all())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.name, count(a.id) FROM loyalty_tier t LEFT JOIN loyalty_pointsaccount a "
            "ON a.tier_id = t.id GROUP BY t.name, t.rank ORDER BY t.rank"
        )
        spread = ", ".join(f"{name} {count:,}" for name, count in cursor.fetchall())
    log(f"  tiers: {spread}")
    ratios = f"run 1 {t_first / reference:.0f}×, run 2 {t_second / reference:.0f}×"
    log(f"  ratio to the reference: {ratios}")
    ok = again == 0 and changed_again == 0 and wrong == 0
    log(
        f"Summary: {args.accounts:,} accounts; expiry {first / 60:.1f} min (rerun {second / 60:.1f}"
        f" min), tiers {t_first / 60:.1f} min (rerun {t_second / 60:.1f} min); goal: minutes, "
        f"not hours; second runs wrote nothing: {'YES' if ok else 'NO'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    url = args.database_url
    log(f"Database {url.rsplit('/', 1)[-1]}: create, migrate, seed {args.accounts:,} accounts")
    recreate_database(url)
    migrate(url)
    today = datetime.now(UTC).astimezone().date()
    seed(url, args.accounts, today)
    try:
        run(url, args)
    finally:
        if not args.keep:
            drop_database(url)


if __name__ == "__main__":
    main()
