"""Bench: 100,000 changed wallet cards — the touch, the push to APNs, the rebuild of the passes.

    uv run python bench/wallet.py [--members 100000] [--database-url URL] [--keep]

1. The database (--database-url, default postgres://postgres@127.0.0.1:5432/omni_wallet_bench;
   its name must end in "_bench") is dropped, created and migrated, then seeded set-wise
   (INSERT … SELECT): --members members with a points account, an Apple and a Google card
   each (in a wallet), and one device registered for each Apple card.
2. The local APNs (`python -m tests.loyalty.servers.apns`, HTTP/2 over TLS on 127.0.0.1, in
   its own process) is started; the project's APNs settings point at it, pushing is on.
3. Timed:
   - the touch: one ledger post of one entry per member (`entries_post`, which marks every
     member's cards changed in the same transaction), and the touch alone
     (`wallet_passes_touch` over every member);
   - the push job (`wallet_updates_push`): claims every card, one APNs push per device over
     one HTTP/2 connection (pushes/s); a second run must push nothing;
   - the rebuild of every changed Apple pass, through loyalty.wallet.apple_pass's builder of
     many passes when that module is there (see `apple_builder`).
The references: the raw rate of the local APNs from the same client without the database
(`pushes_send` of as many pushes, no query), and the time to read every card's contents
(`wallet_cards`) that a rebuild starts from.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_db import ROOT, django_env, drop_database, migrate, recreate_database

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


def apns_start() -> tuple[subprocess.Popen, dict[str, str]]:
    """The local APNs in its own process; its settings as it printed them."""
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.loyalty.servers.apns", "--quiet"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    values: dict[str, str] = {}
    while len(values) < 6:
        line = server.stdout.readline()
        if not line:
            raise SystemExit("the local APNs did not start")
        name, _, value = line.strip().partition("=")
        values[name] = value
    return server, values


def apple_builder():
    """THE PLUG: loyalty.wallet.apple_pass's builder of many passes, as a callable taking
    WalletPass ids and returning the .pkpass files (bytes); None while the module is absent."""
    try:
        from loyalty.wallet import apple_pass
    except ImportError:
        return None
    for name in ("pkpasses_build", "apple_passes_build", "passes_build"):
        if builder := getattr(apple_pass, name, None):
            return lambda pass_ids: builder(wallet_pass_ids=pass_ids)
    return None


def _timed(label: str, call):
    started = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - started
    log(f"  {label}: {seconds:.2f} s")
    return seconds, result


def run(url: str, args, apns: dict[str, str]) -> None:
    os.environ.update(django_env(url, WALLET_PUSH_ENABLED="true", **apns))
    sys.path.insert(0, str(ROOT))
    import asyncio
    from datetime import timedelta

    import django

    django.setup()
    from django.utils import timezone

    from loyalty.models import PointsTransaction, WalletPass
    from loyalty.selectors_wallet import wallet_cards
    from loyalty.services.ledger import Entry, entries_post
    from loyalty.services.wallet import wallet_passes_touch
    from loyalty.services.wallet_push import wallet_updates_push
    from loyalty.wallet.apns import DevicePush, pushes_send
    from loyalty.wallet.updaters import WALLET_UPDATERS, UpdateOutcome, WalletUpdater

    n = args.members
    member_ids = list(range(1, n + 1))

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
    with WALLET_UPDATERS.scoped():
        google = WALLET_UPDATERS.get(WalletPass.Platform.GOOGLE)
        if google is None or "127.0.0.1" not in os.environ.get("GOOGLE_WALLET_API_BASE_URL", ""):
            # No Google server here: its cards are claimed and counted, nothing is sent.
            WALLET_UPDATERS._items[WalletPass.Platform.GOOGLE] = WalletUpdater(
                platform=WalletPass.Platform.GOOGLE, update=lambda ids: UpdateOutcome()
            )
            log("    (Google's cards: claimed, not sent — no local Google server in this bench)")
        pushed, figures = _timed("wallet_updates_push", wallet_updates_push)
        log(f"    {figures}")
        log(f"    = {figures.sent / pushed:,.0f} pushes/s, {figures.cards / pushed:,.0f} cards/s")
        _again, second = _timed("second run", wallet_updates_push)
        log(f"    {second}")

    log("The rebuild of every changed Apple pass:")
    builder = apple_builder()
    rebuilt = None
    if builder is None:
        log("    skipped: loyalty.wallet.apple_pass (its builder of many passes) is not here yet")
    else:
        apple_ids = list(
            WalletPass.objects.filter(platform=WalletPass.Platform.APPLE).values_list(
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

    rebuild = (
        f"rebuild {rebuilt:.1f} s = {rebuilt / read:.1f}× reading the cards ({read:.1f} s)"
        if rebuilt is not None
        else "rebuild not measured"
    )
    log(
        f"Summary: {n:,} members, {changed:,} cards changed; touch {touch:.2f} s (ledger post "
        f"{post:.2f} s); push {pushed:.1f} s for {figures.sent:,} pushes = "
        f"{pushed / raw:.1f}× the bare client ({raw:.1f} s); {rebuild}; "
        f"second run pushed {second.sent}: {'OK' if second.sent == 0 else 'NO'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    url = args.database_url
    log(f"Database {url.rsplit('/', 1)[-1]}: create, migrate, seed {args.members:,} members")
    recreate_database(url)
    migrate(url)
    seed(url, args.members)
    server, apns = apns_start()
    try:
        run(url, args, apns)
    finally:
        server.terminate()
        log(f"local APNs: {server.communicate(timeout=30)[0].strip()}")
        if not args.keep:
            drop_database(url)


if __name__ == "__main__":
    main()
