"""Bench: the member list (/members/) with a million members, filtered, sorted and paged.

    uv run python bench/member_list.py [--members 1000000] [--repeat 5] [--database-url URL]
                                       [--keep] [--reuse]

Drops, creates and migrates the database (default
postgres://postgres@127.0.0.1:5432/omni_memberlist_bench; its name must end in "_bench"),
fills it in SQL with generate_series (members with a phone each, an email for three in five, a
LINE id for two in five; MemberStats for 98 % of them, 70 % buyers; one to three LINE consent
decisions and an email decision for half; 20 tags on 30 % of members, "VIP" on 5 %), runs
VACUUM ANALYZE, and then, logged in as a Marketer with Django's test Client (the whole
middleware stack, no network), times the first page of the list under each filter and order,
a search by phone in another spelling and by name prefix, and a "load more" page. It prints
the median of --repeat runs in ms, the queries, the slowest SQL, and PASS or MISS against the
issue's goal (the first page with a filter under 200 ms). --reuse skips the load when the
database is already filled (kept by an earlier --keep).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from admin_list import (
    django_env,
    drop_database,
    migrate,
    recreate_database,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/omni_memberlist_bench"
GOAL_MS = 200.0
STORES = 30
TAGS = 20

# One statement per table; %(n)s is the number of members, inlined (the SQL uses % as
# modulo). Randomness is seeded (setseed), so two runs load the same data.
LOAD_SQL = [
    "SELECT setseed(0.42)",
    """INSERT INTO crm_store (id, code, name, city)
        SELECT i, 'S' || lpad(i::text, 3, '0'), '門市' || i, '台北'
        FROM generate_series(1, %(stores)s) i""",
    """INSERT INTO crm_member (id, member_no, name, gender, home_store_id, joined_at,
            acquisition_channel, status, attributes, created_at, updated_at)
        SELECT i, 'B' || lpad(i::text, 9, '0'),
            substr('陳林黃張李王吳劉蔡楊許鄭謝郭洪曾邱廖賴周', 1 + (i * 7) % 20, 1)
              || substr('美玲志豪淑芬家豪怡君俊傑雅婷建宏佩珊冠宇', 1 + (i * 13) % 20, 2),
            '', CASE WHEN random() < 0.7 THEN 1 + (random() * %(stores)s)::int % %(stores)s END,
            now() - (random() * interval '3650 days'),
            (ARRAY['store','web','marketplace','app','line_shop'])[1 + floor(random() * 5)::int],
            'active', '{}', now(), now()
        FROM generate_series(1, %(n)s) i""",
    """INSERT INTO crm_identity (member_id, kind, value, source, first_seen_at, last_seen_at)
        SELECT i, 'phone', '+8869' || lpad(i::text, 8, '0'), 'store', now(), now()
        FROM generate_series(1, %(n)s) i
        UNION ALL
        SELECT i, 'email', 'member' || i || '@example.com', 'web', now(), now()
        FROM generate_series(1, %(n)s) i WHERE i % 5 < 3
        UNION ALL
        SELECT i, 'line_user_id', 'U' || md5(i::text), 'line', now(), now()
        FROM generate_series(1, %(n)s) i WHERE i % 5 >= 3""",
    """INSERT INTO crm_memberstats (member_id, total_spend_twd, orders_count, orders_online,
            orders_offline, bought_store, bought_web, bought_marketplace, bought_app,
            bought_line_shop, first_purchase_at, last_purchase_at, spend_365d_twd, orders_365d,
            rfm_group, refreshed_at)
        SELECT i, CASE WHEN buyer THEN (random() * 60000)::int ELSE 0 END,
            CASE WHEN buyer THEN 1 + (random() * 20)::int ELSE 0 END, 0, 0,
            buyer AND random() < 0.6, buyer AND random() < 0.5, buyer AND random() < 0.3,
            buyer AND random() < 0.1, buyer AND random() < 0.1,
            CASE WHEN buyer THEN now() - interval '1000 days' END,
            CASE WHEN buyer THEN now() - (random() * interval '900 days') END, 0, 0, '', now()
        FROM (SELECT i, random() < 0.7 AS buyer FROM generate_series(1, %(n)s) i) m
        WHERE i % 50 <> 0""",
    """INSERT INTO crm_consent (member_id, channel, state, source, at, recorded_at)
        SELECT i, 'line', CASE WHEN random() < 0.7 THEN 'opted_in' ELSE 'opted_out' END, 'line',
            now() - (d * interval '100 days') - (random() * interval '90 days'), now()
        FROM generate_series(1, %(n)s) i, generate_series(0, (i % 3)) d
        WHERE i % 10 <> 0
        UNION ALL
        SELECT i, 'email', CASE WHEN random() < 0.8 THEN 'opted_in' ELSE 'opted_out' END, 'web',
            now() - (random() * interval '500 days'), now()
        FROM generate_series(1, %(n)s) i WHERE i % 2 = 0""",
    """INSERT INTO crm_tag (id, name, created_at)
        SELECT i, CASE WHEN i = 1 THEN 'VIP' ELSE '標籤' || i END, now()
        FROM generate_series(1, %(tags)s) i""",
    """INSERT INTO crm_tag_members (tag_id, member_id)
        SELECT DISTINCT tag_id, member_id FROM (
            SELECT 1 AS tag_id, i AS member_id FROM generate_series(1, %(n)s) i WHERE i % 20 = 7
            UNION ALL
            SELECT 2 + (random() * (%(tags)s - 2))::int, i FROM generate_series(1, %(n)s) i
            WHERE random() < 0.3) t""",
]
SEQUENCES = ("crm_store", "crm_member", "crm_tag")


def log(message: str = "") -> None:
    print(message, flush=True)


def load(url: str, members: int) -> None:
    with psycopg.connect(url) as conn:
        for statement in LOAD_SQL:
            started = time.perf_counter()
            values = {"%(n)s": members, "%(stores)s": STORES, "%(tags)s": TAGS}
            for placeholder, value in values.items():  # whole numbers only: safe to inline
                statement = statement.replace(placeholder, str(int(value)))
            conn.execute(statement)
            table = statement.split("INTO ")[1].split()[0] if "INTO" in statement else "seed"
            log(f"  {table:<20} {time.perf_counter() - started:6.1f} s")
        for table in SEQUENCES:
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"  # noqa: S608
            )
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def time_page(client, url: str, repeat: int, htmx: bool = False) -> tuple[float, int, float, int]:
    """(median ms, queries, slowest query ms, rows shown) of GET url."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, **headers)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")
    rows = response.content.decode().count('data-testid="member-row"')
    with CaptureQueriesContext(connection) as queries:
        client.get(url, **headers)
    slowest = max((float(q["time"]) * 1000 for q in queries.captured_queries), default=0.0)
    return statistics.median(times), len(queries), slowest, rows


def run(url: str, args) -> None:
    import os

    os.environ.update(django_env(url))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.test import Client

    from crm.models import Member
    from crm.selectors import MemberListFilters, member_list_page
    from omnichannel.roles import MARKETER
    from omnichannel.services import user_upsert_with_role

    user = user_upsert_with_role(
        username="bench-bob",
        password="bench-password",  # noqa: S106 (a throw-away database)
        role=MARKETER,
        email="bench@example.com",
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    client.get("/members/")  # templates and URLconf loaded once, outside the timings

    probe = args.members * 7 // 9 or 1
    national = f"09{probe:08d}"
    phone = f"{national[:4]}-{national[4:7]}-{national[7:]}"
    cursor = member_list_page(
        filters=MemberListFilters(home_store_id=3, consent_channel="line", consent_state="opted_in")
    ).next_cursor
    consent = "/members/?consent_channel="
    pages = [
        ("first page, newest first", "/members/", False),
        ("filter home store", "/members/?store=3", False),
        ("filter acquisition channel app", "/members/?channel=app", False),
        ("filter tag VIP (5 %)", "/members/?tag=1", False),
        ("filter LINE consent opted in", f"{consent}line&consent=opted_in", False),
        (
            "filter LINE consent opted out",
            f"{consent}line&consent=opted_out",
            False,
        ),
        (
            "filter email consent: no decision",
            f"{consent}email&consent=none",
            False,
        ),
        ("filter bought store and web (OMO)", "/members/?bought=store&bought=web", False),
        ("filter bought app and line_shop", "/members/?bought=app&bought=line_shop", False),
        ("sort total spend, highest first", "/members/?sort=-spend", False),
        ("sort last purchase, newest first", "/members/?sort=-last_purchase", False),
        ("sort name", "/members/?sort=name", False),
        (
            "store + LINE opted in + spend order",
            "/members/?store=3&consent_channel=line&consent=opted_in&sort=-spend",
            False,
        ),
        (
            "tag VIP + bought web + last purchase",
            "/members/?tag=1&bought=web&sort=-last_purchase",
            False,
        ),
        (f"search phone '{phone}'", f"/members/?q={phone}", False),
        ("search name prefix '陳美'", "/members/?q=陳美", False),
        ("search name prefix '陳' + store", "/members/?q=陳&store=3", False),
        (
            "load more: page 2, store + LINE in",
            f"/members/?store=3&consent_channel=line&consent=opted_in&after={cursor}",
            True,
        ),
    ]
    log(f"\nmembers: {Member.objects.count():,}")
    log(f"{'page':<44} {'median ms':>9} {'queries':>7} {'slowest SQL ms':>14} {'rows':>5}")
    misses = []
    for label, page_url, htmx in pages:
        median, queries, slowest, rows = time_page(client, page_url, args.repeat, htmx)
        log(f"{label:<44} {median:>9.1f} {queries:>7} {slowest:>14.1f} {rows:>5}")
        if median >= GOAL_MS:
            misses.append(label)
    log()
    log(
        f"{'PASS' if not misses else 'MISS'}  every first page under {GOAL_MS:.0f} ms at "
        f"{args.members:,} members (median of {args.repeat})"
        + (f": slower: {', '.join(misses)}" if misses else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="time an already loaded database")
    args = parser.parse_args()
    url = args.database_url
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        sys.exit("the bench needs PostgreSQL")
    if not parts.path.rstrip("/").endswith("_bench"):
        sys.exit(f"refusing to drop {parts.path.lstrip('/')!r}: the bench database ends in _bench")

    log(f"member_list: {args.members:,} members, {parts.hostname}{parts.path}")
    if not args.reuse:
        recreate_database(url)
        migrate(url)
        started = time.perf_counter()
        load(url, args.members)
        log(f"loaded in {time.perf_counter() - started:.1f} s (incl. VACUUM ANALYZE)")
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
