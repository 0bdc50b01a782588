"""Bench: the nightly coupon expiry over a million coupons, and redemptions at once.

    uv run python bench/loyalty_rewards.py [--coupons 1000000] [--accounts 100000]
        [--redeemers 8] [--database-url URL] [--keep]

The database (default postgres://postgres@127.0.0.1:5432/omni_rewards_bench; its name must end
in "_bench") is created, migrated and filled in SQL (generate_series): members, their points
accounts each with one earn entry (balance == ledger sum), two rewards, and `--coupons`
coupons, half of them unused and past their expiry, a quarter unused and valid, a quarter used.
Then, in this process:
1. coupons_expire (the nightly job), timed; then again (must change nothing);
   the issue's goal for nightly jobs over a million rows: minutes, not hours;
2. `--redeemers` threads, each its own PostgreSQL session, redeem the same reward (stock 1,000)
   for different members as fast as they can until it runs out: redemptions/s, and the
   invariants: stock ends at 0 with exactly 1,000 coupons issued, no balance below 0, every
   balance == its ledger sum.
"""

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from bench_db import django_env, drop_database, migrate, recreate_database

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/omni_rewards_bench"
GOAL_EXPIRY_S = 600.0  # "minutes, not hours": ten minutes is the bar
STOCK = 1_000

LOAD_SQL = (
    """INSERT INTO crm_member (id, member_no, name, gender, joined_at, acquisition_channel,
        status, attributes, created_at, updated_at)
       SELECT i, 'B' || lpad(i::text, 9, '0'), '', '', now(), 'store', 'active', '{}', now(),
              now()
       FROM generate_series(1, %(accounts)s) i""",
    """INSERT INTO loyalty_pointsaccount (id, member_id, balance, entries, spend_12m_twd,
        created_at, updated_at)
       SELECT i, i, 5000, 1, 0, now(), now() FROM generate_series(1, %(accounts)s) i""",
    """INSERT INTO loyalty_pointstransaction (account_id, seq, kind, points, balance_after,
        order_no, reason, source, at, idempotency_key)
       SELECT i, 1, 'earn', 5000, 5000, '', '', 'admin', now(), 'bench-earn:' || i
       FROM generate_series(1, %(accounts)s) i""",
    """INSERT INTO loyalty_reward (id, name, description, points_price, discount_twd, stock,
        issued_count, coupon_valid_days, image, is_active, created_at, updated_at)
       VALUES (1, '購物金 NT$100', '', 100, 100, NULL, %(coupons)s, 30, '', true, now(), now()),
              (2, '週年慶保溫瓶', '', 100, 0, 1000, 0, 30, '', true, now(), now())""",
    # i % 4: 0, 1 unused and past expiry; 2 unused and valid; 3 used.
    """INSERT INTO loyalty_coupon (code, reward_id, account_id, status, issued_at, expires_at,
        used_at, used_via, used_order_no, void_reason)
       SELECT 'C' || lpad(i::text, 11, '0'), 1, 1 + i % %(accounts)s,
              CASE WHEN i % 4 = 3 THEN 'used' ELSE 'issued' END,
              now() - interval '40 days',
              CASE WHEN i % 4 = 2 THEN now() + interval '5 days' ELSE now() - interval '1 day' END,
              CASE WHEN i % 4 = 3 THEN now() - interval '20 days' END,
              CASE WHEN i % 4 = 3 THEN 'till' ELSE '' END, '', ''
       FROM generate_series(1, %(coupons)s) i""",
    "SELECT setval(pg_get_serial_sequence('crm_member', 'id'), %(accounts)s)",
    "SELECT setval(pg_get_serial_sequence('loyalty_pointsaccount', 'id'), %(accounts)s)",
    "SELECT setval(pg_get_serial_sequence('loyalty_reward', 'id'), 2)",
)


def log(text: str) -> None:
    print(text, flush=True)


def load(url: str, *, accounts: int, coupons: int) -> None:
    values = {"%(accounts)s": accounts, "%(coupons)s": coupons}
    with psycopg.connect(url) as conn:
        for statement in LOAD_SQL:
            started = time.perf_counter()
            for placeholder, value in values.items():  # whole numbers only: safe to inline
                statement = statement.replace(placeholder, str(int(value)))
            conn.execute(statement)
            table = statement.split("INTO ")[1].split()[0] if "INTO" in statement else "sequence"
            log(f"  {table:<28} {time.perf_counter() - started:6.1f} s")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coupons", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--redeemers", type=int, default=8)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    url = args.database_url
    if args.accounts < STOCK + args.redeemers:
        raise SystemExit(f"--accounts must be at least {STOCK + args.redeemers}")
    recreate_database(url)
    migrate(url)
    log(f"loading {args.accounts:,} accounts and {args.coupons:,} coupons")
    load(url, accounts=args.accounts, coupons=args.coupons)

    os.environ.update(django_env(url))
    import django

    django.setup()
    from django.db import connections
    from django.db.models import Sum

    from loyalty.models import Coupon, PointsAccount, PointsTransaction, Reward
    from loyalty.services.rewards import RewardUnavailable, coupons_expire, reward_redeem

    due = Coupon.objects.filter(status="issued", expires_at__lte=django.utils.timezone.now())
    expected = due.count()
    started = time.perf_counter()
    expired = coupons_expire()
    seconds = time.perf_counter() - started
    again = coupons_expire()
    log(
        f"coupons_expire over {args.coupons:,} coupons: {expired:,} expired in {seconds:.1f} s "
        f"({expired / seconds:,.0f}/s; {seconds / GOAL_EXPIRY_S:.3f}× the {GOAL_EXPIRY_S:.0f} s "
        f"bar); second run: {again:,} (expected {expected:,} then 0)"
    )

    next_account = iter(range(1, args.accounts + 1))
    lock = threading.Lock()
    counts = {"issued": 0, "refused": 0}

    def redeemer() -> None:
        try:
            while True:
                with lock:
                    account_id = next(next_account)
                try:
                    reward_redeem(
                        account_id=account_id,
                        reward_id=2,
                        source=PointsTransaction.Source.PAGE,
                        idempotency_key=f"bench:{account_id}",
                    )
                except RewardUnavailable:
                    with lock:
                        counts["refused"] += 1
                    return
                with lock:
                    counts["issued"] += 1
        finally:
            connections.close_all()

    threads = [threading.Thread(target=redeemer) for _i in range(args.redeemers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    reward = Reward.objects.get(pk=2)
    issued = Coupon.objects.filter(reward_id=2).count()
    negative = PointsAccount.objects.filter(balance__lt=0).count()
    ledger = dict(
        PointsTransaction.objects.values("account_id")
        .annotate(total=Sum("points"))
        .values_list("account_id", "total")
    )
    mismatched = sum(
        1
        for pk, balance in PointsAccount.objects.values_list("pk", "balance")
        if ledger.get(pk, 0) != balance
    )
    log(
        f"{args.redeemers} redeemers on one reward (stock {STOCK:,}): {counts['issued']:,} "
        f"coupons in {seconds:.1f} s ({counts['issued'] / seconds:,.0f} redemptions/s); "
        f"stock left {reward.stock}, coupons issued {issued:,}, issued_count "
        f"{reward.issued_count}, accounts below 0: {negative}, balance != ledger sum: "
        f"{mismatched}"
    )
    ok = (
        again == 0
        and expired == expected
        and reward.stock == 0
        and issued == STOCK == reward.issued_count
        and negative == 0
        and mismatched == 0
    )
    connections.close_all()
    if not args.keep:
        drop_database(url)
    log("OK" if ok else "INVARIANT BROKEN")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
