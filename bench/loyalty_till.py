"""Bench: 8 tills doing hold → commit on the points API against one gunicorn, on PostgreSQL.

    uv run python bench/loyalty_till.py [--seconds 45] [--clients 8] [--workers 5]
        [--members 100] [--points 200] [--reference-seconds 15]
        [--database-url URL] [--redis-url URL] [--keep]

Drops, creates and migrates its own database (default
postgres://postgres@127.0.0.1:5432/omni_till_bench; the name must end in "_bench"), gives
--members members a phone and --points points each (one set-wise entries_post, as an import's
earning would), makes one API key with the `points` scope, and starts gunicorn on a free loopback
port as production runs it (bench/api_ingest.py's Server: OMNICHANNEL_ENV=production, sync
workers, the cache and so the per-key rate limit in Redis, raised out of the way).

Then --clients client PROCESSES (http.client, one connection each; a start barrier):
a. reference: GET /healthz (a database round trip, no API work) for --reference-seconds;
b. the bench, for --seconds: each client picks a member at random, holds 10–60 points for a
   NT$1,000 sale (the member named by number, or by phone typed as a cashier does,
   0912-345-678 / 0912345678), then commits it with a fresh order number (9 in 10) or
   releases it (1 in 10). Few members and 8 clients: several tills often race on the same
   account, and balances run down, so "insufficient points" refusals (409) happen for real.
   Every call carries a fresh Idempotency-Key.

It prints requests/s, p50/p99 latency per operation and for the hold → commit pair, refusals
by reason, and the ratio of the pair's p99 to /healthz's p99 under the same 8 clients. Then it
checks the database: per account, the points the clients were told were committed equal the
points redeemed on the ledger (0 overspend: no account lost more than it had, no redeem the
clients were not answered for), balance == the ledger's sum, balance ≥ 0.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import api_ingest  # noqa: E402
from bench.api_ingest import Server, local_env, migrate, server_env  # noqa: E402
from bench.bench_db import drop_database, recreate_database  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/omni_till_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"  # the till helper's Redis db
ORDER_TWD = 1_000
RELEASE_SHARE = 0.10
REQUEST_TIMEOUT = 30.0
# The machine may be shared: gunicorn's workers can take minutes to import Django under load.
api_ingest.READY_TIMEOUT = 300.0


def log(message: str = "") -> None:
    print(message, flush=True)


# --- Data -------------------------------------------------------------------------------------


def phone_of(index: int) -> str:
    return f"09{index:08d}"


def seed(members: int, points: int) -> dict[str, str]:
    """Members with a phone and `points` points each; returns {member_no: typed phone}."""
    from django.utils import timezone

    from crm.models import Identity, Member
    from loyalty.models import PointsTransaction
    from loyalty.services.ledger import Entry, accounts_ensure, entries_post

    now = timezone.now()
    Member.objects.bulk_create(
        [
            Member(member_no=f"T{index:07d}", name=f"會員{index}", joined_at=now)
            for index in range(members)
        ],
        batch_size=2_000,
    )
    ids = dict(Member.objects.values_list("member_no", "pk"))
    Identity.objects.bulk_create(
        [
            Identity(
                member_id=ids[f"T{index:07d}"],
                kind=Identity.Kind.PHONE,
                value=f"+886{phone_of(index)[1:]}",
                source="store",
            )
            for index in range(members)
        ],
        batch_size=2_000,
    )
    accounts = accounts_ensure(member_ids=ids.values())
    entries_post(
        entries=[
            Entry(
                account_id,
                PointsTransaction.Kind.EARN,
                points,
                f"bench:earn:{member_id}",
                PointsTransaction.Source.DEMO,
            )
            for member_id, account_id in accounts.items()
        ]
    )
    return {f"T{index:07d}": phone_of(index) for index in range(members)}


def api_key_make() -> str:
    from crm.services.api_keys import api_key_create

    return api_key_create(name="bench till", channel="store", actor=None, scopes=["points"])[1]


# --- Clients (processes) ----------------------------------------------------------------------


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)
    committed: Counter = field(default_factory=Counter)  # member_no → points answered 200
    commits: int = 0
    samples: list[str] = field(default_factory=list)

    def merge(self, other: "Tally") -> None:
        for name, values in other.latencies.items():
            self.latencies[name] += values
        self.statuses.update(other.statuses)
        self.reasons.update(other.reasons)
        self.failures.update(other.failures)
        self.committed.update(other.committed)
        self.commits += other.commits
        self.samples += other.samples[: max(0, 5 - len(self.samples))]


class Till:
    def __init__(self, *, port: int, key: str):
        self.port = port
        self.key = key
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)

    def call(self, tally: Tally, name: str, method: str, path: str, body: dict | None = None):
        headers = {"X-Forwarded-Proto": "https"}
        data = None
        if name != "healthz":
            headers["Authorization"] = f"Bearer {self.key}"
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
            headers["Idempotency-Key"] = str(uuid.uuid4())
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException) as exc:
            tally.failures[type(exc).__name__] += 1
            self.conn.close()
            return None, None, None
        elapsed = time.perf_counter() - started
        tally.latencies[name].append(elapsed)
        tally.statuses[response.status] += 1
        if response.will_close:
            self.conn.close()
        answer = json.loads(content) if content and name != "healthz" else None
        if response.status >= 400 and name != "healthz":
            reason = answer.get("reason") if isinstance(answer, dict) else None
            tally.reasons[reason or f"http {response.status}"] += 1
            if not reason and len(tally.samples) < 5:
                tally.samples.append(f"{response.status} {path}: {content[:300]!r}")
        return response.status, answer, elapsed


def client_run(index, port, key, people, seconds, reference, barrier, results) -> None:
    rng = random.Random(index * 7919 + 1)
    till = Till(port=port, key=key)
    tally = Tally()
    members = list(people.items())
    barrier.wait()
    deadline = time.perf_counter() + seconds
    sale = 0
    while time.perf_counter() < deadline:
        if reference:
            till.call(tally, "healthz", "GET", "/healthz")
            continue
        member_no, phone = rng.choice(members)
        named = rng.choice((member_no, f"{phone[:4]}-{phone[4:7]}-{phone[7:]}", phone))
        points = rng.randint(10, 60)
        held = till.call(
            tally,
            "hold",
            "POST",
            "/api/v1/points/holds",
            {"member": named, "order_amount_twd": ORDER_TWD, "points": points},
        )
        if not held or held[0] != 201:
            continue
        hold_id, hold_seconds = held[1]["id"], held[2]
        sale += 1
        if rng.random() < RELEASE_SHARE:
            till.call(tally, "release", "POST", f"/api/v1/points/holds/{hold_id}/release", {})
            continue
        order_no = f"B{index}-{sale:07d}"
        done = till.call(
            tally,
            "commit",
            "POST",
            f"/api/v1/points/holds/{hold_id}/commit",
            {"order_no": order_no},
        )
        if done and done[0] == 200:
            tally.committed[member_no] += points
            tally.commits += 1
            tally.latencies["hold → commit"].append(hold_seconds + done[2])
    till.conn.close()
    results.put(
        {
            "latencies": dict(tally.latencies),
            "statuses": dict(tally.statuses),
            "reasons": dict(tally.reasons),
            "failures": dict(tally.failures),
            "committed": dict(tally.committed),
            "commits": tally.commits,
            "samples": tally.samples,
        }
    )


def run_clients(*, port, key, people, clients, seconds, reference) -> tuple[Tally, float]:
    # fork: the clients need no Django; the parent closed its database connections first.
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(clients + 1)
    results = context.Queue()
    processes = [
        context.Process(
            target=client_run,
            args=(index, port, key, people, seconds, reference, barrier, results),
            daemon=True,
        )
        for index in range(clients)
    ]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    total = Tally()
    for _ in processes:
        part = results.get(timeout=seconds + REQUEST_TIMEOUT + 30)
        tally = Tally(
            statuses=Counter(part["statuses"]),
            reasons=Counter(part["reasons"]),
            failures=Counter(part["failures"]),
            committed=Counter(part["committed"]),
            commits=part["commits"],
            samples=part["samples"],
        )
        for name, values in part["latencies"].items():
            tally.latencies[name] = values
        total.merge(tally)
    wall = time.perf_counter() - started
    for process in processes:
        process.join(timeout=10)
    return total, wall


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def ms(value: float) -> str:
    return f"{value * 1000:.1f} ms"


# --- Checks -----------------------------------------------------------------------------------


def ledger_check(committed: Counter, *, points: int) -> dict[str, int]:
    from django.db.models import Count, Q, Sum

    from loyalty.models import PointsAccount, PointsHold

    accounts = PointsAccount.objects.annotate(
        ledger=Sum("transactions__points"),
        redeemed=-Sum("transactions__points", filter=Q(transactions__kind="redeem"), default=0),
        redeems=Count("transactions", filter=Q(transactions__kind="redeem")),
    ).values_list("member__member_no", "balance", "ledger", "redeemed", "redeems")
    figures = Counter()
    for member_no, balance, ledger, redeemed, _redeems in accounts:
        figures["accounts"] += 1
        figures["overspent"] += redeemed > points or balance < 0
        figures["balance != ledger sum"] += balance != ledger
        figures["balance < 0"] += balance < 0
        figures["redeemed != committed answers"] += redeemed != committed.get(member_no, 0)
        figures["redeemed"] += redeemed
        figures["redeem entries"] += _redeems
    figures["holds left held"] = PointsHold.objects.filter(status="held").count()
    return figures


# --- Main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--reference-seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 2) + 1)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="'' for the file cache")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    url = args.database_url
    if urlsplit(url).scheme not in ("postgres", "postgresql"):
        sys.exit("the bench runs against PostgreSQL")
    if min(args.seconds, args.clients, args.workers, args.members, args.points) <= 0:
        sys.exit("--seconds, --clients, --workers, --members and --points must be positive")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    log(
        f"loyalty_till: {args.clients} client processes, {args.seconds:.0f} s, gunicorn "
        f"{args.workers} sync workers, {args.members:,} members × {args.points} points, "
        f"{urlsplit(url).path.lstrip('/')}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-till-") as tmp:
        var_dir = Path(tmp) / "var"
        (var_dir / "static").mkdir(parents=True)
        recreate_database(url)
        try:
            os.environ.update(local_env(url, var_dir))
            started = time.perf_counter()
            migrate(dict(os.environ))
            import django

            django.setup()
            people = seed(args.members, args.points)
            key = api_key_make()
            log(f"  migrated and seeded in {time.perf_counter() - started:.1f} s")
            from django.db import connections

            connections.close_all()  # before the clients fork
            run(args, people, key, server_env(url, var_dir, args.redis_url), Path(tmp))
        finally:
            from django.db import connections

            connections.close_all()
            if not args.keep:
                drop_database(url)


def run(args, people: dict[str, str], key: str, env: dict[str, str], tmp: Path) -> None:
    server = Server(env=env, workers=args.workers, log_path=tmp / "gunicorn.log")
    try:
        server.wait_ready()
        log(f"gunicorn on 127.0.0.1:{server.port} (OMNICHANNEL_ENV=production, DEBUG off)")
        common = {"port": server.port, "key": key, "people": people, "clients": args.clients}
        log(f"a. reference: GET /healthz, {args.reference_seconds:.0f} s")
        reference, reference_wall = run_clients(
            **common, seconds=args.reference_seconds, reference=True
        )
        healthz = reference.latencies["healthz"]
        log(
            f"  healthz: {len(healthz) / reference_wall:,.1f} requests/s, p50 "
            f"{ms(percentile(healthz, 0.5))}, p99 {ms(percentile(healthz, 0.99))}"
        )
        log("   warm-up: hold → commit for 5 s, not counted")
        warm, _ = run_clients(**common, seconds=5, reference=False)
        log(f"b. hold → commit / release, {args.seconds:.0f} s")
        tally, wall = run_clients(**common, seconds=args.seconds, reference=False)
        requests = sum(
            len(values) for name, values in tally.latencies.items() if name != "hold → commit"
        )
        log(f"  {requests:,} requests in {wall:.1f} s")
        for name in ("hold", "commit", "release", "hold → commit"):
            values = tally.latencies.get(name, [])
            log(
                f"  {name}: {len(values):,}, {len(values) / wall:,.1f}/s, p50 "
                f"{ms(percentile(values, 0.5))}, p99 {ms(percentile(values, 0.99))}"
            )
        log(f"  statuses {dict(sorted(tally.statuses.items()))}")
        log(f"  refusals by reason {dict(tally.reasons) or 0}")
        log(f"  transport failures {dict(tally.failures) or 0}")
        for sample in tally.samples:
            log(f"    e.g. {sample}")
    except BaseException:
        log("gunicorn log (last lines):\n" + server.log_tail())
        raise
    finally:
        server.stop()

    log("c. checks")
    # Every commit answered counts, the warm-up's too: the ledger holds them all.
    figures = ledger_check(tally.committed + warm.committed, points=args.points)
    for name, value in figures.items():
        log(f"  {name}: {value:,}")
    log("summary")
    log(f"  load average (1, 5, 15 min) {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    pair = tally.latencies.get("hold → commit", [])
    rate = requests / wall
    log(
        f"  till API {rate:,.1f} requests/s; hold → commit p50 {ms(percentile(pair, 0.5))}, "
        f"p99 {ms(percentile(pair, 0.99))}; /healthz p99 {ms(percentile(healthz, 0.99))}: "
        f"ratio {percentile(pair, 0.99) / percentile(healthz, 0.99):.1f}"
    )
    correct = (
        figures["overspent"] == 0
        and figures["balance != ledger sum"] == 0
        and figures["balance < 0"] == 0
        and figures["redeemed != committed answers"] == 0
        and sum(tally.failures.values()) == 0
    )
    log(
        f"  goal: 0 overspend, balance == ledger sum, every commit answered is on the ledger: "
        f"{'PASS' if correct else 'MISS'}"
    )


if __name__ == "__main__":
    main()
