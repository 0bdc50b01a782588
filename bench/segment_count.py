"""Bench: segment counts and the member list's first page at a million members.

    uv run python bench/segment_count.py [--members 1000000] [--orders 5000000] [--repeat 5]
                                         [--database-url URL] [--explain] [--keep]

Drops, creates and migrates the database (default
postgres://postgres@127.0.0.1:5432/omni_segments_bench; its name must end in "_bench") and
loads with COPY: 20 stores, --members members (profiles spread over genders, ages, stores and
acquisition channels; one in a hundred merged into its neighbour), their identities (phone,
email, LINE, card), consent rows (some members changed their mind: two rows, the newer wins),
10 tags on about half of them, and --orders orders over the last three years in the order they
would have arrived (time order; a few anonymous store sales, cancellations and store returns),
7 in 10 members buying, the older ones more often, each keeping to a habit (45 % of buyers in
store only, 35 % online only, 20 % anywhere). MemberStats and RFM groups are then built by
crm.services.stats.member_stats_rebuild (the nightly job's code), and VACUUM ANALYZE runs.

It then counts five segments of 3-5 rules each (OMO, RFM, spend in a period, consent, tags,
OR groups) with crm.segments.segment_count, once untimed (the VACUUM just read every table
through the buffers) and then --repeat times each, and prints the median, the
fastest and slowest in ms, the count, and the ratio of the goal (500 ms) to the median (above
1: faster than the goal); then the member list's first page with a filter, through whatever
crm.selectors offers for it (member_list_page; its rows, home store and contacts), against
its goal of 200 ms. --explain prints EXPLAIN ANALYZE of
each segment's count.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from bench_db import copy_lines, django_env, drop_database, migrate, recreate_database
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/omni_segments_bench"
SEGMENT_GOAL_MS = 500.0
LIST_GOAL_MS = 200.0
STORES = 20
TAGS = (
    "VIP",
    "newsletter",
    "complained",
    "staff",
    "wholesale",
    "student",
    "event-2026",
    "sample",
    "influencer",
    "birthday-club",
)
COPY_ROWS_PER_WRITE = 50_000
SURNAMES = "陳林黃張李王吳劉蔡楊許鄭謝郭洪曾邱廖賴周"
GIVEN = "美玲志豪淑芬家豪怡君俊傑雅婷建宏佩珊冠宇"
N = chr(92) + "N"  # COPY's NULL


def log(message: str = "") -> None:
    print(message, flush=True)


# --- Database ---------------------------------------------------------------------------------


# --- Data -------------------------------------------------------------------------------------


def name_of(n: int) -> str:
    return SURNAMES[n % len(SURNAMES)] + GIVEN[(n // 7) % len(GIVEN)] + GIVEN[(n // 3) % len(GIVEN)]


def buyer_of(k: int) -> int:
    """The k-th buying member: members whose id ends in 0-6 buy (7 in 10), in id order."""
    return (k // 7) * 10 + k % 7 + 1


def load(url: str, members: int, orders: int, now: datetime) -> dict[str, int]:
    rng = random.Random(1)
    stamp = now.isoformat()
    joined_from = now - timedelta(days=6 * 365)
    counts: dict[str, int] = {}
    with psycopg.connect(url, autocommit=False) as conn:
        copy_lines(
            conn,
            "crm_store",
            ("id", "code", "name", "city", "opened_on"),
            (f"{s}\tS{s:02d}\t門市{s:02d}\t台北\t{N}\n" for s in range(1, STORES + 1)),
        )

        def member_lines():
            genders = ("female", "female", "female", "male", "male", "other", "")
            channels = ("store", "store", "web", "marketplace", "app", "line_shop", "")
            for n in range(1, members + 1):
                merged = n % 100 == 0
                birthday = (
                    N
                    if n % 10 == 9
                    else date(1950 + n % 55, 1 + n % 12, 1 + (n // 12) % 28).isoformat()
                )
                store = N if n % 10 >= 7 else str(1 + n % STORES)
                joined = joined_from + timedelta(seconds=n * 6 * 365 * 86_400 // members)
                yield (
                    f"{n}\tM{n:09d}\t{name_of(n)}\t{birthday}\t{genders[n % 7]}\t{store}\t"
                    f"{joined.isoformat()}\t{channels[(n // 3) % 7]}\t"
                    f"{'merged' if merged else 'active'}\t{n - 1 if merged else N}\t{{}}\t"
                    f"{stamp}\t{stamp}\n"
                )

        columns = (
            "id", "member_no", "name", "birthday", "gender", "home_store_id", "joined_at",
            "acquisition_channel", "status", "merged_into_id", "attributes", "created_at",
            "updated_at",
        )  # fmt: skip
        counts["members"] = copy_lines(conn, "crm_member", columns, member_lines())

        def identity_lines():
            for n in range(1, members + 1):
                if n % 10 != 3:
                    yield f"{n}\tphone\t+8869{(n * 7_919) % 10**8:08d}\tstore\t{stamp}\t{stamp}\n"
                if n % 5 < 3:
                    yield f"{n}\temail\tm{n}@example.com\tweb\t{stamp}\t{stamp}\n"
                if n % 5 >= 3:
                    yield f"{n}\tline_user_id\tU{n:032x}\tline\t{stamp}\t{stamp}\n"
                if n % 3 == 0:
                    yield f"{n}\tpos_card\tC{n:09d}\tstore\t{stamp}\t{stamp}\n"

        columns = ("member_id", "kind", "value", "source", "first_seen_at", "last_seen_at")
        counts["identities"] = copy_lines(conn, "crm_identity", columns, identity_lines())

        def consent_lines():
            for n in range(1, members + 1):
                decided = (now - timedelta(days=n % 700 + 10)).isoformat()
                later = (now - timedelta(days=n % 9 + 1)).isoformat()
                for channel, share in (("email", 6), ("line", 4), ("sms", 3), ("push", 2)):
                    if (n // 3 + share) % 10 < share:
                        state = "opted_in" if n % 7 else "opted_out"
                        yield f"{n}\t{channel}\t{state}\timport\t{decided}\t{stamp}\n"
                        if n % 11 == 0:  # changed their mind since: the newer row is the state
                            flipped = "opted_out" if state == "opted_in" else "opted_in"
                            yield f"{n}\t{channel}\t{flipped}\tweb\t{later}\t{stamp}\n"

        columns = ("member_id", "channel", "state", "source", "at", "recorded_at")
        counts["consents"] = copy_lines(conn, "crm_consent", columns, consent_lines())

        copy_lines(
            conn,
            "crm_tag",
            ("id", "name", "created_at"),
            (f"{i}\t{name}\t{stamp}\n" for i, name in enumerate(TAGS, 1)),
        )

        def tag_lines():
            for n in range(1, members + 1):
                if n % 2:
                    yield f"{1 + n % len(TAGS)}\t{n}\n"
                if n % 13 == 0:
                    yield f"1\t{n}\n" if (1 + n % len(TAGS)) != 1 else f"2\t{n}\n"

        counts["tag links"] = copy_lines(
            conn, "crm_tag_members", ("tag_id", "member_id"), tag_lines()
        )

        def order_lines():
            buyers = members * 7 // 10
            span = 3 * 365 * 86_400
            start = now - timedelta(seconds=span)
            online = ("web",) * 5 + ("marketplace",) * 3 + ("app", "line_shop")
            channels = ("store",) * 10 + online
            for i in range(orders):  # time order, as orders arrive
                placed = (start + timedelta(seconds=i * span // orders)).isoformat()
                buyer = buyer_of(int(buyers * rng.random() ** 1.6))
                # People keep to their habits: 45 % of buyers only ever buy in store, 35 %
                # only online, 20 % anywhere (the OMO share grows from those).
                habit = buyer % 20
                if habit < 9:
                    channel = "store"
                elif habit < 16:
                    channel = online[rng.randrange(10)]
                else:
                    channel = channels[rng.randrange(20)]
                roll = rng.random()
                member = str(buyer)
                store = str(1 + rng.randrange(STORES)) if channel == "store" else N
                if channel == "store" and roll < 0.03:
                    member = N  # an anonymous store sale
                status = "cancelled" if 0.03 <= roll < 0.05 else "placed"
                amount = 100 + int(rng.random() ** 2 * 8_000)
                yield (
                    f"{member}\t{channel}\t{store}\t{channel[0].upper()}{i:09d}\t{amount}\t"
                    f"{placed}\t{status}\t\t{stamp}\t{stamp}\n"
                )
                if channel == "store" and 0.05 <= roll < 0.06 and member != N:  # a return
                    yield (
                        f"{member}\t{channel}\t{store}\tR{i:09d}\t{-amount // 2}\t{placed}\t"
                        f"placed\t{channel[0].upper()}{i:09d}\t{stamp}\t{stamp}\n"
                    )

        columns = (
            "member_id", "channel", "store_id", "external_no", "amount_twd", "placed_at",
            "status", "returns_external_no", "created_at", "updated_at",
        )  # fmt: skip
        counts["orders"] = copy_lines(conn, "crm_order", columns, order_lines())
        for table in ("crm_store", "crm_member", "crm_tag"):
            conn.execute(
                sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), max(id)) FROM {}").format(
                    sql.Literal(table), sql.Identifier(table)
                )
            )
        conn.commit()
    return counts


def vacuum_analyze(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


# --- The segments -----------------------------------------------------------------------------


def rule(key: str, operator: str, value=None, period=None) -> dict:
    condition = {"rule": key, "operator": operator, "value": value}
    if period is not None:
        condition["period"] = period
    return condition


def and_(*rules) -> dict:
    return {"op": "and", "rules": list(rules)}


def or_(*rules) -> dict:
    return {"op": "or", "rules": list(rules)}


SEGMENTS = [
    (
        "OMO women 25-45, LINE opted in, has a phone",
        and_(
            rule("shopper_type", "is", "omo"),
            rule("gender", "is", "female"),
            rule("age", "between", [25, 45]),
            rule("consent", "opted_in", "line"),
            rule("identifier", "has", "phone"),
        ),
    ),
    (
        "RFM Champions or Loyal, email opted in, Taipei stores 1-5",
        and_(
            rule("rfm_group", "in", ["champions", "loyal"]),
            rule("consent", "opted_in", "email"),
            rule("home_store", "in", [1, 2, 3, 4, 5]),
        ),
    ),
    (
        "Spent NT$5,000+ in the last 90 days online, not VIP, joined 1y+ ago",
        and_(
            rule("spend", "gte", 5_000, {"last_days": 90}),
            rule("purchased_in", "any_of", ["web", "app", "marketplace"]),
            rule("tags", "has_none", [1]),
            rule("joined", "more_than_days_ago", 365),
        ),
    ),
    (
        "Lapsed 180d+, once 3+ orders, in store only, not opted out of SMS",
        and_(
            rule("recency", "gte", 180),
            rule("orders", "gte", 3),
            rule("shopper_type", "is", "offline_only"),
            rule("consent", "not_opted_in", "sms"),
        ),
    ),
    (
        "Birthday this month with LINE, or At risk / Can't lose with a VIP tag",
        or_(
            and_(rule("birthday_month", "this_month"), rule("identifier", "has", "line_user_id")),
            and_(
                rule("rfm_group", "in", ["at_risk", "cant_lose"]),
                rule("tags", "has_any", [1]),
                rule("orders", "gte", 1, {"last_days": 365}),
            ),
        ),
    ),
]


def time_segments(repeat: int, explain: bool) -> list[tuple[str, float, float, float, int]]:
    from django.db import connection

    from crm.segments import segment_count, segment_queryset

    results = []
    for label, definition in SEGMENTS:
        segment_count(definition)  # warm-up, not timed: a marketer's database is not cold
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            count = segment_count(definition)
            times.append((time.perf_counter() - started) * 1000)
        results.append((label, statistics.median(times), min(times), max(times), count))
        if explain:
            query, params = segment_queryset(definition).values("pk").query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute(
                    f"EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM ({query}) q",  # noqa: S608
                    params,
                )
                log(f"\n--- {label}")
                log("\n".join(row[0] for row in cursor.fetchall()))
    return results


def time_member_list(repeat: int) -> list[tuple[str, float, float, float, int]]:
    """The member list's first page with a filter, through crm.selectors (member_list_page)."""
    from crm.selectors import MemberListFilters, member_list_page

    results = []
    for label, filters in (
        (
            "member list, first page: home store 3, LINE opted in",
            MemberListFilters(home_store_id=3, consent_channel="line", consent_state="opted_in"),
        ),
        (
            "member list, first page: segment 'RFM Champions or Loyal, …'",
            MemberListFilters(segment_definition=SEGMENTS[1][1]),
        ),
    ):
        times, rows = [], []
        for _ in range(repeat):
            started = time.perf_counter()
            rows = member_list_page(filters=filters).members
            times.append((time.perf_counter() - started) * 1000)
        results.append((label, statistics.median(times), min(times), max(times), len(rows)))
    return results


def run(url: str, args) -> None:
    now = datetime.now(UTC)
    if not args.reuse:
        started = time.perf_counter()
        counts = load(url, args.members, args.orders, now)
        log(
            f"loaded with COPY in {time.perf_counter() - started:.1f} s: "
            + ", ".join(f"{k} {v:,}" for k, v in counts.items())
        )

    os.environ.update(django_env(url))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from crm.models import Member, Order
    from crm.selectors import rfm_group_counts
    from crm.services.stats import member_stats_rebuild

    if not args.reuse:
        started = time.perf_counter()
        rebuilt = member_stats_rebuild()
        log(f"member_stats_rebuild: {rebuilt:,} members in {time.perf_counter() - started:.1f} s")
    log("RFM groups: " + ", ".join(f"{k} {v:,}" for k, v in rfm_group_counts().items()))
    started = time.perf_counter()
    vacuum_analyze(url)
    log(f"VACUUM ANALYZE in {time.perf_counter() - started:.1f} s")
    counts = {"members": Member.objects.count(), "orders": Order.objects.count()}

    results = time_segments(args.repeat, args.explain)
    listing = time_member_list(args.repeat)
    log()
    log(f"{'':<72} {'median':>7} {'min':>7} {'max':>7} {'':>9} {'ratio':>6}")
    log(f"{'segment (count, median of ' + str(args.repeat) + ')':<72} {'ms':>7} {'ms':>7} "
        f"{'ms':>7} {'members':>9} {'goal/x':>6}")  # fmt: skip
    misses = []
    for label, median, fastest, slowest, count in results:
        ratio = SEGMENT_GOAL_MS / median
        log(f"{label:<72} {median:>7.1f} {fastest:>7.1f} {slowest:>7.1f} {count:>9,} {ratio:>6.2f}")
        if median >= SEGMENT_GOAL_MS:
            misses.append(label)
    for label, median, fastest, slowest, count in listing:
        ratio = LIST_GOAL_MS / median
        log(f"{label:<72} {median:>7.1f} {fastest:>7.1f} {slowest:>7.1f} {count:>9,} {ratio:>6.2f}")
        if median >= LIST_GOAL_MS:
            misses.append(label)
    log()
    log(
        f"{'PASS' if not misses else 'MISS'}  every segment count under {SEGMENT_GOAL_MS:.0f} ms "
        f"and the member list's first page under {LIST_GOAL_MS:.0f} ms at {args.members:,} "
        f"members / {counts['orders']:,} orders"
        + (f": slower: {', '.join(misses)}" if misses else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of each")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time a database kept by --keep again (migrated first, so new indexes count)",
    )
    args = parser.parse_args()
    url = args.database_url
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        sys.exit("the bench needs PostgreSQL (COPY, the planner)")
    if not parts.path.rstrip("/").endswith("_bench"):
        sys.exit(f"refusing to drop {parts.path.lstrip('/')!r}: the bench database ends in _bench")

    log(f"segment_count: {args.members:,} members, {args.orders:,} orders, "
        f"{parts.hostname}{parts.path}")  # fmt: skip
    if not args.reuse:
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
