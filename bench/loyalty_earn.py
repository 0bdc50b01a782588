"""Bench: the cost of earning points on an import (issue 12: earning on against off, < 1.3×).

    uv run python bench/loyalty_earn.py [--rows 1000000] [--seed 1] [--database-url URL] [--keep]

The three order files of bench/import_orders.py (bench/gen_orders.py: POS, web, marketplace;
identity resolution, anonymous rows, returns, some before their sale, cancellations) are
imported twice through the same path, `crm.services.imports.import_file_run`, each time into a
freshly created and migrated database (--database-url, default
postgres://postgres@127.0.0.1:5432/omni_loyalty_earn_bench; its name must end in "_bench"):

OFF  the import alone: crm's order_changes_written signal is disconnected from loyalty and the
     consumer is not run (what the import cost before loyalty existed).
ON   the import with loyalty connected, then the consumer "loyalty.earn" drained to the end in
     this process (`earn_consume`), timed together: import + drain. The signal's drain tasks
     go to a queue no worker reads, so the drain measured is the one run here (sequentially,
     after the import: the worst case for the ratio, since a worker draining concurrently on
     another core would hide part of it).

The generated orders are dated 2025; the programme's expiry is set to 60 months in both runs so
they earn (with the default 12 they would have expired by now and earn nothing, by the rule).
It prints both times, the ratio ON / OFF against the goal, and checks the points: the sum of
balances == the ledger's sum == the points expected from the orders computed in one SQL
statement (floor(amount / 100) for each placed sale of a member, less the share its returns
took back: floor(points × (amount − returned) / amount)), and one EARN entry per earning sale.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_db import ROOT, django_env, drop_database, migrate, recreate_database

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/omni_loyalty_earn_bench"
GOAL_RATIO = 1.3
EXPECTED_POINTS_SQL = """
WITH sales AS (
    SELECT s.id, s.amount_twd AS amount, s.amount_twd / 100 AS points,
           COALESCE(SUM(r.amount_twd) FILTER (WHERE r.status <> 'cancelled'), 0) AS returned
    FROM crm_order s LEFT JOIN crm_order r ON r.returns_order_id = s.id
    WHERE s.returns_external_no = '' AND s.member_id IS NOT NULL AND s.status = 'placed'
      AND s.amount_twd >= 100
    GROUP BY s.id
)
SELECT COALESCE(SUM(points * GREATEST(amount + returned, 0) / amount), 0),
       COUNT(*) FILTER (WHERE points > 0)
FROM sales
"""


def log(message: str = "") -> None:
    print(message, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--phase", choices=["off", "on"], help=argparse.SUPPRESS)
    parser.add_argument("--files", help=argparse.SUPPRESS)
    args = parser.parse_args()
    parts = urlsplit(args.database_url)
    if parts.scheme not in ("postgres", "postgresql"):
        sys.exit("the bench needs PostgreSQL")
    if args.phase:
        phase(args)
        return
    import subprocess

    log(f"loyalty_earn: {args.rows:,} rows, seed {args.seed}, {parts.hostname}{parts.path}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-earn-") as tmp:
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "gen_orders.py"),
                "--rows",
                str(args.rows),
                "--seed",
                str(args.seed),
                "--out",
                tmp,
                "--truth",
                str(Path(tmp) / "truth.json"),
            ],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        log(f"generated the files in {time.perf_counter() - started:.1f} s")
        for name in ("off", "on"):
            recreate_database(args.database_url)
            migrate(args.database_url)
            # Each phase in its own process: the same cold start, nothing cached from the other.
            out = subprocess.run(
                [
                    *(sys.executable, __file__, "--phase", name, "--files", tmp),
                    *("--database-url", args.database_url),
                ],
                cwd=ROOT,
                env=django_env(args.database_url, CELERY_TASK_DEFAULT_QUEUE="bench-nobody"),
                check=True,
                capture_output=True,
                text=True,
            )
            sys.stdout.write(out.stdout)
            results[name] = dict(
                line.split("=", 1) for line in out.stdout.splitlines() if line.startswith("@")
            )
    if not args.keep:
        drop_database(args.database_url)
    off = float(results["off"]["@import"])
    on_import = float(results["on"]["@import"])
    drain = float(results["on"]["@drain"])
    on = on_import + drain
    ratio = on / off
    log("")
    log(f"{'':<28}{'seconds':>10}{'rows/s':>12}")
    log(f"{'OFF  import':<28}{off:>10.1f}{args.rows / off:>12,.0f}")
    log(f"{'ON   import':<28}{on_import:>10.1f}{args.rows / on_import:>12,.0f}")
    log(f"{'ON   drain loyalty.earn':<28}{drain:>10.1f}")
    log(f"{'ON   import + drain':<28}{on:>10.1f}{args.rows / on:>12,.0f}")
    log(f"ratio ON / OFF = {ratio:.2f}×  {'PASS' if ratio < GOAL_RATIO else 'MISS'} (< 1.3×)")
    points_ok = results["on"]["@points_ok"] == "True"
    log(f"points == expected: {'PASS' if points_ok else 'MISMATCH'}")


def phase(args) -> None:
    """One import (and, ON, one drain) in this process; prints @key=value lines."""
    os.environ.update(django_env(args.database_url, CELERY_TASK_DEFAULT_QUEUE="bench-nobody"))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    from bench.gen_orders import FILES
    from crm.services.imports import import_file_run
    from crm.signals import order_changes_written
    from loyalty.apps import EARN_DRAIN_UID
    from loyalty.models import PointsAccount, PointsTransaction, Programme
    from loyalty.services.earning import earn_consume

    Programme.objects.update_or_create(pk=1, defaults={"expiry_months": 60})
    if args.phase == "off":
        order_changes_written.disconnect(dispatch_uid=EARN_DRAIN_UID)
    files = Path(args.files)
    started = time.perf_counter()
    for preset, filename in FILES:
        result = import_file_run(source=files / filename, filename=filename, preset_name=preset)
        log(
            f"  {args.phase.upper()} {preset:<19} {result.rows:>9,} rows, "
            + f"orders {result.orders_written:,}"
        )
    seconds = time.perf_counter() - started
    log(f"  {args.phase.upper()} import {seconds:.1f} s")
    log(f"@import={seconds}")
    if args.phase == "off":
        return
    started = time.perf_counter()
    handled = earn_consume(batch_size=1_000)
    drain = time.perf_counter() - started
    log(f"  ON drain: {handled:,} changes in {drain:.1f} s ({handled / max(drain, 1e-9):,.0f}/s)")
    log(f"@drain={drain}")
    with connection.cursor() as cursor:
        cursor.execute(EXPECTED_POINTS_SQL)
        expected, earning_sales = cursor.fetchone()
        cursor.execute("SELECT COALESCE(SUM(balance), 0) FROM loyalty_pointsaccount")
        (balances,) = cursor.fetchone()
        cursor.execute("SELECT COALESCE(SUM(points), 0) FROM loyalty_pointstransaction")
        (ledger,) = cursor.fetchone()
    earn_entries = PointsTransaction.objects.filter(kind="earn").count()
    log(
        f"  points: balances {balances:,}, ledger {ledger:,}, expected {expected:,}; "
        f"earn entries {earn_entries:,} (sales that keep points {earning_sales:,}; "
        f"accounts {PointsAccount.objects.count():,})"
    )
    log(f"@points_ok={balances == ledger == expected}")


if __name__ == "__main__":
    main()
