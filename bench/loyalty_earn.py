"""Bench: the cost of earning points on an import (issue 12: earning on against off, < 1.3×).

    uv run python bench/loyalty_earn.py [--rows 1000000] [--seed 1] [--database-url URL] [--keep]
                                        [--concurrent]

The three order files of bench/import_orders.py (bench/gen_orders.py: POS, web, marketplace;
identity resolution, anonymous rows, returns, some before their sale, cancellations) are
imported twice through the same path, `crm.services.imports.import_file_run`, each time into a
freshly created and migrated database (--database-url, default
postgres://postgres@127.0.0.1:5432/omni_loyalty_earn_bench; its name must end in "_bench"):

OFF  the import alone: crm's order_changes_written signal is disconnected from loyalty and the
     consumer is not run (what the import cost before loyalty existed).
ON   the import with loyalty connected, then loyalty's two consumers of crm's order-change
     feed drained to the end: "loyalty.earn" (`earn_consume`, the points) and "loyalty.tiers"
     (`tiers_consume`, every buyer's account and tier: production runs it on the same feed, so
     it is loyalty's cost of the import too), timed together: import + drains. The signal's
     drain tasks go to a queue no worker reads, so the drains measured are the ones run here.
     By default they run in this process, sequentially, after the import: the worst case for
     the ratio. With --concurrent they run as production runs them, in a worker process
     (`--phase drain`: both consumers, a batch at a time, in a loop) started with the import;
     ON is then the import plus the time the worker takes to finish the feed after the import
     ended. Report both figures: the concurrent one is what a shop sees, the sequential one
     is the work loyalty adds.

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
    parser.add_argument(
        "--concurrent", action="store_true", help="drain in a worker process during the import"
    )
    parser.add_argument("--phase", choices=["off", "on", "drain"], help=argparse.SUPPRESS)
    parser.add_argument("--files", help=argparse.SUPPRESS)
    args = parser.parse_args()
    parts = urlsplit(args.database_url)
    if parts.scheme not in ("postgres", "postgresql"):
        sys.exit("the bench needs PostgreSQL")
    if args.phase == "drain":
        drain_worker(args)
        return
    if args.phase:
        phase(args)
        return
    import subprocess

    mode = "drains concurrent (a worker)" if args.concurrent else "drains sequential"
    log(
        f"loyalty_earn: {args.rows:,} rows, seed {args.seed}, {parts.hostname}{parts.path}, " + mode
    )
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
                    *(["--concurrent"] if args.concurrent else []),
                ],
                cwd=ROOT,
                env=django_env(args.database_url, CELERY_TASK_DEFAULT_QUEUE="bench-nobody"),
                check=False,
                capture_output=True,
                text=True,
            )
            sys.stdout.write(out.stdout)
            if out.returncode:
                sys.exit(f"phase {name} failed:\n{out.stderr}")
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
    log(f"{'':<36}{'seconds':>10}{'rows/s':>12}")
    log(f"{'OFF  import':<36}{off:>10.1f}{args.rows / off:>12,.0f}")
    log(f"{'ON   import':<36}{on_import:>10.1f}{args.rows / on_import:>12,.0f}")
    if args.concurrent:
        log(f"{'ON   drains left after the import':<36}{drain:>10.1f}")
    else:
        earn, tiers = float(results["on"]["@earn"]), float(results["on"]["@tiers"])
        log(f"{'ON   drain loyalty.earn':<36}{earn:>10.1f}")
        log(f"{'ON   drain loyalty.tiers':<36}{tiers:>10.1f}")
    log(f"{'ON   import + drains':<36}{on:>10.1f}{args.rows / on:>12,.0f}")
    log(
        f"ratio ON / OFF = {ratio:.2f}×  {'PASS' if ratio < GOAL_RATIO else 'MISS'} (< 1.3×), "
        + ("drains concurrent" if args.concurrent else "drains sequential")
    )
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
    from loyalty.services.tiers import tiers_consume

    Programme.objects.update_or_create(pk=1, defaults={"expiry_months": 60})
    if args.phase == "off":
        order_changes_written.disconnect(dispatch_uid=EARN_DRAIN_UID)
    files = Path(args.files)
    worker = stop = None
    if args.phase == "on" and args.concurrent:
        import subprocess

        stop = files / "import-done"
        stop.unlink(missing_ok=True)
        # Not this phase's captured pipes: its parent would wait for the worker to close them.
        worker = subprocess.Popen(
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            args=[
                *(sys.executable, __file__, "--phase", "drain", "--files", str(files)),
                *("--database-url", args.database_url),
            ],
        )
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
    if worker is not None:
        stop.touch()
        if worker.wait() != 0:
            sys.exit("the drain worker failed")
        drain = time.perf_counter() - started
        log(f"  ON drains left after the import: {drain:.1f} s")
    else:
        handled = earn_consume()
        earn = time.perf_counter() - started
        log(
            f"  ON drain loyalty.earn: {handled:,} changes in {earn:.1f} s "
            + f"({handled / earn:,.0f}/s)"
        )
        started = time.perf_counter()
        handled = tiers_consume()
        tiers = time.perf_counter() - started
        log(
            f"  ON drain loyalty.tiers: {handled:,} changes in {tiers:.1f} s "
            + f"({handled / tiers:,.0f}/s)"
        )
        log(f"@earn={earn}")
        log(f"@tiers={tiers}")
        drain = earn + tiers
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


def drain_worker(args) -> None:
    """The worker of --concurrent: both consumers, a batch each in turn (as two Celery workers
    would share the cores), until the feed is empty after the import has ended."""
    os.environ.update(django_env(args.database_url, CELERY_TASK_DEFAULT_QUEUE="bench-nobody"))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from loyalty.services.earning import earn_consume
    from loyalty.services.tiers import tiers_consume

    stop = Path(args.files) / "import-done"
    while True:
        done = stop.exists()  # read before draining: what the import wrote is in the feed
        handled = earn_consume(max_batches=1) + tiers_consume(max_batches=1)
        if not handled:
            if done:
                return
            time.sleep(0.2)


if __name__ == "__main__":
    main()
