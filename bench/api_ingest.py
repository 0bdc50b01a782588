"""Bench: orders posted to the ingest API by 8 concurrent clients for 60 s, gunicorn on PostgreSQL.

    uv run python bench/api_ingest.py [--seconds 60] [--clients 8] [--workers 5] [--people 2000]
        [--seed 1] [--reference-seconds 15] [--warmup-seconds 5] [--database-url URL]
        [--redis-url URL] [--keep]

Drops, creates and migrates the database (default
postgres://postgres@127.0.0.1:5432/omni_api_bench; its name must end in "_bench"), makes one API
key per sales channel through crm.services.api_keys.api_key_create, and starts gunicorn on a free
loopback port as production runs it: OMNICHANNEL_ENV=production (DEBUG off, JSON logs,
persistent database connections), sync workers (default 5: gunicorn's 2 x cores + 1 for this
2-core machine), the cache (and so the per-key rate limit) in Redis. The clients send
X-Forwarded-Proto: https as the TLS proxy in front of production would.

The rate limit stays on (every call still counts itself in Redis) but is raised to
API_RATE_LIMIT_PER_MINUTE=1,000,000 for the bench's server: at the default 600 a minute per key,
three keys would cap the bench at 30 calls a second. A 429 would show among the errors.

Then, from threads of this process (http.client, one connection each):
a. reference: the same clients GET /healthz (a database round trip; no API work) for
   --reference-seconds, then POST orders for --warmup-seconds, not timed (each worker's first
   order costs ~0.3 s more: phonenumbers' metadata, translations, first queries);
b. the bench: the clients POST orders for --seconds (60): store, web and marketplace sales of
   --people people, each channel seeing other identifiers of a person (card, carrier, phone;
   customer id, email, phone; marketplace account, now and then a phone), in every spelling
   formats/README.md lists, so members are created, attached and merged while the clients race;
   one in ten store sales anonymous, some web orders cancelled, about one in twenty store calls
   a full or partial return of an earlier sale. Every call carries a fresh Idempotency-Key; one
   in fifty is a retry of the call before it with the same key and body (it must be replayed).

It prints requests/s, p50/p99 latency, errors (transport failures and non-2xx, by status; the
issue's goal is 0), the ratio of the orders rate to the /healthz rate and where the server's
database sessions spent the run (pg_stat_activity sampled every 0.1 s), then checks the
database: one order per order number answered 2xx, replays wrote nothing. gunicorn is stopped
on every exit (its process group is killed if it does not stop), and the database is dropped
unless --keep.
"""

import argparse
import http.client
import json
import os
import random
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/omni_api_bench"
# Not db 0 or 1 (others use them). The rate counters are named by key hash, so sharing the db
# with another process is harmless; the bench never flushes it.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/9"
RATE_LIMIT = 1_000_000
CHANNELS = ("store", "web", "marketplace")
CHANNEL_WEIGHTS = (50, 30, 20)
RETURN_SHARE = 0.05  # of store calls, when the client has a sale to return
REPLAY_SHARE = 0.02
ANONYMOUS_SHARE = 0.10  # of store sales
TAIPEI = timezone(timedelta(hours=8))
REQUEST_TIMEOUT = 30.0
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
WARMUP_CLIENTS = 100  # warm-up clients are numbered from here, so their order numbers differ
# Django's JSON log lines and gunicorn's own (a worker timeout is CRITICAL).
SERVER_ERROR_MARKS = ('"level": "ERROR"', '"level": "CRITICAL"', "[ERROR]", "[CRITICAL]")


def log(message: str = "") -> None:
    print(message, flush=True)


# --- Database -------------------------------------------------------------------------------


def _maintenance(url: str) -> tuple[str, sql.Identifier]:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres")), sql.Identifier(parts.path.lstrip("/"))


def recreate_database(url: str) -> None:
    maintenance, name = _maintenance(url)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def drop_database(url: str) -> None:
    maintenance, name = _maintenance(url)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def local_env(url: str, var_dir: Path) -> dict[str, str]:
    """Settings for migrate and this process (making keys, checking the result)."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_DEBUG": "false",
        "DJANGO_SETTINGS_MODULE": "omnichannel.settings",
        "OMNICHANNEL_VAR_DIR": str(var_dir),
    }


def server_env(url: str, var_dir: Path, redis_url: str) -> dict[str, str]:
    """Production settings for gunicorn; the broker is a folder (the API sends no tasks)."""
    env = {
        **local_env(url, var_dir),
        "OMNICHANNEL_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "API_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DJANGO_DEBUG")
    env.pop("CELERY_BROKER_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        env.pop("REDIS_URL", None)
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], cwd=ROOT, env=env, check=True
    )


def api_keys_make() -> dict[str, str]:
    """One key per sales channel the bench writes, made as the admin makes them."""
    from crm.services.api_keys import api_key_create

    return {
        channel: api_key_create(name=f"bench {channel}", channel=channel, actor=None)[1]
        for channel in CHANNELS
    }


# --- gunicorn -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn in its own process group, so stop() takes the workers with the master."""

    def __init__(self, *, env: dict[str, str], workers: int, log_path: Path):
        self.port = free_port()
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "omnichannel.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--worker-class",
                "sync",
                "--timeout",
                "60",
                "--graceful-timeout",
                "5",
                # gunicorn 25+ opens a control socket in ~/.gunicorn; two servers would share it.
                "--no-control-socket",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                status, _ = request_once(self.port, "GET", "/healthz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer /healthz within {READY_TIMEOUT:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        self._log.close()

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def request_once(port: int, method: str, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, headers={"X-Forwarded-Proto": "https"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --- Traffic --------------------------------------------------------------------------------


@dataclass
class Call:
    path: str
    channel: str
    body: bytes
    idempotency_key: str
    order_no: str = ""


class Traffic:
    """The calls of one client: its own random stream over the shared population of people."""

    def __init__(self, *, client: int, people: int, seed: int):
        from bench import gen_orders as g

        self.g = g
        self.client = client
        self.people = people
        self.rng = random.Random(seed * 1_000 + client)
        self.sequence = 0
        self.sales: list[dict] = []  # this client's store sales that may still be returned
        self.previous: Call | None = None

    def next_call(self) -> tuple[Call, bool]:
        """The next call, and whether it is a retry of the previous one."""
        if self.previous is not None and self.rng.random() < REPLAY_SHARE:
            return self.previous, True
        self.sequence += 1
        channel = self.rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
        if channel == "store" and self.sales and self.rng.random() < RETURN_SHARE:
            path, body = "returns", self._return()
        else:
            path, body = "orders", getattr(self, f"_{channel}")()
        call = Call(
            path=f"/api/v1/{path}",
            channel=body["channel"],
            body=json.dumps(body, ensure_ascii=False).encode(),
            idempotency_key=str(uuid.uuid4()),
            order_no=body["external_no"],
        )
        self.previous = call
        return call, False

    def _person(self) -> int:
        return self.rng.randrange(self.people)

    def _placed_at(self) -> str:
        moment = datetime(2025, 1, 1, 9, tzinfo=TAIPEI) + timedelta(
            days=self.rng.randrange(365), seconds=self.rng.randrange(12 * 3600)
        )
        return moment.isoformat()

    def _amount(self) -> int:
        return self.rng.choice((150, 290, 350, 490, 780, 990, 1280, 1980, 2490, 3600, 5200))

    def _store(self) -> dict:
        g, rng, person = self.g, self.rng, self._person()
        store_code = rng.choice(g.STORES)[0]
        identifiers: dict[str, str] = {}
        if rng.random() >= ANONYMOUS_SHARE:
            if person % 5 < 3:  # three in five carry the member card
                identifiers["pos_card"] = g.card_spelled(person, rng)
            if not identifiers or rng.random() < 0.4:
                identifiers["phone"] = g.phone_spelled(person, rng)
            if person % 5 in (1, 3) and rng.random() < 0.6:
                identifiers["einvoice_carrier"] = g.carrier_spelled(person, rng)
        body = {
            "channel": "store",
            "external_no": f"{store_code}-B{self.client}-{self.sequence:07d}",
            "amount_twd": self._amount(),
            "placed_at": self._placed_at(),
            "store_code": store_code,
            "identifiers": identifiers,
        }
        self.sales.append(body)
        del self.sales[:-200]
        return body

    def _return(self) -> dict:
        sale = self.sales.pop(self.rng.randrange(len(self.sales)))
        amount = sale["amount_twd"]
        if self.rng.random() < 0.4:
            amount = max(1, amount // 2)  # a partial return: the sale stays placed
        return {
            "channel": "store",
            "external_no": f"{sale['store_code']}-R{self.client}-{self.sequence:07d}",
            "returns_external_no": sale["external_no"],
            "amount_twd": -amount,
            "placed_at": self._placed_at(),
            "store_code": sale["store_code"],
            "identifiers": sale["identifiers"],
        }

    def _web(self) -> dict:
        g, rng, person = self.g, self.rng, self._person()
        identifiers = {"web_customer_id": g.web_id_normal(person)}
        if person % 10 < 7:
            identifiers["email"] = g.email_spelled(person, rng)
        if rng.random() < 0.6:
            identifiers["phone"] = g.phone_spelled(person, rng)
        return {
            "channel": "web",
            "external_no": f"W{self.client}{self.sequence:09d}",
            "amount_twd": self._amount(),
            "placed_at": self._placed_at(),
            "status": "cancelled" if rng.random() < 0.08 else "placed",
            "identifiers": identifiers,
        }

    def _marketplace(self) -> dict:
        g, rng, person = self.g, self.rng, self._person()
        platform = "momo" if person % 4 == 0 else "shopee"
        identifiers = {"marketplace_buyer": f"{platform}:{g.buyer_spelled(person, rng)}"}
        # The platforms mask most phones; a masked one is no identifier and is left out.
        if rng.random() < 0.2:
            identifiers["phone"] = g.phone_spelled(person, rng)
        return {
            "channel": "marketplace",
            "external_no": f"{platform}:25{self.client}{self.sequence:08d}",
            "amount_twd": self._amount(),
            "placed_at": self._placed_at(),
            "status": "cancelled" if rng.random() < 0.05 else "placed",
            "identifiers": identifiers,
        }


# --- Clients --------------------------------------------------------------------------------


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)  # transport errors by exception type
    replays: int = 0
    replays_not_replayed: int = 0
    orders_ok: set[tuple[str, str]] = field(default_factory=set)
    samples: list[str] = field(default_factory=list)  # first bodies of non-2xx answers

    def merge(self, other: "Tally") -> None:
        self.latencies += other.latencies
        self.statuses.update(other.statuses)
        self.failures.update(other.failures)
        self.replays += other.replays
        self.replays_not_replayed += other.replays_not_replayed
        self.orders_ok |= other.orders_ok
        self.samples += other.samples[: max(0, 5 - len(self.samples))]

    @property
    def errors(self) -> int:
        return sum(self.failures.values()) + sum(
            count for status, count in self.statuses.items() if not 200 <= status < 300
        )


class LockSampler(threading.Thread):
    """Samples the bench database's sessions every 0.1 s while the clients run: how many run,
    wait on a lock (and on which statement), or hold a transaction open while Python works."""

    QUERY = """
        SELECT state, wait_event_type, left(regexp_replace(query, '\\s+', ' ', 'g'), 70)
        FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'
    """

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.name_ = urlsplit(url).path.lstrip("/")
        self.stop = threading.Event()
        self.samples = 0
        self.states: Counter = Counter()
        self.waiting: Counter = Counter()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop.wait(0.1):
                self.samples += 1
                for state, wait_type, query in conn.execute(self.QUERY, (self.name_,)):
                    if state == "active" and wait_type == "Lock":
                        self.states["waiting on a lock"] += 1
                        self.waiting[query] += 1
                    elif state in ("active", "idle in transaction"):
                        self.states[state] += 1

    def report(self) -> None:
        if not self.samples:
            return
        mean = {name: count / self.samples for name, count in self.states.items()}
        log(
            "  database sessions, mean of "
            f"{self.samples:,} samples: running {mean.get('active', 0):.1f}, waiting on a lock "
            f"{mean.get('waiting on a lock', 0):.1f}, idle in transaction (Python working) "
            f"{mean.get('idle in transaction', 0):.1f}"
        )
        total = sum(self.waiting.values())
        for query, count in self.waiting.most_common(2):
            log(f"    {count / total:.0%} of lock waits: {query}")


def client_loop(
    *,
    port: int,
    start: threading.Barrier,
    seconds: float,
    tally: Tally,
    traffic: Traffic | None,
    keys: dict[str, str],
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    start.wait()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if traffic is None:
            method, path, body, headers, call, replay = "GET", "/healthz", None, {}, None, False
        else:
            call, replay = traffic.next_call()
            method, path, body = "POST", call.path, call.body
            headers = {
                "Authorization": f"Bearer {keys[call.channel]}",
                "Content-Type": "application/json",
                "Idempotency-Key": call.idempotency_key,
            }
        headers["X-Forwarded-Proto"] = "https"
        started = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException) as exc:
            tally.failures[type(exc).__name__] += 1
            conn.close()  # the next request opens a new connection
            continue
        tally.latencies.append(time.perf_counter() - started)
        tally.statuses[response.status] += 1
        if not 200 <= response.status < 300:
            if len(tally.samples) < 5:
                tally.samples.append(f"{response.status} {path}: {content[:300]!r}")
        elif call is not None:
            tally.orders_ok.add((call.channel, call.order_no))
            if replay:
                tally.replays += 1
                if response.getheader("Idempotent-Replayed") != "true":
                    tally.replays_not_replayed += 1
        if response.will_close:  # gunicorn's sync workers close after every response
            conn.close()
    conn.close()


def run_clients(
    *,
    port: int,
    clients: int,
    seconds: float,
    keys: dict[str, str],
    people: int,
    seed: int | None,
    first_client: int = 0,
) -> tuple[Tally, float, float]:
    """Tally, wall seconds and this process's CPU seconds of one phase (seed None: /healthz).

    Clients are numbered from `first_client`; the number is part of their order numbers.
    """
    start = threading.Barrier(clients + 1)
    tallies = [Tally() for _ in range(clients)]
    threads = [
        threading.Thread(
            target=client_loop,
            kwargs={
                "port": port,
                "start": start,
                "seconds": seconds,
                "tally": tallies[index],
                "traffic": None
                if seed is None
                else Traffic(client=first_client + index, people=people, seed=seed),
                "keys": keys,
            },
            daemon=True,  # a hung request must not keep the bench alive past its bound
        )
        for index in range(clients)
    ]
    for thread in threads:
        thread.start()
    cpu_before = _cpu_seconds()
    start.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=max(0.0, started + seconds + REQUEST_TIMEOUT + 5 - time.perf_counter()))
    wall = time.perf_counter() - started
    hung = sum(thread.is_alive() for thread in threads)
    total = Tally()
    for tally in tallies:
        total.merge(tally)
    if hung:
        total.failures["client still waiting at the end"] += hung
    return total, wall, _cpu_seconds() - cpu_before


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def report(name: str, tally: Tally, wall: float, cpu: float) -> float:
    latencies = sorted(tally.latencies)
    rate = len(latencies) / wall
    statuses = sorted(tally.statuses.items())
    by_status = ", ".join(f"{status}: {count:,}" for status, count in statuses)
    log(
        f"  {name}: {len(latencies):,} requests in {wall:.1f} s = {rate:,.1f} requests/s; "
        f"latency p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, "
        f"max {(latencies[-1] if latencies else float('nan')) * 1000:.1f} ms"
    )
    log(f"    statuses {{{by_status}}}; transport failures {dict(tally.failures) or 0}")
    log(f"    errors {tally.errors:,}; client CPU {cpu:.1f} s ({cpu / wall:.0%} of one core)")
    for sample in tally.samples:
        log(f"    e.g. {sample}")
    return rate


# --- Main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--reference-seconds", type=float, default=15.0)
    parser.add_argument("--warmup-seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 2) + 1)
    parser.add_argument("--people", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="'' for the file cache")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    url = args.database_url
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        sys.exit("the bench runs against PostgreSQL")
    if not parts.path.rstrip("/").endswith("_bench"):
        sys.exit(f"refusing to drop {parts.path.lstrip('/')!r}: the bench database ends in _bench")
    if args.seconds <= 0 or args.clients < 1 or args.workers < 1 or args.people < 1:
        sys.exit("--seconds, --clients, --workers and --people must be positive")
    sys.path.insert(0, str(ROOT))
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C, so the finally blocks stop gunicorn.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    log(
        f"api_ingest: {args.clients} clients, {args.seconds:.0f} s, gunicorn {args.workers} sync "
        f"workers, {args.people:,} people, seed {args.seed}, {parts.hostname}{parts.path}, "
        f"cache {args.redis_url or 'files'}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        var_dir = Path(tmp) / "var"
        (var_dir / "static").mkdir(parents=True)
        recreate_database(url)
        try:
            os.environ.update(local_env(url, var_dir))
            migrate(dict(os.environ))
            import django

            django.setup()
            keys = api_keys_make()
            run(args, keys, server_env(url, var_dir, args.redis_url), Path(tmp))
        finally:
            from django.db import connections

            connections.close_all()
            if not args.keep:
                drop_database(url)


def run(args, keys: dict[str, str], env: dict[str, str], tmp: Path) -> None:
    server = Server(env=env, workers=args.workers, log_path=tmp / "gunicorn.log")
    try:
        server.wait_ready()
        log(f"gunicorn on 127.0.0.1:{server.port} (OMNICHANNEL_ENV=production, DEBUG off)")
        log(f"a. reference: GET /healthz, {args.reference_seconds:.0f} s")
        reference = run_clients(
            port=server.port,
            clients=args.clients,
            seconds=args.reference_seconds,
            keys=keys,
            people=args.people,
            seed=None,
        )
        reference_rate = report("healthz", *reference)
        warmup = Tally()
        if args.warmup_seconds > 0:
            # Each worker's first order costs ~0.3 s more (phonenumbers' metadata, pydantic,
            # translations, the first queries); a server in production is warm.
            log(f"   warm-up: orders for {args.warmup_seconds:.0f} s, not counted")
            warmup, *_ = run_clients(
                port=server.port,
                clients=args.clients,
                seconds=args.warmup_seconds,
                keys=keys,
                people=args.people,
                seed=args.seed + 1,
                first_client=WARMUP_CLIENTS,
            )
            log(f"    {len(warmup.latencies):,} requests, errors {warmup.errors:,}")
        log(f"b. POST /api/v1/orders and /returns, {args.seconds:.0f} s")
        sampler = LockSampler(args.database_url)
        sampler.start()
        try:
            tally, wall, cpu = run_clients(
                port=server.port,
                clients=args.clients,
                seconds=args.seconds,
                keys=keys,
                people=args.people,
                seed=args.seed,
            )
        finally:
            sampler.stop.set()
            sampler.join(timeout=5)
        rate = report("orders", tally, wall, cpu)
        sampler.report()
    except BaseException:
        log("gunicorn log (last lines):\n" + server.log_tail())
        raise
    finally:
        server.stop()
    server_errors = [
        line
        for line in server.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        if any(mark in line for mark in SERVER_ERROR_MARKS)
    ]

    log("c. checks")
    orders, replays_rows, members, merges = database_counts()
    answered = len(tally.orders_ok | warmup.orders_ok)
    log(
        f"  orders in the database {orders:,}, order numbers answered 2xx (warm-up included) "
        f"{answered:,}: {'EQUAL' if orders == answered else 'MISMATCH'}"
    )
    log(
        f"  retries with the same Idempotency-Key {tally.replays:,}, "
        f"answered without Idempotent-Replayed {tally.replays_not_replayed:,}; "
        f"idempotency records {replays_rows:,}"
    )
    # More members than people: a person whose calls share no identifier is two members.
    log(f"  active members {members:,} (of {args.people:,} people), merges {merges:,}")
    log(f"  server log lines at ERROR: {len(server_errors)}")
    for line in server_errors[:3]:
        log(f"    {line[:300]}")

    log("summary")
    # The machine may be shared: a load above the core count means the figures are low.
    log(f"  load average (1, 5, 15 min) {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    latencies = sorted(tally.latencies)
    log(
        f"  orders {rate:,.1f} requests/s, p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, errors {tally.errors:,}"
    )
    log(
        f"  reference /healthz {reference_rate:,.1f} requests/s: ratio orders/healthz "
        f"{rate / reference_rate:.2f}"
    )
    verdict = (
        "PASS" if tally.errors + warmup.errors == 0 and not tally.replays_not_replayed else "MISS"
    )
    log(f"  goal: 0 errors under {args.clients} concurrent clients: {verdict}")


def database_counts() -> tuple[int, int, int, int]:
    from crm.models import IdempotencyRecord, Member, MergeLog, Order

    return (
        Order.objects.count(),
        IdempotencyRecord.objects.count(),
        Member.objects.filter(status=Member.Status.ACTIVE).count(),
        MergeLog.objects.count(),
    )


if __name__ == "__main__":
    main()
