"""What the benches share about their PostgreSQL database: make it, fill it by COPY, drop it.

A bench owns its database outright (it drops and creates it), so each refuses a database whose
name does not end in "_bench".
"""

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
COPY_ROWS_PER_WRITE = 50_000


def local_server_start(
    module: str, *args: str, settings: int
) -> tuple[subprocess.Popen, dict[str, str]]:
    """A local provider server (`python -m <module> ARGS`, e.g. tests.loyalty.servers.apns) in
    its own process, so its threads do not share the bench's GIL; returns the process and the
    `settings` NAME=value lines it prints once it listens (the settings pointing at it)."""
    server = subprocess.Popen(
        [sys.executable, "-m", module, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    values: dict[str, str] = {}
    while len(values) < settings:
        line = server.stdout.readline()
        if not line:
            raise SystemExit(f"the local server {module} did not start")
        name, _, value = line.strip().partition("=")
        values[name] = value
    return server, values


def django_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of Django on the bench's database. DEBUG is off: with it on, Django
    keeps the SQL of the last 9,000 queries (bulk INSERTs)."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_DEBUG": "false",
        "DJANGO_SETTINGS_MODULE": "omnichannel.settings",
        # The benches time searches, repeated: the per-person search limit would answer 429.
        "SEARCH_RATE_LIMIT_PER_MINUTE": "1000000",
        **extra,
    }


def migrate(url: str) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"],
        cwd=ROOT,
        env=django_env(url),
        check=True,
    )


def _maintenance(url: str) -> tuple[str, sql.Identifier]:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.endswith("_bench"):
        raise SystemExit(f"refusing database {name!r}: a bench's database name ends in _bench")
    return urlunsplit(parts._replace(path="/postgres")), sql.Identifier(name)


def recreate_database(url: str) -> None:
    maintenance, name = _maintenance(url)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def database_ensure(url: str) -> None:
    """Create the database if the server has none of that name (a new machine); never drops."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(url: str) -> None:
    maintenance, name = _maintenance(url)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def copy_lines(conn, table: str, columns: tuple[str, ...], lines: Iterable[str]) -> int:
    """COPY lines of COPY text format (tab-separated, newline-ended) into a table."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    written = 0
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        buffer: list[str] = []
        for written, line in enumerate(lines, 1):
            buffer.append(line)
            if written % COPY_ROWS_PER_WRITE == 0:
                copy.write("".join(buffer))
                buffer = []
        copy.write("".join(buffer))
    return written
