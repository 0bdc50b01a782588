"""Bench: the programme overview's figures (/loyalty/) and a member's points history page, at
the issue's scale (1M accounts, 10M ledger entries).

    uv run python bench/loyalty_overview.py [--accounts 1000000] [--entries-per-account 10]
        [--repeat 5] [--database-url URL] [--keep]

1. The database (--database-url, default postgres://postgres@127.0.0.1:5432/
   omni_loyalty_overview_bench; its name must end in "_bench") is dropped, created and migrated.
   Written set-wise in SQL (INSERT … SELECT over generate_series): --accounts members and their
   points accounts spread over the four tiers, --entries-per-account ledger entries each over
   the last two years (earn +100; every 4th a debit of 40, a redeem or for one in three an
   expire, with the balance after each entry worked out in closed form so the ledger's checks
   hold), a tier
   change for every tenth account in the last year, and a coupon for every fifth of 20 rewards.
   Then VACUUM ANALYZE (what autovacuum does to a table this size; index-only scans need it).
2. Timed, median of --repeat runs each: `programme_overview` for the last 30 days and for the
   last 365 days (every figure of the page: flows, outstanding, breakage, tiers, movements, top
   rewards, the chart's series), and one page of a member's points history (the keyset page).
   The ratio printed is the goal (1 s for the overview, 100 ms for the history page) over the
   median: above 1 is better than the goal.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_db import ROOT, django_env, drop_database, migrate, recreate_database

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/omni_loyalty_overview_bench"
OVERVIEW_GOAL_MS = 1_000.0
HISTORY_GOAL_MS = 100.0

SEED_SQL = [
    """INSERT INTO crm_member (id, member_no, name, gender, joined_at, acquisition_channel,
            status, attributes, created_at, updated_at)
        SELECT i, 'B' || lpad(i::text, 9, '0'), '會員' || i, '', now(), 'store', 'active', '{}',
            now(), now()
        FROM generate_series(1, %(n)s) i""",
    "SELECT setval(pg_get_serial_sequence('crm_member', 'id'), %(n)s)",
    # Balance after entry j: earns (+100) = j − ⌊j/4⌋, debits (−40: a redeem, or for one
    # account in three an expire) = ⌊j/4⌋.
    """INSERT INTO loyalty_pointsaccount (id, member_id, balance, entries, tier_id,
            spend_12m_twd, created_at, updated_at)
        SELECT i, i,
            100 * (%(k)s - %(k)s / 4) - 40 * (%(k)s / 4),
            %(k)s,
            (SELECT id FROM loyalty_tier WHERE rank = CASE WHEN i %% 20 = 0 THEN 3
                WHEN i %% 7 = 0 THEN 2 WHEN i %% 3 = 0 THEN 1 ELSE 0 END),
            0, now(), now()
        FROM generate_series(1, %(n)s) i""",
    "SELECT setval(pg_get_serial_sequence('loyalty_pointsaccount', 'id'), %(n)s)",
    """INSERT INTO loyalty_pointstransaction (account_id, seq, kind, points, balance_after,
            expires_on, order_no, reason, source, at, idempotency_key)
        SELECT i, j,
            CASE WHEN j %% 4 <> 0 THEN 'earn' WHEN (i + j / 4) %% 3 = 0 THEN 'expire'
                ELSE 'redeem' END,
            CASE WHEN j %% 4 <> 0 THEN 100 ELSE -40 END,
            100 * (j - j / 4) - 40 * (j / 4),
            CASE WHEN j %% 4 <> 0 THEN (now() - (%(k)s - j) * interval '73 days')::date
                + 365 END,
            '', '', 'order',
            now() - (%(k)s - j) * (interval '730 days' / %(k)s) - (i %% 86400) * interval '1 s',
            'b:' || i || ':' || j
        FROM generate_series(1, %(n)s) i, generate_series(1, %(k)s) j""",
    """INSERT INTO loyalty_tierchange (account_id, from_tier_id, to_tier_id, reason,
            spend_12m_twd, at)
        SELECT i, (SELECT id FROM loyalty_tier WHERE rank = 0),
            (SELECT id FROM loyalty_tier WHERE rank = 1), 'nightly', 12000,
            now() - (i %% 365) * interval '1 day'
        FROM generate_series(10, %(n)s, 10) i""",
    """INSERT INTO loyalty_reward (name, description, points_price, discount_twd, issued_count,
            coupon_valid_days, image, is_active, created_at, updated_at)
        SELECT '兌換品 ' || r, '', r * 100, r * 100, 0, 30, '', true, now(), now()
        FROM generate_series(1, 20) r""",
    """INSERT INTO loyalty_coupon (code, reward_id, account_id, status, issued_at, expires_at,
            used_at, used_via, used_order_no)
        SELECT 'C' || lpad(i::text, 12, '0'),
            (SELECT min(id) FROM loyalty_reward) + i %% 20, i,
            CASE WHEN i %% 3 = 0 THEN 'used' ELSE 'issued' END,
            now() - (i %% 365) * interval '1 day',
            now() - (i %% 365) * interval '1 day' + interval '30 days',
            CASE WHEN i %% 3 = 0 THEN now() - (i %% 365) * interval '1 day' + interval '1 day'
            END,
            CASE WHEN i %% 3 = 0 THEN 'till' ELSE '' END, ''
        FROM generate_series(5, %(n)s, 5) i""",
]


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--entries-per-account", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    n, k = args.accounts, args.entries_per_account

    started = time.perf_counter()
    recreate_database(args.database_url)
    migrate(args.database_url)
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        for statement in SEED_SQL:
            conn.execute(statement, {"n": n, "k": k})
        conn.execute("VACUUM ANALYZE")  # as autovacuum would: index-only scans need it
    print(
        f"seeded {n:,} accounts, {n * k:,} entries, {n // 10:,} tier changes, "
        f"{n // 5:,} coupons in {time.perf_counter() - started:.0f} s",
        flush=True,
    )

    os.environ.update(django_env(args.database_url))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from loyalty.selectors_overview import (
        HistoryFilters,
        breakage_observed,
        default_period,
        period_flows,
        period_series,
        points_history_page,
        points_moved_since,
        programme_overview,
        tier_rows,
        top_rewards,
    )

    for days in (30, 365):
        period = default_period(days=days)
        figures = programme_overview(period=period)
        ms = _median_ms(lambda period=period: programme_overview(period=period), args.repeat)
        print(
            f"overview, last {days} days: median {ms:,.0f} ms "
            f"(goal {OVERVIEW_GOAL_MS:,.0f} ms, ratio {OVERVIEW_GOAL_MS / ms:.2f}); "
            f"issued {figures.flows.issued:,}, outstanding {figures.outstanding:,}, "
            f"breakage {figures.breakage.percent or 0:.1f} %",
            flush=True,
        )
        parts = {
            "flows": lambda period=period: period_flows(period=period),
            "tiers": lambda period=period: tier_rows(period=period),
            "moved since": lambda period=period: points_moved_since(at=period.end_at),
            "breakage": lambda period=period: breakage_observed(until=period.end),
            "series": lambda period=period: period_series(period=period),
            "rewards": lambda period=period: top_rewards(period=period),
        }
        print(
            "  of which: "
            + ", ".join(f"{name} {_median_ms(fn, 3):,.0f} ms" for name, fn in parts.items()),
            flush=True,
        )
    account_id = n // 2
    ms = _median_ms(
        lambda: points_history_page(account_id=account_id, filters=HistoryFilters()),
        args.repeat,
    )
    print(
        f"points history page: median {ms:,.1f} ms "
        f"(goal {HISTORY_GOAL_MS:,.0f} ms, ratio {HISTORY_GOAL_MS / ms:.1f})",
        flush=True,
    )
    if not args.keep:
        from django.db import connections

        connections.close_all()
        drop_database(args.database_url)


if __name__ == "__main__":
    main()
