"""Bench: 100,000 changed wallet cards — the touch, the push to APNs, the rebuild of the passes.

    uv run python bench/wallet.py [--members 100000] [--database-url URL] [--keep]

1. The database (--database-url, default postgres://postgres@127.0.0.1:5432/omni_wallet_bench;
   its name must end in "_bench") is dropped, created and migrated, then seeded set-wise
   (INSERT … SELECT): --members members with a points account, an Apple and a Google card
   each (in a wallet), and one device registered for each Apple card.
2. The local APNs (`python -m tests.loyalty.servers.apns`, HTTP/2 over TLS on 127.0.0.1) and
   the local Google Wallet (`python -m tests.loyalty.servers.google_wallet`), each in its own
   process, are started; the project's settings point at them, pushing is on.
3. Timed:
   - the touch: one ledger post of one entry per member (`entries_post`, which marks every
     member's cards changed in the same transaction), and the touch alone
     (`wallet_passes_touch` over every member);
   - the push job (`wallet_updates_push`): claims every card, one APNs push per device over
     one HTTP/2 connection and one patch per Google object (the first run inserts them);
     a second run must push nothing;
   - the rebuild of every changed Apple pass, through loyalty.wallet.apple_pass's builder of
     many passes when that module is there (see `apple_builder`).
The references: the raw rate of the local APNs from the same client without the database
(`pushes_send` of as many pushes, no query), and the time to read every card's contents
(`wallet_cards`) that a rebuild starts from.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_db import (
    ROOT,
    django_env,
    drop_database,
    local_server_start,
    migrate,
    recreate_database,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/omni_wallet_bench"


def log(message: str = "") -> None:
    print(message, flush=True)


def seed(url: str, members: int) -> None:
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        conn.execute(
            "INSERT INTO crm_member (id, member_no, name, gender, birthday_calendar, joined_at, "
            "acquisition_channel, status, attributes, created_at, updated_at) "
            "SELECT i, 'W' || lpad(i::text, 9, '0'), '', '', 'solar', now(), 'store', 'active', "
            "'{}', now(), now() FROM generate_series(1, %s) i",
            [members],
        )
        conn.execute("SELECT setval(pg_get_serial_sequence('crm_member', 'id'), %s)", [members])
        conn.execute(
            "INSERT INTO loyalty_pointsaccount (id, member_id, balance, entries, spend_12m_twd, "
            "created_at, updated_at) "
            "SELECT i, i, 0, 0, 0, now(), now() FROM generate_series(1, %s) i",
            [members],
        )
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('loyalty_pointsaccount', 'id'), %s)", [members]
        )
        conn.execute(
            "INSERT INTO loyalty_walletpass (member_id, platform, serial, authentication_token, "
            "created_at, updated_at, change_message, installed, installed_at) "
            "SELECT i, p, md5(p || i), md5('token' || p || i), now() - interval '1 day', "
            "now() - interval '1 day', '', true, now() - interval '1 day' "
            "FROM generate_series(1, %s) i CROSS JOIN (VALUES ('apple'), ('google')) AS v(p)",
            [members],
        )
        conn.execute(
            "INSERT INTO loyalty_walletdeviceregistration (device_library_id, push_token, "
            "wallet_pass_id, created_at) "
            "SELECT 'device' || id, md5('a' || id) || md5('b' || id), id, now() "
            "FROM loyalty_walletpass WHERE platform = 'apple'"
        )
        conn.commit()
        seconds = time.perf_counter() - started
        log(f"  members, accounts, 2 cards each, a device per Apple card: {seconds:.1f} s")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def apple_builder():
    """loyalty.wallet.apple_pass's builder of many passes: WalletPass ids -> .pkpass files."""
    from loyalty.wallet.apple_pass import pkpasses_build

    return lambda pass_ids: pkpasses_build(wallet_pass_ids=pass_ids)


def _rebuild(read: float, builder, wallet_pass_model) -> float:
    """Build every Apple pass again (what the devices fetch after the push), 1,000 at a time."""
    log("The rebuild of every changed Apple pass:")
    apple_ids = list(
        wallet_pass_model.objects.filter(platform=wallet_pass_model.Platform.APPLE).values_list(
            "pk", flat=True
        )
    )

    def rebuild_all() -> int:
        size = 0
        for start in range(0, len(apple_ids), 1_000):
            size += sum(len(p) for p in builder(apple_ids[start : start + 1_000]))
        return size

    rebuilt, size = _timed(f"{len(apple_ids):,} .pkpass files", rebuild_all)
    log(f"    = {len(apple_ids) / rebuilt:,.0f} passes/s, {size / 1e6:,.1f} MB")
    log(f"    = {rebuilt / read:.1f}× reading the cards ({read:.1f} s)")
    return rebuilt


def _timed(label: str, call):
    started = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - started
    log(f"  {label}: {seconds:.2f} s")
    return seconds, result


def run(url: str, args, apns: dict[str, str]) -> None:
    # The passes are signed with a development chain made for the bench (WALLET_DEV_DIR).
    dev_dir = tempfile.mkdtemp(prefix="bench-wallet-dev-")
    os.environ.update(django_env(url, WALLET_PUSH_ENABLED="true", WALLET_DEV_DIR=dev_dir, **apns))
    sys.path.insert(0, str(ROOT))
    import asyncio
    from datetime import timedelta

    import django

    django.setup()
    from django.conf import settings
    from django.utils import timezone

    from loyalty.wallet.dev_certificates import dev_secrets_write

    dev_secrets_write(
        directory=Path(dev_dir),
        pass_type_id=settings.APPLE_WALLET_PASS_TYPE_ID,
        team_id=settings.APPLE_WALLET_TEAM_ID,
    )

    from loyalty.models import PointsTransaction, WalletPass
    from loyalty.selectors_wallet import wallet_cards
    from loyalty.services.ledger import Entry, entries_post
    from loyalty.services.wallet import wallet_passes_touch
    from loyalty.services.wallet_push import wallet_updates_push
    from loyalty.wallet.apns import DevicePush, pushes_send

    n = args.members
    member_ids = list(range(1, n + 1))

    if args.rebuild_only:
        read, _ = _timed(
            f"wallet_cards of {n:,} members", lambda: wallet_cards(member_ids=member_ids)
        )
        _rebuild(read, apple_builder(), WalletPass)
        return

    log("References:")
    raw, _ = _timed(
        f"bare client → local APNs, {n:,} pushes (no database)",
        lambda: asyncio.run(pushes_send([DevicePush(f"{i:064x}", {i}) for i in range(1, n + 1)])),
    )
    log(f"    = {n / raw:,.0f} pushes/s")
    read, _ = _timed(f"wallet_cards of {n:,} members", lambda: wallet_cards(member_ids=member_ids))

    log("The touch:")
    expires = timezone.localdate() + timedelta(days=365)
    entries = [
        Entry(
            account_id=i,
            kind=PointsTransaction.Kind.EARN,
            points=10,
            idempotency_key=f"bench:{i}",
            source=PointsTransaction.Source.ORDER,
            expires_on=expires,
        )
        for i in member_ids
    ]
    post, _ = _timed(
        f"entries_post of {n:,} entries (touch included)", lambda: entries_post(entries=entries)
    )
    changed = WalletPass.objects.filter(changed_at__isnull=False).count()
    log(f"    cards marked changed: {changed:,} (of {2 * n:,})")
    touch, _ = _timed(
        f"wallet_passes_touch of {n:,} members alone",
        lambda: wallet_passes_touch(member_ids=member_ids),
    )

    log("The push job:")
    pushed, figures = _timed("wallet_updates_push", wallet_updates_push)
    log(f"    {figures}")
    log(
        f"    = {figures.sent / pushed:,.0f} pushes and patches/s, "
        f"{figures.cards / pushed:,.0f} cards/s"
    )
    _again, second = _timed("second run", wallet_updates_push)
    log(f"    {second}")

    rebuilt = _rebuild(read, apple_builder(), WalletPass)

    rebuild = f"rebuild {rebuilt:.1f} s = {rebuilt / read:.1f}× reading the cards ({read:.1f} s)"
    log(
        f"Summary: {n:,} members, {changed:,} cards changed; touch {touch:.2f} s (ledger post "
        f"{post:.2f} s); push {pushed:.1f} s for {figures.sent:,} pushes = "
        f"{pushed / raw:.1f}× the bare client ({raw:.1f} s); {rebuild}; "
        f"second run: {second.cards} cards (the first run's retries only: "
        f"{'OK' if second.cards == figures.retried else 'NO'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--rebuild-only", action="store_true", help="time only the rebuild of the passes"
    )
    args = parser.parse_args()
    url = args.database_url
    log(f"Database {url.rsplit('/', 1)[-1]}: create, migrate, seed {args.members:,} members")
    recreate_database(url)
    migrate(url)
    seed(url, args.members)
    server, apns = local_server_start("tests.loyalty.servers.apns", "--quiet", settings=6)
    google, google_settings = local_server_start(
        "tests.loyalty.servers.google_wallet",
        *("--port", "0", "--dir", tempfile.mkdtemp(prefix="bench-google-wallet-")),
        settings=3,
    )
    try:
        run(url, args, {**apns, **google_settings})
    finally:
        server.terminate()
        google.terminate()
        log(f"local APNs: {server.communicate(timeout=30)[0].strip()}")
        google_counts = google.communicate(timeout=30)[0].strip().splitlines()
        log(f"local Google Wallet: {google_counts[-1] if google_counts else ''}")
        if not args.keep:
            drop_database(url)


if __name__ == "__main__":
    main()
