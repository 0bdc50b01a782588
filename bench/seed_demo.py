"""Bench: `manage.py seed_demo` for 20,000 and 200,000 members, each on an empty database.

seed_demo writes the brand's export files and imports them through the presets and services, so
this times the import path as much as the generator; the breakdown line gives the seconds of each
step (writing the files, each file's import, the app records, home stores, tags).

Reference: the issue's goal, 20,000 members in under 30 s (667 members/s). The ratio printed is
the measured rate over that reference rate (above 1: faster than the goal).

    uv run python bench/seed_demo.py [--sizes 20000,200000] [--seed 1] [--keep]

DATABASE_URL names the database to use (default
postgres://postgres@127.0.0.1:5432/omnichannel_bench). The bench drops, creates and migrates
it before every size, so its name must end in "_bench"; a sqlite:///path URL times SQLite.
"""

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/omnichannel_bench"
REFERENCE_MEMBERS = 20_000
REFERENCE_SECONDS = 30.0
REFERENCE_RATE = REFERENCE_MEMBERS / REFERENCE_SECONDS


def recreate_database(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = Path(parts.path)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{parts.path}{suffix}").unlink(missing_ok=True)
        return
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        name = sql.Identifier(parts.path.lstrip("/"))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def manage(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


STEP = re.compile(r"^(?P<step>[^:]+): (?P<rows>[\d,]+) rows, (?P<seconds>[\d.]+) s$")


def breakdown(out: str) -> str:
    """The seconds of each step, from the command's progress lines (seconds since its start)."""
    parts, before = [], 0.0
    for line in out.splitlines():
        if match := STEP.match(line.strip()):
            seconds = float(match["seconds"])
            parts.append(f"{match['step']} {seconds - before:.1f}")
            before = seconds
    return ", ".join(parts)


def bench_size(*, url: str, members: int, seed: int) -> tuple[float, float, str, str]:
    """Wall seconds of the command, seconds it reports for seeding, its summary line and the
    seconds of each step."""
    env = {**os.environ, "DATABASE_URL": url}
    recreate_database(url)
    manage("migrate", "-v0", env=env)
    started = time.perf_counter()
    out = manage("seed_demo", "--members", str(members), "--seed", str(seed), env=env)
    wall = time.perf_counter() - started
    summary = out.strip().splitlines()[-1]
    reported = re.search(r" in ([\d.]+) s", summary)
    seeding = float(reported.group(1)) if reported else wall
    return wall, seeding, summary, breakdown(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,200000", help="comma-separated member counts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    parts = urlsplit(url)
    if parts.scheme != "sqlite" and not parts.path.rstrip("/").endswith("_bench"):
        sys.exit(f"refusing to drop {parts.path.lstrip('/')!r}: the bench database ends in _bench")

    engine = "SQLite" if parts.scheme == "sqlite" else "PostgreSQL"
    where = parts.path if parts.scheme == "sqlite" else f"{parts.hostname}:{parts.port}{parts.path}"
    print(f"seed_demo on {engine} ({where}), seed {args.seed}")
    print(f"reference: {REFERENCE_MEMBERS:,} members in {REFERENCE_SECONDS:.0f} s "
          f"({REFERENCE_RATE:,.0f} members/s)")  # fmt: skip
    try:
        for members in (int(size) for size in args.sizes.split(",")):
            wall, seeding, summary, steps = bench_size(url=url, members=members, seed=args.seed)
            rate = members / wall
            print(
                f"{members:>9,} members: {wall:7.1f} s wall ({seeding:.1f} s seeding), "
                f"{rate:8,.0f} members/s, ratio to reference {rate / REFERENCE_RATE:.2f}"
            )
            print(f"           {summary}")
            print(f"           seconds by step: {steps}")
    finally:
        if not args.keep:
            drop_database(url)


if __name__ == "__main__":
    main()
