"""Bench: Google Wallet's updater patching N changed cards against the local Google, on PostgreSQL.

    uv run python bench/wallet_google.py [--cards 100000] [--concurrency 16]
        [--database-url URL] [--keep]

Drops, creates and migrates its own database (default
postgres://postgres@127.0.0.1:5432/omni_google_bench; the name must end in "_bench"), makes
--cards members with points and a Google card each (set-wise), and starts the local Google
(tests/loyalty/servers/google_wallet.py) in ANOTHER process, so the server's threads do not
share this process's GIL. The objects are first inserted (every PATCH answers 404: the insert
path), then every card is marked changed (`wallet_passes_touch`) and patched again (the path a
day of points changes takes). It prints cards/s for both passes and the outcome's figures; the
reference is the same number of bare PATCHes of a fixed small body through the same session
and thread pool (no database, no object building), so the ratio is the updater's own cost.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_db import drop_database, local_server_start, recreate_database  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/omni_google_bench"


def log(message: str = "") -> None:
    print(message, flush=True)


def seed(cards: int) -> list[int]:
    import secrets

    from django.utils import timezone

    from crm.models import Member
    from loyalty.models import PointsAccount, WalletPass

    now = timezone.now()
    batch = 10_000
    for start in range(0, cards, batch):
        Member.objects.bulk_create(
            Member(member_no=f"G{n:09d}", name=f"Bench {n}", joined_at=now)
            for n in range(start, min(cards, start + batch))
        )
    ids = list(Member.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        PointsAccount.objects.bulk_create(
            PointsAccount(member_id=pk, balance=100 + pk % 900) for pk in chunk
        )
        WalletPass.objects.bulk_create(
            WalletPass(
                member_id=pk,
                platform=WalletPass.Platform.GOOGLE,
                serial=secrets.token_hex(16),
                authentication_token=secrets.token_urlsafe(32),
                # Saved to Google Wallet: the updater patches only cards in a wallet.
                installed=True,
                installed_at=now,
            )
            for pk in chunk
        )
    return list(WalletPass.objects.order_by("pk").values_list("pk", flat=True))


def reference(n: int, concurrency: int) -> float:
    """Seconds for n bare PATCHes (small fixed body) through the updater's client."""
    from loyalty.wallet.google_updater import WalletApi

    api = WalletApi(concurrency=concurrency)
    body = {"id": "x", "classId": "y", "state": "ACTIVE"}
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda i: api.request("PATCH", f"loyaltyObject/ref-{i}", body), range(n)))
    api.close()
    return time.perf_counter() - started


def figures(outcome) -> str:
    retry = len(outcome.retry_pass_ids)
    return f"sent={outcome.sent:,} failed={outcome.failed:,} retry={retry:,} {outcome.errors[:2]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="google-wallet-bench-"))
    proc, values = local_server_start(
        "tests.loyalty.servers.google_wallet", "--port", "0", "--dir", str(folder), settings=3
    )
    os.environ.update(values)
    os.environ.update(
        DATABASE_URL=args.database_url,
        DJANGO_DEBUG="false",
        DJANGO_SETTINGS_MODULE="omnichannel.settings",
        GOOGLE_WALLET_CONCURRENCY=str(args.concurrency),
        WALLET_PUSH_ENABLED="true",
    )
    try:
        recreate_database(args.database_url)
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], cwd=ROOT, check=True
        )
        import django

        django.setup()
        from loyalty.models import WalletPass
        from loyalty.services.wallet import wallet_passes_touch
        from loyalty.wallet.google_updater import google_wallet_update

        started = time.perf_counter()
        pass_ids = seed(args.cards)
        seeded = time.perf_counter() - started
        log(f"seeded {len(pass_ids):,} members and Google cards in {seeded:.1f}s")

        ref = reference(len(pass_ids), args.concurrency)
        log(f"reference: {len(pass_ids):,} bare PATCHes in {ref:.1f}s "
            f"({len(pass_ids) / ref:,.0f}/s)")  # fmt: skip

        started = time.perf_counter()
        outcome = google_wallet_update(pass_ids)
        first = time.perf_counter() - started
        log(f"insert pass (PATCH 404 → POST): {first:.1f}s, {len(pass_ids) / first:,.0f} cards/s")
        log(f"  {figures(outcome)}")

        member_ids = list(WalletPass.objects.values_list("member_id", flat=True))
        wallet_passes_touch(member_ids=member_ids)
        started = time.perf_counter()
        outcome = google_wallet_update(pass_ids)
        second = time.perf_counter() - started
        log(f"patch pass: {second:.1f}s, {len(pass_ids) / second:,.0f} cards/s")
        log(f"  {figures(outcome)}")
        log(f"ratio patch pass / reference: {second / ref:.2f}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if not args.keep:
            from django.db import connections

            connections.close_all()
            drop_database(args.database_url)


if __name__ == "__main__":
    main()
