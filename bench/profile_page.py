"""Bench: the 360° profile page and its timeline pages on PostgreSQL, for a heavy member.

    uv run python bench/profile_page.py [--members 200000] [--heavy-orders 20000]
                                        [--heavy-touchpoints 50000] [--repeat 5]
                                        [--database-url URL] [--keep]

Drops, creates and migrates the database (default
postgres://postgres@127.0.0.1:5432/omni_profile_bench; its name must end in "_bench"), loads
--members background members with COPY, each with 5 orders and 5 touchpoints, and one heavy
member with --heavy-orders orders (a tenth of them returns of the one before), as many
touchpoints as --heavy-touchpoints, 1,000 consent decisions and 500 notes, all in one
ANALYZEd database. Then, logged in as a Marketer through Django's test Client (the whole
middleware stack, no network), it times the profile page, the timeline's htmx page after it,
and the htmx page 100 pages deep (keyset: the cursor of page 100 is followed, not an offset),
printing the median of --repeat runs in ms and the queries each made.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg
from bench_db import copy_lines, drop_database, recreate_database
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/omni_profile_bench"
HEAVY = "H000000001"
CHUNK = 50_000


def log(message: str = "") -> None:
    print(message, flush=True)


def load(url: str, *, members: int, heavy_orders: int, heavy_touchpoints: int) -> None:
    epoch = datetime(2022, 1, 1, tzinfo=UTC)
    now = datetime.now(UTC).isoformat()
    heavy_id = members + 1
    with psycopg.connect(url) as conn:
        copy_lines(conn, "crm_store", ("id", "code", "name", "city"), ["1\tS01\t門市01\t台北\n"])
        member_cols = ("id", "member_no", "name", "gender", "joined_at", "acquisition_channel")
        member_cols += ("status", "attributes", "created_at", "updated_at")
        copy_lines(
            conn,
            "crm_member",
            member_cols,
            (
                f"{n}\t{f'M{n:09d}' if n != heavy_id else HEAVY}\t會員{n}\tfemale\t"
                f"{(epoch + timedelta(minutes=n)).isoformat()}\tstore\tactive\t{{}}\t{now}\t{now}\n"
                for n in range(1, heavy_id + 1)
            ),
        )

        def orders():
            order_id = 0
            for n in range(1, members + 1):
                for k in range(5):
                    order_id += 1
                    at = (epoch + timedelta(minutes=n, days=k * 30)).isoformat()
                    yield (
                        f"{order_id}\t{n}\tstore\t1\tS-{order_id}\t1280\t{at}\tplaced\t\\N\t\t"
                        f"{now}\t{now}\n"
                    )
            for k in range(heavy_orders):
                order_id += 1
                at = (epoch + timedelta(minutes=k * 37)).isoformat()
                if k % 10 == 9:  # a return of the sale before it
                    yield (
                        f"{order_id}\t{heavy_id}\tstore\t1\tR-{order_id}\t-500\t{at}\tplaced\t"
                        f"{order_id - 1}\tS-{order_id - 1}\t{now}\t{now}\n"
                    )
                else:
                    yield (
                        f"{order_id}\t{heavy_id}\t{('store', 'web')[k % 2]}\t"
                        f"{'1' if k % 2 == 0 else chr(92) + 'N'}\tS-{order_id}\t990\t{at}\t"
                        f"placed\t\\N\t\t{now}\t{now}\n"
                    )

        order_cols = ("id", "member_id", "channel", "store_id", "external_no", "amount_twd")
        order_cols += ("placed_at", "status", "returns_order_id", "returns_external_no")
        copy_lines(conn, "crm_order", (*order_cols, "created_at", "updated_at"), orders())

        def touchpoints():
            for n in range(1, members + 1):
                for k in range(5):
                    at = (epoch + timedelta(minutes=n, days=k * 20)).isoformat()
                    yield f"{n}\tweb\tpage_view\t{at}\t{{}}\n"
            for k in range(heavy_touchpoints):
                at = (epoch + timedelta(minutes=k * 13)).isoformat()
                yield f"{heavy_id}\t{('web', 'store', 'line')[k % 3]}\tpage_view\t{at}\t{{}}\n"

        copy_lines(
            conn,
            "crm_touchpoint",
            ("member_id", "channel", "kind", "at", "properties"),
            touchpoints(),
        )
        copy_lines(
            conn,
            "crm_consent",
            ("member_id", "channel", "state", "source", "at", "recorded_at"),
            (
                f"{heavy_id}\t{('line', 'email', 'sms', 'push')[k % 4]}\t"
                f"{('opted_in', 'opted_out')[k % 2]}\timport\t"
                f"{(epoch + timedelta(hours=k * 7)).isoformat()}\t{now}\n"
                for k in range(1_000)
            ),
        )
        copy_lines(
            conn,
            "crm_membernote",
            ("member_id", "body", "at"),
            (
                f"{heavy_id}\tnote {k}\t{(epoch + timedelta(hours=k * 11)).isoformat()}\n"
                for k in range(500)
            ),
        )
        for table in ("crm_member", "crm_order"):
            conn.execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence({}, 'id'), (SELECT max(id) FROM {}))"
                ).format(sql.Literal(table), sql.Identifier(table))
            )
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def measure(repeat: int) -> None:
    import django

    django.setup()
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from crm.services.stats import member_stats_rebuild
    from crm.timeline import Cursor, timeline_page
    from omnichannel.roles import MARKETER
    from omnichannel.services import user_upsert_with_role

    member_stats_rebuild()
    # A throwaway user in a throwaway database.
    user = user_upsert_with_role(username="bench", password="bench-pass-1", role=MARKETER)  # noqa: S106
    client = Client(HTTP_HOST="localhost")
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    from crm.models import Member

    heavy = Member.objects.get(member_no=HEAVY)
    cursor: Cursor | None = None
    for _ in range(100):
        cursor = timeline_page(member_id=heavy.pk, before=cursor).next_cursor
    first_next = timeline_page(member_id=heavy.pk).next_cursor
    base = f"/members/{HEAVY}/"
    cases = {
        "profile page": (base, {}),
        "timeline page 2 (htmx)": (
            f"{base}?before={quote(first_next.encode())}",
            {"HX-Request": "true"},
        ),
        "timeline page 101 (htmx)": (
            f"{base}?before={quote(cursor.encode())}",
            {"HX-Request": "true"},
        ),
    }
    for label, (url, headers) in cases.items():
        client.get(url, headers=headers)  # warm
        times, queries = [], 0
        for _ in range(repeat):
            reset_queries()
            with CaptureQueriesContext(connection) as captured:
                start = time.perf_counter()
                response = client.get(url, headers=headers)
                times.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                sys.exit(f"{label}: HTTP {response.status_code}")
            queries = len(captured)
        log(f"{label:28s} median {statistics.median(times):7.1f} ms   {queries} queries")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--heavy-orders", type=int, default=20_000)
    parser.add_argument("--heavy-touchpoints", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    if not urlsplit(args.database_url).path.endswith("_bench"):
        sys.exit("the database name must end in _bench: it is dropped and created")
    env = {**os.environ, "DATABASE_URL": args.database_url, "DJANGO_DEBUG": "false"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "omnichannel.settings")
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))

    log(f"database {args.database_url}")
    recreate_database(args.database_url)
    try:
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], env=env, check=True
        )
        start = time.perf_counter()
        load(
            args.database_url,
            members=args.members,
            heavy_orders=args.heavy_orders,
            heavy_touchpoints=args.heavy_touchpoints,
        )
        log(
            f"loaded {args.members:,} members x (5 orders + 5 touchpoints) and one member with "
            f"{args.heavy_orders:,} orders, {args.heavy_touchpoints:,} touchpoints, 1,000 consents "
            f"and 500 notes in {time.perf_counter() - start:.0f} s"
        )
        measure(args.repeat)
    finally:
        if not args.keep:
            drop_database(args.database_url)


if __name__ == "__main__":
    main()
