"""Bench: one campaign to a million members over LINE and e-mail, sent by 2 worker processes.

    uv run python bench/send_campaign.py [--members 1000000] [--line-share 0.7]
        [--database-url URL] [--broker-url URL] [--redis-url URL]
        [--capacity-line 50000] [--capacity-email 3000] [--keep]

1. The database (--database-url, default $DATABASE_URL or
   postgres://postgres@127.0.0.1:5432/omni_send_bench; its name must end in "_bench") is dropped,
   created and migrated, then filled in SQL with generate_series (no rows leave the server, which
   beats COPY): --members members, a LINE id opted in for --line-share of them (default 70 %),
   an e-mail address opted in for the rest; VACUUM ANALYZE. With --keep a database already
   holding that many members is reused (its campaigns are emptied) and kept at the end.
2. The local LINE Messaging API (`python -m tests.campaigns.servers.line`) and an SMTP sink
   (tests/campaigns/servers/smtp.py's SmtpSink with a handler that counts instead of keeping
   every message: the CLI keeps and prints each one, a few hundred MB at this size) run as
   subprocesses on free loopback ports.
3. The bare-loop capacity: one process sends batches straight to the servers through the same
   backends (LINE multicasts of 500 through line-bot-sdk; e-mail one message after another over
   one SMTP session), --capacity-line LINE recipients and --capacity-email e-mails (a sample,
   extrapolated to the campaign's counts: the capacity is the campaign's messages divided by
   the time the loop would take for all of them).
4. Two `celery worker --pool prefork -c 1` processes (own queue, rate limits and quiet hours off,
   the frequency cap off) start; the campaign (LINE → e-mail fallback) is launched through
   campaign_launch. Timed: the snapshot (launch → the outbox and the batches written: the
   campaign leaves "preparing") and launch → the last delivery final (the campaign's
   finished_at). The workers' RSS (each worker's main process and its pool child, from /proc)
   is sampled every 2 s.

It prints a table: snapshot seconds (goal < 30 s), messages/s and the ratio to the bare-loop
capacity (goal ≥ 0.5), the RSS over time (goal: flat, growth under 20 % from the first quarter
of the send to its end), the deliveries by status; each goal PASS or MISS.
"""

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The repository, for the content the worker-kill test sends too (tests/campaigns/).
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from bench_db import django_env, drop_database, migrate, recreate_database

from tests.campaigns.load_content import EMAIL_CONTENT, LINE_CONTENT
from tests.campaigns.workers import celery_worker_command

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/omni_send_bench"
SNAPSHOT_GOAL_S = 30.0
CAPACITY_GOAL = 0.5
RSS_GROWTH_LIMIT = 0.20
LINE_TOKEN = "bench-line-token"  # noqa: S105 (the local server's token)

# %(n)s (members) and %(line)s (members per thousand with LINE) are inlined: whole numbers.
LOAD_SQL = [
    """INSERT INTO crm_member (id, member_no, name, gender, joined_at, acquisition_channel,
            status, attributes, created_at, updated_at)
        SELECT i, 'B' || lpad(i::text, 9, '0'),
            substr('陳林黃張李王吳劉蔡楊許鄭謝郭洪曾邱廖賴周', 1 + (i * 7) % 20, 1)
              || substr('美玲志豪淑芬家豪怡君俊傑雅婷建宏佩珊冠宇', 1 + (i * 13) % 20, 2),
            '', now(), 'store', 'active', '{}', now(), now()
        FROM generate_series(1, %(n)s) i""",
    """INSERT INTO crm_identity (member_id, kind, value, source, first_seen_at, last_seen_at)
        SELECT i, 'line_user_id', 'U' || md5(i::text), 'line', now(), now()
        FROM generate_series(1, %(n)s) i WHERE i % 1000 < %(line)s
        UNION ALL
        SELECT i, 'email', 'member' || i || '@example.com', 'web', now(), now()
        FROM generate_series(1, %(n)s) i WHERE i % 1000 >= %(line)s""",
    """INSERT INTO crm_consent (member_id, channel, state, source, at, recorded_at, proof)
        SELECT i, CASE WHEN i % 1000 < %(line)s THEN 'line' ELSE 'email' END, 'opted_in',
            'web', now() - interval '1 day', now(), '{}'::jsonb
        FROM generate_series(1, %(n)s) i""",
    "SELECT setval(pg_get_serial_sequence('crm_member', 'id'), %(n)s)",
]
CAMPAIGN_TABLES = (
    "campaigns_delivery",
    "campaigns_sendbatch",
    "campaigns_message",
    "campaigns_campaign",
)

SMTP_SINK = """
import sys, threading, time
from tests.campaigns.servers.smtp import SinkHandler, SmtpSink

class Counting(SinkHandler):
    def __init__(self):
        super().__init__()
        self.count = 0
    async def handle_DATA(self, server, session, envelope):
        self.count += len(envelope.rcpt_tos)
        return "250 Message accepted for delivery"

with SmtpSink(port=int(sys.argv[1]), handler=Counting()) as sink:
    print("ready", flush=True)
    while True:
        time.sleep(3600)
"""


def log(message: str = "") -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port}")


# --- Data -------------------------------------------------------------------------------------


def seeded_members(url: str) -> int:
    try:
        with psycopg.connect(url) as conn:
            return conn.execute("SELECT count(*) FROM crm_member").fetchone()[0]
    except psycopg.Error:
        return -1


def load(url: str, members: int, line_share: float) -> None:
    values = {"%(n)s": members, "%(line)s": round(line_share * 1000)}
    with psycopg.connect(url) as conn:
        for statement in LOAD_SQL:
            started = time.perf_counter()
            for placeholder, value in values.items():  # whole numbers only: safe to inline
                statement = statement.replace(placeholder, str(int(value)))
            conn.execute(statement)
            table = statement.split("INTO ")[1].split()[0] if "INTO" in statement else "sequence"
            log(f"  {table:<20} {time.perf_counter() - started:6.1f} s")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def empty_campaigns(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(f"TRUNCATE {', '.join(CAMPAIGN_TABLES)} CASCADE")
        conn.commit()


# --- Processes --------------------------------------------------------------------------------


class Group:
    """Subprocesses in their own process groups, killed on every exit."""

    def __init__(self):
        self.processes: list[subprocess.Popen] = []

    def start(self, args: list[str], env: dict, log_path: Path) -> subprocess.Popen:
        out = log_path.open("wb")
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)


def rss_mb(pid: int) -> float:
    """The resident memory of a process and its children (a worker and its pool process)."""
    total = 0
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            children = (task / "children").read_text().split()
            pids.extend(int(child) for child in children)
    except OSError:
        return 0.0
    for each in pids:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


class RssSampler(threading.Thread):
    def __init__(self, pids: list[int], every: float = 2.0):
        super().__init__(daemon=True)
        self.pids = pids
        self.every = every
        self.samples: list[tuple[float, list[float]]] = []
        self.stopped = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.samples.append(
                (time.monotonic() - self.started_at, [rss_mb(pid) for pid in self.pids])
            )
            self.stopped.wait(self.every)


# --- The bench --------------------------------------------------------------------------------


def capacity(counts: dict[str, int], args) -> dict[str, float]:
    """Messages per second of a bare loop in this process, per channel, on a sample."""
    from campaigns.backends.base import OutboundMessage
    from campaigns.backends.email import EmailBackend
    from campaigns.backends.line import LineBackend
    from campaigns.unsubscribe import unsubscribe_url

    rates: dict[str, float] = {}
    line_n = min(counts.get("line", 0), args.capacity_line)
    if line_n:
        messages = [
            OutboundMessage(
                key=f"c{i}", channel="line", address=f"Ucap{i:028x}", content=LINE_CONTENT
            )
            for i in range(line_n)
        ]
        with LineBackend() as backend:
            started = time.perf_counter()
            for first in range(0, line_n, 500):
                results = backend.send_batch(
                    messages[first : first + 500], retry_key=str(uuid.uuid4())
                )
                if not all(result.ok for result in results):
                    raise SystemExit(f"the LINE server refused the bare loop: {results[0]}")
            rates["line"] = line_n / (time.perf_counter() - started)
    email_n = min(counts.get("email", 0), args.capacity_email)
    if email_n:
        content = {**EMAIL_CONTENT, "text": "王美玲 您好，全館八折。"}
        content["html"] = "<p>王美玲 您好，全館八折。</p>"
        messages = [
            OutboundMessage(
                key=f"c{i}",
                channel="email",
                address=f"capacity{i}@example.com",
                content=content,
                delivery_id=i + 1,
                unsubscribe_url=unsubscribe_url(delivery_id=i + 1),
            )
            for i in range(email_n)
        ]
        with EmailBackend() as backend:
            started = time.perf_counter()
            for first in range(0, email_n, 500):
                results = backend.send_batch(
                    messages[first : first + 500], retry_key=str(uuid.uuid4())
                )
                if not all(result.ok for result in results):
                    raise SystemExit(f"the SMTP sink refused the bare loop: {results[0]}")
            rates["email"] = email_n / (time.perf_counter() - started)
    return rates


def run(url: str, args, servers: Group, logs: Path) -> int:
    line_port, smtp_port = free_port(), free_port()
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    env = django_env(
        url,
        CELERY_BROKER_URL=args.broker_url,
        CELERY_TASK_DEFAULT_QUEUE=queue,
        CELERY_TASK_ALWAYS_EAGER="false",
        REDIS_URL=args.redis_url,
        LINE_API_BASE_URL=f"http://127.0.0.1:{line_port}",
        LINE_CHANNEL_ACCESS_TOKEN=LINE_TOKEN,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_port),
        EMAIL_BACKEND="",
        CAMPAIGN_BATCH_SIZE="500",
        CAMPAIGN_RATE_LIMIT_LINE="0",
        CAMPAIGN_RATE_LIMIT_EMAIL="0",
        CAMPAIGN_QUIET_HOURS_LINE="",
        CAMPAIGN_QUIET_HOURS_EMAIL="",
        CAMPAIGN_FREQUENCY_CAP_MESSAGES="0",
    )
    python = sys.executable
    servers.start(
        [
            python,
            "-m",
            "tests.campaigns.servers.line",
            "--port",
            str(line_port),
            "--token",
            LINE_TOKEN,
        ],
        env,
        logs / "line.log",
    )
    servers.start([python, "-c", SMTP_SINK, str(smtp_port)], env, logs / "smtp.log")
    wait_port(line_port)
    wait_port(smtp_port)

    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db.models import Count

    from campaigns.models import Campaign, Delivery
    from campaigns.services import campaign_launch, campaign_save
    from crm.models import Identity, Segment
    from crm.segments.definition import EMPTY_DEFINITION

    counts = {
        "line": Identity.objects.filter(kind="line_user_id").count(),
        "email": Identity.objects.filter(kind="email").count(),
    }
    log(f"audience: {counts['line']:,} on LINE, {counts['email']:,} by e-mail")

    rates = capacity(counts, args)
    bare_seconds = sum(counts[channel] / rates[channel] for channel in rates)
    capacity_rate = sum(counts.values()) / bare_seconds if bare_seconds else 0.0
    for channel, rate in rates.items():
        sample = args.capacity_line if channel == "line" else args.capacity_email
        log(
            f"bare loop {channel}: {rate:,.0f} msgs/s on {min(sample, counts[channel]):,} "
            f"messages, {counts[channel] / rate:,.1f} s for all {counts[channel]:,}"
        )

    workers = [
        servers.start(
            celery_worker_command(
                python, concurrency=1, queue=queue, name=f"bench{n}", loglevel="WARNING"
            ),
            env,
            logs / f"worker{n}.log",
        )
        for n in (1, 2)
    ]
    # Timed from a launch both workers are ready for (booting one takes seconds here).
    boot_deadline = time.monotonic() + 120
    while not all(b" ready." in (logs / f"worker{n}.log").read_bytes() for n in (1, 2)):
        if time.monotonic() > boot_deadline:
            raise SystemExit(f"the workers did not start: see {logs}")
        time.sleep(0.2)
    sampler = RssSampler([worker.pid for worker in workers])
    sampler.start()

    segment = Segment.objects.create(name="Bench: everyone", definition=EMPTY_DEFINITION)
    campaign = campaign_save(
        name="Bench",
        segment=segment,
        channels=["line", "email"],
        contents={"line": LINE_CONTENT, "email": EMAIL_CONTENT},
        quiet_hours={"line": "", "email": ""},
        frequency_cap=(0, 0),
    )
    launched = time.monotonic()
    launch_rss_at = launched - sampler.started_at
    campaign = campaign_launch(campaign=campaign)
    snapshot_s = None
    deadline = launched + args.timeout
    status = campaign.status
    while time.monotonic() < deadline:
        status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True)[0]
        if snapshot_s is None and status != Campaign.Status.LAUNCHING:
            snapshot_s = time.monotonic() - launched
        if status in Campaign.FINAL:
            break
        if any(worker.poll() is not None for worker in workers):
            log("a worker exited: see its log in " + str(logs))
            break
        time.sleep(0.2 if snapshot_s is None else 1.0)
    sampler.stopped.set()
    sampler.join()
    campaign.refresh_from_db()
    by_status = dict(
        Delivery.objects.filter(campaign=campaign)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    if campaign.status != Campaign.Status.DONE:
        log(f"MISS  the campaign is {campaign.status} after {args.timeout} s: {by_status}")
        return 1
    send_s = (campaign.finished_at - campaign.launched_at).total_seconds()
    sent = by_status.get(Delivery.Status.SENT, 0)
    rate = sent / send_s
    ratio = rate / capacity_rate if capacity_rate else 0.0
    report(
        args=args,
        counts=counts,
        snapshot_s=snapshot_s or 0.0,
        send_s=send_s,
        rate=rate,
        capacity_rate=capacity_rate,
        ratio=ratio,
        by_status=by_status,
        samples=[(t - launch_rss_at, rss) for t, rss in sampler.samples],
    )
    return 0


def report(*, args, counts, snapshot_s, send_s, rate, capacity_rate, ratio, by_status, samples):
    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    sending = [(t, sum(rss)) for t, rss in samples if 0 <= t <= send_s]
    quarter = [total for t, total in sending if t >= send_s / 4] or [0.0]
    start_rss, end_rss = quarter[0], quarter[-1]
    growth = (end_rss - start_rss) / start_rss if start_rss else 0.0
    flat = growth < RSS_GROWTH_LIMIT
    log()
    log(f"send_campaign: {args.members:,} members, 2 worker processes, PostgreSQL")
    log(f"{'figure':<38}{'value':>16}  {'goal':<12}")
    log(f"{'-' * 38}{'-' * 16}  {'-' * 12}")
    log(
        f"{'snapshot (launch → outbox + batches)':<38}{snapshot_s:>14.1f} s  "
        f"{'< 30 s':<12}{verdict(snapshot_s < SNAPSHOT_GOAL_S)}"
    )
    log(f"{'launch → last delivery final':<38}{send_s:>14.1f} s")
    log(f"{'messages sent / s':<38}{rate:>16,.0f}")
    log(f"{'bare-loop capacity (1 process) / s':<38}{capacity_rate:>16,.0f}")
    log(f"{'ratio to capacity':<38}{ratio:>16.2f}  {'≥ 0.5':<12}{verdict(ratio >= CAPACITY_GOAL)}")
    log(
        f"{'worker RSS, ¼ of the send → end':<38}{f'{start_rss:,.0f} → {end_rss:,.0f} MB':>16}  "
        f"{'flat (<20 %)':<12}{verdict(flat)} ({growth:+.0%})"
    )
    log(f"deliveries: {by_status} (LINE {counts['line']:,}, e-mail {counts['email']:,})")
    log("worker RSS over time (MB, each worker = main process + pool child):")
    step = max(1, len(samples) // 12)
    for t, rss in samples[::step] + samples[-1:]:
        log(f"  t={t:7.1f} s  " + "  ".join(f"{mb:6.0f}" for mb in rss))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--line-share", type=float, default=0.7)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument(
        "--broker-url", default=os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/10"
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/9"
    )
    parser.add_argument("--capacity-line", type=int, default=50_000)
    parser.add_argument("--capacity-email", type=int, default=3_000)
    parser.add_argument("--timeout", type=float, default=3 * 3600)
    parser.add_argument("--keep", action="store_true", help="reuse a seeded database; keep it")
    args = parser.parse_args()
    url = args.database_url
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        sys.exit("the bench needs PostgreSQL (DATABASE_URL=postgres://…)")
    if not parts.path.rstrip("/").endswith("_bench"):
        sys.exit(f"refusing to drop {parts.path.lstrip('/')!r}: the bench database ends in _bench")
    if args.broker_url.startswith("filesystem"):
        sys.exit("the bench needs a broker both workers share: --broker-url redis://…")

    log(f"send_campaign: {args.members:,} members, {parts.hostname}{parts.path}")
    if args.keep and seeded_members(url) == args.members:
        log("reusing the seeded members (--keep); emptying earlier campaigns")
        migrate(url)
        empty_campaigns(url)
    else:
        recreate_database(url)
        migrate(url)
        started = time.perf_counter()
        load(url, args.members, args.line_share)
        log(f"loaded in {time.perf_counter() - started:.1f} s (incl. VACUUM ANALYZE)")
    logs = ROOT / "var" / "bench-send"
    logs.mkdir(parents=True, exist_ok=True)
    servers = Group()
    code = 1
    try:
        code = run(url, args, servers, logs)
    finally:
        servers.stop()
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        if not args.keep:
            drop_database(url)
    sys.exit(code)


if __name__ == "__main__":
    main()
