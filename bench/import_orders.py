"""Bench: import a million order rows with identity resolution, against the ground truth.

    uv run python bench/import_orders.py [--rows 1000000] [--seed 1] [--database-url URL] [--keep]

Drops, creates and migrates the database (default
postgres://postgres@127.0.0.1:5432/omnichannel_bench; its name must end in "_bench"), writes
the three order files with bench/gen_orders.py (in a subprocess, so its memory is not counted)
and then:

a. imports them with crm.services.imports.import_file_run (POS, web, marketplace): seconds,
   rows/s and the peak RSS of this process;
b. checks the result: active members against the ground truth's identifiable people, and every
   sampled order on the member of its component;
c. times plain django-import-export (a ModelResource for Order, use_bulk) on the first 50,000
   POS rows, no identity resolution, then the same resource tuned as its docs advise (skip_diff,
   force_init_instance, use_bulk, a larger batch_size);
d. times a bare COPY of the whole POS file into an unindexed UNLOGGED table of text columns,
   the ceiling.

It prints a table (ratio: rows/s over ours) and the goals of the issue, PASS or MISS each.
"""

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from bench_db import django_env, drop_database, migrate, recreate_database
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/omnichannel_bench"
IMPORT_EXPORT_ROWS = 50_000
IMPORT_EXPORT_TUNED_BATCH = 5_000
COPY_CHUNK = 1 << 20
GOAL_ROWS = 1_000_000
GOAL_SECONDS = 100.0
GOAL_RSS_MB = 512.0
POS_TO_ORDER = {  # POS column -> Order field, for django-import-export
    "門市代碼": "store",
    "交易序號": "external_no",
    "交易時間": "placed_at",
    "銷售金額": "amount_twd",
    "原交易序號": "returns_external_no",
}


def log(message: str = "") -> None:
    print(message, flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# --- Database and files ---------------------------------------------------------------------


def generate_files(rows: int, seed: int, out_dir: Path):
    from bench.gen_orders import GroundTruth

    truth_path = out_dir / "truth.json"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "gen_orders.py"),
            "--rows",
            str(rows),
            "--seed",
            str(seed),
            "--out",
            str(out_dir),
            "--truth",
            str(truth_path),
        ],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return GroundTruth.from_json(truth_path.read_text(encoding="utf-8"))


# --- a. Our import ----------------------------------------------------------------------------


def import_ours(files: Path, truth) -> tuple[float, dict[str, float]]:
    from bench.gen_orders import FILES
    from crm.services.imports import import_file_run

    started = time.perf_counter()
    per_file: dict[str, float] = {}
    done = 0
    next_report = 100_000

    def progress(result) -> None:
        nonlocal next_report
        if done + result.rows >= next_report:
            next_report += 100_000
            log(
                f"  … {done + result.rows:>9,} rows {time.perf_counter() - started:7.1f} s, "
                f"RSS {current_rss_mb():6.0f} MB"
            )

    for preset, filename in FILES:
        file_started = time.perf_counter()
        result = import_file_run(
            source=files / filename,
            filename=filename,
            preset_name=preset,
            on_progress=progress,
        )
        per_file[preset] = time.perf_counter() - file_started
        done += result.rows
        log(
            f"  {preset:<19} {result.rows:>9,} rows {per_file[preset]:7.1f} s "
            f"({result.rows / per_file[preset]:,.0f} rows/s): imported {result.imported:,}, "
            f"failed {result.failed:,}, warnings {result.warnings:,}, "
            f"members created {result.members_created:,}, merges {result.merges:,}, "
            f"orders {result.orders_written:,}"
        )
        for severity, issue in result.issues[:3] if result.failed else ():
            log(f"    {severity}: {issue}")
    return time.perf_counter() - started, per_file


# --- b. Checks --------------------------------------------------------------------------------


def check_resolution(truth) -> tuple[int, int, int]:
    """(active members, misplaced sampled orders, sampled orders on an inactive member)."""
    from bench.gen_orders import misplaced_orders
    from crm.models import Member, Order

    active = Member.objects.filter(status=Member.Status.ACTIVE).count()
    by_channel: dict[str, list[str]] = defaultdict(list)
    for channel, external_no, _ in truth.sample:
        by_channel[channel].append(external_no)
    member_of: dict[tuple[str, str], int | None] = {}
    for channel, numbers in by_channel.items():
        for start in range(0, len(numbers), 2_000):
            rows = Order.objects.filter(
                channel=channel, external_no__in=numbers[start : start + 2_000]
            ).values_list("external_no", "member_id")
            member_of.update({(channel, no): member for no, member in rows})
    members = {m for m in member_of.values() if m is not None}
    inactive = set(
        Member.objects.filter(pk__in=members)
        .exclude(status=Member.Status.ACTIVE)
        .values_list("pk", flat=True)
    )
    on_inactive = sum(1 for m in member_of.values() if m in inactive)
    return active, misplaced_orders(truth.sample, member_of) + on_inactive, on_inactive


# --- c. django-import-export ------------------------------------------------------------------


def pos_dataset(path: Path, rows: int):
    """The first `rows` POS rows as a tablib Dataset, columns renamed to Order fields."""
    import tablib

    with open(path, encoding="utf-8-sig", newline="") as file:
        reader = csv.DictReader(file)
        data = tablib.Dataset(headers=[*POS_TO_ORDER.values(), "channel"])
        for index, row in enumerate(reader):
            if index == rows:
                break
            values = [row[column] for column in POS_TO_ORDER]
            values[3] = values[3].replace(",", "")  # "1,280": IntegerWidget wants 1280
            data.append([*values, "store"])
    return data


def order_resource(*, tuned: bool, cached_store: bool = False):
    from import_export import fields, resources, widgets

    from crm.models import Order, Store

    class CachedForeignKeyWidget(widgets.ForeignKeyWidget):
        """One query per store code, not one per row (the advice of the library's bulk notes)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._cache = {}

        def clean(self, value, row=None, **kwargs):
            if value not in self._cache:
                self._cache[value] = super().clean(value, row, **kwargs)
            return self._cache[value]

    store_widget = CachedForeignKeyWidget if cached_store else widgets.ForeignKeyWidget

    class OrderResource(resources.ModelResource):
        store = fields.Field(
            attribute="store", column_name="store", widget=store_widget(Store, "code")
        )
        placed_at = fields.Field(
            attribute="placed_at",
            column_name="placed_at",
            widget=widgets.DateTimeWidget(format="%Y/%m/%d %H:%M:%S"),
        )

        class Meta:
            model = Order
            fields = (
                "channel",
                "store",
                "external_no",
                "placed_at",
                "amount_twd",
                "returns_external_no",
            )
            import_id_fields = ("channel", "external_no")
            use_bulk = True
            skip_diff = tuned
            force_init_instance = tuned
            batch_size = IMPORT_EXPORT_TUNED_BATCH if tuned else 1_000

    return OrderResource()


def truncate_orders() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE crm_order CASCADE")


def import_export_run(dataset, *, tuned: bool, cached_store: bool = False) -> float:
    from crm.models import Order

    truncate_orders()
    resource_ = order_resource(tuned=tuned, cached_store=cached_store)
    started = time.perf_counter()
    result = resource_.import_data(dataset, dry_run=False, raise_errors=True)
    seconds = time.perf_counter() - started
    count = Order.objects.count()
    if result.has_errors() or count != len(dataset):
        log(f"  import-export: {count:,} orders of {len(dataset):,}, errors {result.has_errors()}")
    return seconds


# --- d. COPY ----------------------------------------------------------------------------------


def copy_pos(url: str, path: Path) -> tuple[int, float]:
    columns = sql.SQL(", ").join(sql.SQL("c{} text").format(sql.Literal(i)) for i in range(11))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_pos_copy")
        conn.execute(sql.SQL("CREATE UNLOGGED TABLE bench_pos_copy ({})").format(columns))
        started = time.perf_counter()
        statement = "COPY bench_pos_copy FROM STDIN WITH (FORMAT csv, HEADER true)"
        with conn.cursor() as cursor, open(path, "rb") as file, cursor.copy(statement) as copy:
            while chunk := file.read(COPY_CHUNK):
                copy.write(chunk)
        seconds = time.perf_counter() - started
        rows = conn.execute("SELECT count(*) FROM bench_pos_copy").fetchone()[0]
        conn.execute("DROP TABLE bench_pos_copy")
    return rows, seconds


# --- Main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=GOAL_ROWS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    url = args.database_url
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        sys.exit("the bench needs PostgreSQL (COPY, TRUNCATE)")
    if not parts.path.rstrip("/").endswith("_bench"):
        sys.exit(f"refusing to drop {parts.path.lstrip('/')!r}: the bench database ends in _bench")
    sys.path.insert(0, str(ROOT))

    log(f"import_orders: {args.rows:,} rows, seed {args.seed}, {parts.hostname}{parts.path}")
    recreate_database(url)
    migrate(url)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-orders-") as tmp:
            run(url, args, Path(tmp))
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(url)


def run(url: str, args, files: Path) -> None:
    started = time.perf_counter()
    truth = generate_files(args.rows, args.seed, files)
    log(
        f"generated {truth.rows:,} rows in {time.perf_counter() - started:.1f} s: "
        + ", ".join(f"{preset} {count:,}" for preset, count in truth.counts.items())
    )
    log(
        f"  population {truth.population:,}; identifiable people {truth.people:,}; "
        f"anonymous rows {truth.anonymous_rows:,}; masked phones {truth.masked_phones:,}; "
        f"returns {truth.returns:,} ({truth.returns_before_sale:,} before their sale); "
        f"cancelled {truth.cancelled:,}; sampled orders {len(truth.sample):,}"
    )
    log("  identifiers: " + ", ".join(f"{k} {v:,}" for k, v in truth.identifiers.items()))

    os.environ.update(django_env(url))
    import django

    django.setup()
    baseline = peak_rss_mb()

    log("a. import_file_run, three files with identity resolution")
    seconds, per_file = import_ours(files, truth)
    peak = peak_rss_mb()
    rate = truth.rows / seconds
    log(f"  total {truth.rows:,} rows in {seconds:.1f} s: {rate:,.0f} rows/s")
    log(f"  peak RSS {peak:.0f} MB (after django.setup {baseline:.0f} MB)")

    log("b. checks")
    active, misplaced, on_inactive = check_resolution(truth)
    verdict = "EQUAL" if active == truth.people else "MISMATCH"
    log(f"  active members {active:,}, ground-truth people {truth.people:,}: {verdict}")
    log(
        f"  misplaced sampled orders: {misplaced:,} of {len(truth.sample):,}"
        f" ({on_inactive:,} on a merged member)"
    )

    pos_path = files / "pos_orders.csv"
    rows_ie = min(IMPORT_EXPORT_ROWS, truth.counts["pos_orders"])
    log(f"c. django-import-export on the first {rows_ie:,} POS rows (no identity resolution)")
    dataset = pos_dataset(pos_path, rows_ie)
    plain = import_export_run(dataset, tuned=False)
    log(f"  plain (use_bulk):  {plain:.1f} s, {rows_ie / plain:,.0f} rows/s")
    tuned = import_export_run(dataset, tuned=True)
    log(f"  tuned:             {tuned:.1f} s, {rows_ie / tuned:,.0f} rows/s")
    cached = import_export_run(dataset, tuned=True, cached_store=True)
    log(f"  tuned, store FK cached: {cached:.1f} s, {rows_ie / cached:,.0f} rows/s")
    best_tuned = min(tuned, cached)

    log("d. COPY of the whole POS file into an UNLOGGED text table")
    copy_rows, copy_seconds = copy_pos(url, pos_path)
    log(f"  {copy_rows:,} rows in {copy_seconds:.2f} s, {copy_rows / copy_seconds:,.0f} rows/s")

    pos_rows = truth.counts["pos_orders"]
    table = [
        ("ours: import_file_run, 3 files, resolution", truth.rows, seconds),
        ("ours: POS file alone (in the run above)", pos_rows, per_file["pos_orders"]),
        ("django-import-export, use_bulk", rows_ie, plain),
        ("django-import-export, tuned", rows_ie, tuned),
        ("django-import-export, tuned, store FK cached", rows_ie, cached),
        ("COPY into UNLOGGED text table (ceiling)", copy_rows, copy_seconds),
    ]
    log()
    log(f"{'method':<45} {'rows':>10} {'seconds':>9} {'rows/s':>10} {'ratio':>7}")
    for method, rows, secs in table:
        speed = rows / secs
        log(f"{method:<45} {rows:>10,} {secs:>9.1f} {speed:>10,.0f} {speed / rate:>7.2f}")
    log(f"peak RSS of our import: {peak:.0f} MB")
    log()

    projected = seconds * GOAL_ROWS / truth.rows
    at_goal = truth.rows >= GOAL_ROWS
    goals = [
        (
            f"{GOAL_ROWS:,} rows with resolution under {GOAL_SECONDS:.0f} s",
            projected < GOAL_SECONDS,
            f"{seconds:.1f} s" if at_goal else f"projected {projected:.1f} s from {truth.rows:,}",
        ),
        (
            "faster than tuned django-import-export (the faster tuned run)",
            rate > rows_ie / best_tuned,
            f"{rate:,.0f} vs {rows_ie / best_tuned:,.0f} rows/s",
        ),
        (f"peak memory under {GOAL_RSS_MB:.0f} MB", peak < GOAL_RSS_MB, f"{peak:.0f} MB"),
        (
            "exact resolution",
            active == truth.people and misplaced == 0,
            f"{active:,} members for {truth.people:,} people, {misplaced:,} misplaced",
        ),
    ]
    for goal, ok, detail in goals:
        log(f"{'PASS' if ok else 'MISS'}  {goal}: {detail}")


if __name__ == "__main__":
    main()
