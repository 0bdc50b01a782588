"""Bench: the Django admin's list pages with a million members.

    uv run python bench/admin_list.py [--members 1000000] [--repeat 5] [--database-url URL]
                                      [--export] [--keep]

Drops, creates and migrates the database (default
postgres://postgres@127.0.0.1:5432/omnichannel_admin_bench; its name must end in "_bench"),
loads the members with COPY (each with a phone, every second one an email and an order, one in
a hundred merged into its neighbour), runs VACUUM ANALYZE, and then, logged in as an admin with
Django's test Client (the whole middleware stack, no network), times each page: the members
list, a search by phone in another spelling, a search by name prefix, filters, page 2,000, and
the identities and orders lists. It prints the median of --repeat runs in ms, the queries the
page made, and the ratio to the issue's goal (1 s; above 1: faster than the goal). --export
also times the CSV export of every member (an ExportJob, run in this process).
"""

import argparse
import os
import random
import resource
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import bench_db
import psycopg
from bench_db import copy_lines, drop_database, migrate, recreate_database
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/omnichannel_admin_bench"
GOAL_MS = 1_000.0
STORES = 20
COPY_ROWS_PER_WRITE = 20_000
SURNAMES = "陳林黃張李王吳劉蔡楊許鄭謝郭洪曾邱廖賴周"
GIVEN = "美玲志豪淑芬家豪怡君俊傑雅婷建宏佩珊冠宇"


def log(message: str = "") -> None:
    print(message, flush=True)


# --- Database ---------------------------------------------------------------------------------


def django_env(url: str) -> dict[str, str]:
    # --export runs the export job in this process, where it can be timed.
    return bench_db.django_env(url, CELERY_TASK_ALWAYS_EAGER="true")


# --- Data -------------------------------------------------------------------------------------


def phone_of(n: int) -> str:
    """Member n's mobile, unique: n times a number prime to 10^8 is a bijection mod 10^8."""
    return f"+8869{(n * 7_919) % 10**8:08d}"


def national_spelling(e164: str) -> str:
    """+886912345678 → 0912 345 678 (a spelling a person types)."""
    digits = "0" + e164.removeprefix("+886")
    return f"{digits[:4]} {digits[4:7]} {digits[7:]}"


def name_of(n: int) -> str:
    return SURNAMES[n % len(SURNAMES)] + GIVEN[(n // 7) % len(GIVEN)] + GIVEN[(n // 3) % len(GIVEN)]


def load(url: str, members: int) -> dict[str, int]:
    rng = random.Random(1)
    epoch = datetime(2019, 1, 1, tzinfo=UTC)
    now = datetime.now(UTC).isoformat()
    counts: dict[str, int] = {}
    with psycopg.connect(url, autocommit=False) as conn:
        copy_lines(
            conn,
            "crm_store",
            ("id", "code", "name", "city", "opened_on"),
            (f"{s}\tS{s:02d}\t門市{s:02d}\t台北\t\\N\n" for s in range(1, STORES + 1)),
        )

        def member_lines():
            for n in range(1, members + 1):
                joined = (epoch + timedelta(minutes=n * 2)).isoformat()
                merged = n % 100 == 0
                yield (
                    f"{n}\tM{n:09d}\t{name_of(n)}\t{1960 + n % 45}-0{1 + n % 9}-1{n % 9}\t"
                    f"{'female' if n % 2 else 'male'}\t{1 + n % STORES if n % 3 else chr(92) + 'N'}"
                    f"\t{joined}\t{('store', 'web', 'marketplace')[n % 3]}\t"
                    f"{'merged' if merged else 'active'}\t{n - 1 if merged else chr(92) + 'N'}\t"
                    f"{{}}\t{now}\t{now}\n"
                )

        copy_lines(
            conn,
            "crm_member",
            (
                "id",
                "member_no",
                "name",
                "birthday",
                "gender",
                "home_store_id",
                "joined_at",
                "acquisition_channel",
                "status",
                "merged_into_id",
                "attributes",
                "created_at",
                "updated_at",
            ),
            member_lines(),
        )
        counts["members"] = members

        def identity_lines():
            for n in range(1, members + 1):
                source = ("store", "web", "marketplace")[n % 3]
                yield f"{n}\tphone\t{phone_of(n)}\t{source}\t{now}\t{now}\n"
                if n % 2 == 0:
                    yield f"{n}\temail\tm{n}@example.com\t{source}\t{now}\t{now}\n"

        identity_columns = ("member_id", "kind", "value", "source", "first_seen_at")
        copy_lines(conn, "crm_identity", (*identity_columns, "last_seen_at"), identity_lines())
        counts["identities"] = members + members // 2

        def order_lines():
            for n in range(2, members + 1, 2):
                store = n % 3 == 0
                placed = (epoch + timedelta(minutes=n * 3)).isoformat()
                yield (
                    f"{n}\t{'store' if store else 'web'}\t{f'S{n:09d}' if store else f'W{n:09d}'}\t"
                    f"{rng.randint(100, 5_000)}\t{placed}\tplaced\t\t{now}\t{now}\t"
                    f"{1 + n % STORES if store else chr(92) + 'N'}\n"
                )

        copy_lines(
            conn,
            "crm_order",
            (
                "member_id",
                "channel",
                "external_no",
                "amount_twd",
                "placed_at",
                "status",
                "returns_external_no",
                "created_at",
                "updated_at",
                "store_id",
            ),
            order_lines(),
        )
        counts["orders"] = members // 2
        for table in ("crm_store", "crm_member"):
            conn.execute(
                sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), max(id)) FROM {}").format(
                    sql.Literal(table), sql.Identifier(table)
                )
            )
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return counts


# --- Timing -----------------------------------------------------------------------------------


def time_page(client, url: str, repeat: int, expect: str | None) -> tuple[float, int, float]:
    """(median ms, queries, slowest query ms) of GET url, checking the page shows `expect`."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")
    if expect is not None and expect not in response.content.decode():
        raise SystemExit(f"{url}: the page does not show {expect!r}")
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    slowest = max((float(q["time"]) * 1000 for q in queries.captured_queries), default=0.0)
    return statistics.median(times), len(queries), slowest


def time_export(client) -> tuple[float, int, float]:
    """(seconds, rows, peak RSS MB) of exporting every member as CSV from the admin.

    A list that long becomes an ExportJob; the bench runs Celery eagerly, so the POST returns
    when the job's file is written (the same service a worker runs).
    """
    from crm.models import ExportJob
    from crm.resources import MemberResource

    data = {"format": "0", "resource": "0"}
    data.update({f"memberresource_{f}": "on" for f in MemberResource().get_export_order()})
    started = time.perf_counter()
    response = client.post("/admin/crm/member/export/", data)
    seconds = time.perf_counter() - started
    job = ExportJob.objects.get()
    if response.status_code != 302 or job.status != ExportJob.Status.DONE:
        raise SystemExit(f"export: HTTP {response.status_code}, job {job.status} {job.error}")
    job.file.delete()
    return seconds, job.rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(url: str, args) -> None:
    started = time.perf_counter()
    counts = load(url, args.members)
    log(
        f"loaded with COPY in {time.perf_counter() - started:.1f} s (incl. VACUUM ANALYZE): "
        + ", ".join(f"{k} {v:,}" for k, v in counts.items())
    )

    os.environ.update(django_env(url))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    admin = get_user_model().objects.create_superuser("bench-admin", "bench@example.com", "x")
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
    client.get("/admin/")  # templates and URLconf loaded once, outside the timings

    probe = args.members * 7 // 9 or 1
    probe_phone = national_spelling(phone_of(probe))
    last_page = max(1, args.members // 50)
    page = min(2_000, last_page)
    pages = [
        ("members, first page", "/admin/crm/member/", f"M{args.members:09d}"),
        (f"members, search phone '{probe_phone}'", f"/admin/crm/member/?q={probe_phone}", None),
        ("members, search name prefix '陳美'", "/admin/crm/member/?q=陳美", None),
        ("members, search member number", f"/admin/crm/member/?q=M{probe:09d}", None),
        ("members, filter status=merged", "/admin/crm/member/?status__exact=merged", None),
        (
            "members, filter channel=web + store",
            "/admin/crm/member/?acquisition_channel__exact=web&home_store__id__exact=3",
            None,
        ),
        (f"members, page {page:,}", f"/admin/crm/member/?p={page}", None),
        ("identities, first page", "/admin/crm/identity/", None),
        (f"identities, search '{probe_phone}'", f"/admin/crm/identity/?q={probe_phone}", None),
        ("orders, first page", "/admin/crm/order/", None),
        ("orders, search order number", f"/admin/crm/order/?q=W{probe - probe % 2:09d}", None),
        ("orders, filter channel=store", "/admin/crm/order/?channel__exact=store", None),
    ]
    pages[1] = (*pages[1][:2], f"M{probe:09d}")
    pages[3] = (*pages[3][:2], f"M{probe:09d}")

    log()
    log(f"{'page':<52} {'median ms':>9} {'queries':>7} {'slowest SQL ms':>14} {'ratio':>6}")
    misses = []
    for label, url, expect in pages:
        median, queries, slowest = time_page(client, url, args.repeat, expect)
        ratio = GOAL_MS / median
        log(f"{label:<52} {median:>9.1f} {queries:>7} {slowest:>14.1f} {ratio:>6.1f}")
        if median >= GOAL_MS:
            misses.append(label)
    log()
    log(
        f"{'PASS' if not misses else 'MISS'}  every list page under {GOAL_MS:.0f} ms at "
        f"{args.members:,} members (median of {args.repeat})"
        + (f": slower: {', '.join(misses)}" if misses else "")
    )
    if args.export:
        seconds, rows, peak = time_export(client)
        log(
            f"export job: {rows:,} members written as CSV in {seconds:.1f} s "
            f"({rows / seconds:,.0f} rows/s), peak RSS of the process {peak:.0f} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--export", action="store_true", help="also time a full CSV export")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    url = args.database_url
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        sys.exit("the bench needs PostgreSQL (COPY, the planner's estimates)")
    if not parts.path.rstrip("/").endswith("_bench"):
        sys.exit(f"refusing to drop {parts.path.lstrip('/')!r}: the bench database ends in _bench")

    log(f"admin_list: {args.members:,} members, {parts.hostname}{parts.path}")
    recreate_database(url)
    migrate(url)
    try:
        run(url, args)
    finally:
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        if not args.keep:
            drop_database(url)


if __name__ == "__main__":
    main()
