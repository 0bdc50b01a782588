"""Bench: a campaign's conversions credited from the order feed, and its report read.

    uv run python bench/campaign_report.py [--members 1000000] [--orders 5000000]
        [--new-orders 100000] [--repeat 20] [--database-url URL] [--keep]

1. The database (--database-url, default postgres://postgres@127.0.0.1:5432/
   omni_campaign_report_bench; its name must end in "_bench") is dropped, created and migrated.
   Written set-wise in SQL: --members members and a finished campaign to all of them, its
   deliveries (one a member: 90 % sent over the launch's first hour in variants A and B on LINE,
   one in twenty of them clicked, 10 % held out); then --orders orders of those members placed in
   the campaign's 3-day window (COPY: web and store sales), credited to the campaign in one
   INSERT … SELECT, and the kept figures computed by `campaign_figures_rebuild` (timed: the
   repair at this size).
2. A day's --new-orders orders arrive through crm's orders service (`orders_upsert`, batches of
   5,000, as an import writes them: the feed is written with them), 2 % of them store returns
   of earlier sales; then the consumer "campaigns.conversions" credits them (timed: seconds and
   orders/s, the goal being that a day's orders are credited well within the minute job's
   cadence several times over). The figures it kept are compared with what
   `campaign_figures_rebuild` computes from the raw rows (EQUAL or MISMATCH).
3. The report read: `campaign_report` (the selector the report page is built on: the kept
   figures and the variant/lift tests) and,
   when the report page exists, the page through Django's test client: median of --repeat runs
   against the 300 ms goal (the ratio is goal / median: above 1 is better than the goal).
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_db import ROOT, copy_lines, drop_database, migrate, recreate_database

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/omni_campaign_report_bench"
GOAL_MS = 300.0
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SEED_SQL = [
    """INSERT INTO crm_member (id, member_no, name, gender, joined_at, acquisition_channel,
            status, attributes, created_at, updated_at)
        SELECT i, 'B' || lpad(i::text, 9, '0'), '會員' || i, '', now(), 'store', 'active', '{}',
            now(), now()
        FROM generate_series(1, %(n)s) i""",
    "SELECT setval(pg_get_serial_sequence('crm_member', 'id'), %(n)s)",
    "INSERT INTO crm_store (id, code, name, city) VALUES (1, 'TP01', '台北店', '')",
    "SELECT setval(pg_get_serial_sequence('crm_store', 'id'), 1)",
    """INSERT INTO campaigns_campaign (id, name, channels, is_marketing, status, variant_split,
            winner_metric, winner_test_percent, winner_after_hours, winner_variant,
            holdout_percent, conversion_window_delivery_days, conversion_window_click_days,
            utm_campaign, audience_count, error, created_at, updated_at, launched_at,
            finished_at)
        VALUES (1, 'Bench', '["line"]', true, 'done', '{"A": 50, "B": 50}', '', 20, 4, '', 10,
            3, 7, '', %(n)s, '', %(t0)s, %(t0)s, %(t0)s, %(t0)s + interval '1 hour')""",
    "SELECT setval(pg_get_serial_sequence('campaigns_campaign', 'id'), 1)",
    """INSERT INTO campaigns_delivery (campaign_id, member_id, channel, variant, status, reason,
            error, provider_id, is_marketing, created_at, sent_at, clicked_at, revenue_twd)
        SELECT 1, i,
            CASE WHEN i % 10 = 0 THEN '' ELSE 'line' END,
            CASE WHEN i % 10 = 0 THEN '' WHEN i % 2 = 0 THEN 'A' ELSE 'B' END,
            CASE WHEN i % 10 = 0 THEN 'held_out' ELSE 'sent' END,
            CASE WHEN i % 10 = 0 THEN 'holdout' ELSE '' END,
            '', '', true, %(t0)s,
            CASE WHEN i % 10 = 0 THEN NULL ELSE %(t0)s + (i % 3600) * interval '1 second' END,
            CASE WHEN i % 20 = 1 THEN %(t0)s + interval '2 hours' END, 0
        FROM generate_series(1, %(n)s) i""",
]
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
CREDIT_SQL = """
INSERT INTO campaigns_conversion (campaign_id, delivery_id, member_id, order_id, basis, arm,
    variant, sales_channel, store_id, placed_at, day, amount_twd, credited_at)
SELECT d.campaign_id, d.id, o.member_id, o.id,
    CASE WHEN d.clicked_at <= o.placed_at AND o.placed_at < d.clicked_at + interval '7 days'
         THEN 'click' ELSE 'delivery' END,
    CASE WHEN d.status = 'held_out' THEN d.reason ELSE 'sent' END,
    CASE WHEN d.status = 'held_out' THEN '' ELSE d.variant END,
    o.channel, o.store_id, o.placed_at, (o.placed_at AT TIME ZONE 'Asia/Taipei')::date,
    o.amount_twd, now()
FROM crm_order o JOIN campaigns_delivery d ON d.member_id = o.member_id AND d.campaign_id = 1
WHERE o.status = 'placed' AND o.returns_external_no = '' AND (
    (d.status = 'sent' AND (
        (d.sent_at <= o.placed_at AND o.placed_at < d.sent_at + interval '3 days')
        OR (d.clicked_at <= o.placed_at AND o.placed_at < d.clicked_at + interval '7 days')))
    OR (d.status = 'held_out' AND d.created_at <= o.placed_at
        AND o.placed_at < d.created_at + interval '3 days'))
"""


def log(message: str = "") -> None:
    print(message, flush=True)


def _order_lines(count: int, members: int, rng: random.Random):
    now = datetime.now(UTC).isoformat()
    window = 3 * 24 * 3600
    for i in range(1, count + 1):
        store = i % 3 == 0
        placed = (T0 + timedelta(seconds=rng.randrange(window))).isoformat()
        yield (
            f"{rng.randrange(1, members + 1)}\t{'store' if store else 'web'}\t"
            f"{1 if store else chr(92) + 'N'}\t{'S' if store else 'W'}{i:09d}\t"
            f"{rng.randrange(100, 5000)}\t{placed}\tplaced\t\t{now}\t{now}\n"
        )


def seed(url: str, members: int, orders: int, rng: random.Random) -> None:
    values = {"%(n)s": str(int(members)), "%(t0)s": f"'{T0.isoformat()}'::timestamptz"}
    with psycopg.connect(url) as conn:
        for statement in SEED_SQL:
            for placeholder, value in values.items():  # constants only: safe to inline
                statement = statement.replace(placeholder, value)
            conn.execute(statement)
        conn.commit()
        started = time.perf_counter()
        copy_lines(conn, "crm_order", ORDER_COLUMNS, _order_lines(orders, members, rng))
        conn.commit()
        log(f"  {orders:,} orders by COPY in {time.perf_counter() - started:.1f} s")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        credited = conn.execute(CREDIT_SQL).rowcount
        conn.commit()
        log(
            f"  {credited:,} of them credited by INSERT … SELECT in "
            f"{time.perf_counter() - started:.1f} s"
        )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _new_orders(count: int, members: int, existing: int, rng: random.Random):
    """A day's orders (the window's second day); 2 % are store returns of earlier sales."""
    from crm.services.orders import OrderIn

    rows = []
    for i in range(1, count + 1):
        placed = T0 + timedelta(days=1, seconds=rng.randrange(24 * 3600))
        member = rng.randrange(1, members + 1)
        if i % 50 == 0:
            sale = rng.randrange(1, existing // 3 + 1) * 3  # a store sale (every third order)
            rows.append(
                (
                    OrderIn(
                        channel="store",
                        external_no=f"R{i:09d}",
                        amount_twd=-rng.randrange(50, 100),
                        placed_at=placed,
                        status="placed",
                        store_code="TP01",
                        is_return=True,
                        returns_external_no=f"S{sale:09d}",
                    ),
                    None,
                )
            )
            continue
        store = i % 3 == 0
        rows.append(
            (
                OrderIn(
                    channel="store" if store else "web",
                    external_no=f"{'N' if store else 'V'}{i:09d}",
                    amount_twd=rng.randrange(100, 5000),
                    placed_at=placed,
                    status="placed",
                    store_code="TP01" if store else "",
                ),
                member,
            )
        )
    return rows


def _figures_state():
    from campaigns.models import CampaignFigures, CampaignFiguresDaily, Delivery

    return (
        sorted(
            CampaignFigures.objects.filter(campaign_id=1).values_list(
                "arm",
                "variant",
                "channel",
                "members",
                "sent",
                "converted",
                "orders",
                "revenue_online_twd",
                "revenue_store_twd",
                "revenue_sumsq",
                "revenue_store_sumsq",
            )
        ),
        sorted(
            CampaignFiguresDaily.objects.filter(campaign_id=1, orders__gt=0).values_list(
                "day", "arm", "variant", "orders", "revenue_twd"
            )
        ),
        Delivery.objects.filter(campaign_id=1, revenue_twd__gt=0).count(),
    )


def _median_ms(call, repeat: int) -> float:
    call()  # warm: imports, templates, the URLconf
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _report_urls() -> list[tuple[str, dict]]:
    """The report card (what the variant switcher fetches) and the whole campaign page."""
    from django.urls import reverse

    return [
        (reverse("campaigns:report", args=[1]), {"HTTP_HX_REQUEST": "true"}),
        (reverse("campaigns:detail", args=[1]), {}),
    ]


def run(url: str, args) -> None:
    os.environ.update({"DATABASE_URL": url, "DJANGO_DEBUG": "false"})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnichannel.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    from campaigns.selectors import campaign_report
    from campaigns.services.conversions import conversions_consume
    from campaigns.services.figures import campaign_figures_rebuild
    from crm.services.orders import orders_upsert

    started = time.perf_counter()
    campaign_figures_rebuild(campaign_id=1)
    log(f"  campaign_figures_rebuild at this size: {time.perf_counter() - started:.1f} s")

    rng = random.Random(args.seed + 1)
    rows = _new_orders(args.new_orders, args.members, args.orders, rng)
    started = time.perf_counter()
    for start in range(0, len(rows), 5_000):
        chunk = rows[start : start + 5_000]
        orders_upsert(orders=[o for o, _ in chunk], member_ids=[m for _, m in chunk])
    written = time.perf_counter() - started
    log(
        f"\n{len(rows):,} new orders through orders_upsert (crm, the feed written): "
        f"{written:.1f} s, {len(rows) / written:,.0f} orders/s"
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM campaigns_conversion")
        before = cursor.fetchone()[0]
    started = time.perf_counter()
    handled = conversions_consume()
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM campaigns_conversion")
        after = cursor.fetchone()[0]
    log(
        f"consumer campaigns.conversions: {handled:,} changes in {seconds:.1f} s, "
        f"{handled / seconds:,.0f} orders/s; conversions {before:,} → {after:,}"
    )

    kept = _figures_state()
    campaign_figures_rebuild(campaign_id=1)
    rebuilt = _figures_state()
    log(f"kept figures vs campaign_figures_rebuild: {'EQUAL' if kept == rebuilt else 'MISMATCH'}")
    if kept != rebuilt:
        log(f"  kept    {kept[0]}\n  rebuilt {rebuilt[0]}")

    log()
    log(f"{'read':<44} {'median ms':>9} {'ratio':>6}")
    median = _median_ms(lambda: campaign_report(campaign_id=1), args.repeat)
    log(f"{'campaign_report (selector + tests)':<44} {median:>9.2f} {GOAL_MS / median:>6.1f}")
    from django.contrib.auth import get_user_model
    from django.test import Client

    admin = get_user_model().objects.create_superuser("bench", "bench@example.com", "x")
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
    for page, headers in _report_urls():
        client.get(page, **headers)  # the first request imports scipy/statsmodels
        median = _median_ms(
            lambda page=page, headers=headers: client.get(page, **headers), args.repeat
        )
        log(f"{'page ' + page:<44} {median:>9.2f} {GOAL_MS / median:>6.1f}")
    log(
        f"{'PASS' if median < GOAL_MS else 'MISS'}  report read under {GOAL_MS:.0f} ms "
        f"(median of {args.repeat})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=5_000_000)
    parser.add_argument("--new-orders", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    url = args.database_url
    if urlsplit(url).scheme not in ("postgres", "postgresql"):
        sys.exit("the bench needs PostgreSQL (COPY, INSERT … SELECT)")
    log(
        f"campaign_report: {args.members:,} members, {args.orders:,} orders, "
        f"{args.new_orders:,} new ({urlsplit(url).path.lstrip('/')})"
    )
    recreate_database(url)  # refuses a name that does not end in _bench
    try:
        migrate(url)
        started = time.perf_counter()
        seed(url, args.members, args.orders, random.Random(args.seed))
        log(f"  seeded in {time.perf_counter() - started:.1f} s")
        run(url, args)
    finally:
        if not args.keep:
            if "django" in sys.modules and os.environ.get("DJANGO_SETTINGS_MODULE"):
                from django.db import connections

                connections.close_all()
            drop_database(url)


if __name__ == "__main__":
    main()
