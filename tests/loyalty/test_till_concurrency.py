"""The ledger under concurrency: two OS processes, each its own database session, redeem from the
same account at the same moment and cannot overspend; and the database alone refuses the
overspend of a writer that skips the account's lock.

The two-process tests need PostgreSQL (SQLite has one writer at a time: there is no race to
lose). The lock-skipping writer runs on both: the refusal is the schema's, unique (account, seq)
and balance ≥ 0.
"""

import json
import os
import subprocess
import sys
import threading
import time
from copy import copy
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.db import IntegrityError, connection
from django.db.models import Sum

from loyalty.models import PointsAccount, PointsTransaction
from loyalty.services.ledger import Entry, accounts_ensure, entries_post
from tests.factories import MemberFactory

ROOT = Path(__file__).resolve().parents[2]
WORKER = "tests.loyalty.till_race_worker"
READY_TIMEOUT = 60
RUN_TIMEOUT = 180
REDEEM = PointsTransaction.Kind.REDEEM
TILL = PointsTransaction.Source.TILL

ON_POSTGRES = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="two processes racing need PostgreSQL's concurrent writers and row locks "
    "(SQLite serialises every write); set DATABASE_URL=postgres://…",
)


def _account(points: int) -> PointsAccount:
    member = MemberFactory()
    account_id = accounts_ensure(member_ids=[member.pk])[member.pk]
    entries_post(
        entries=[
            Entry(account_id, PointsTransaction.Kind.EARN, points, f"earn:{member.pk}", "order")
        ]
    )
    return PointsAccount.objects.get(pk=account_id)


def _ledger(account: PointsAccount) -> tuple[int, int, int]:
    """(balance, the ledger's sum, the lowest balance_after): read fresh."""
    account.refresh_from_db()
    entries = account.transactions.aggregate(total=Sum("points"))
    lowest = min(account.transactions.values_list("balance_after", flat=True))
    return account.balance, entries["total"], lowest


def _database_url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return (
        f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )


def _race(account: PointsAccount, *, rounds: int, points: int, mode: str, tmp_path) -> list[dict]:
    """Two worker processes redeem from the account; both wait at a start barrier (a file
    created once both are connected)."""
    go = tmp_path / "go"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "omnichannel.settings",
        "DJANGO_DEBUG": "false",
    }
    workers = [
        subprocess.Popen(  # noqa: S603 (our own worker, fixed arguments)
            [
                sys.executable,
                "-m",
                WORKER,
                str(account.pk),
                str(rounds),
                str(points),
                tag,
                str(go),
                mode,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("A", "B")
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
        go.touch()  # the barrier opens for both at once
        results = []
        for worker in workers:
            out, err = worker.communicate(timeout=RUN_TIMEOUT)
            assert worker.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


@ON_POSTGRES
@pytest.mark.django_db(transaction=True)
def test_two_tills_holding_80_of_100_points_at_once_spend_80(tmp_path):
    account = _account(100)

    results = _race(account, rounds=1, points=80, mode="hold", tmp_path=tmp_path)

    assert sorted(result["spent"] for result in results) == [0, 80]
    assert [r["refused"] for r in results if not r["spent"]] == [{"insufficient_points": 1}]
    balance, ledger_sum, lowest = _ledger(account)
    assert balance == ledger_sum == 20 and lowest >= 0
    assert account.transactions.filter(kind=REDEEM).count() == 1
    # The second till was refused at its hold (it waited for the first's lock, then saw the
    # first's hold), not only at the commit.
    assert account.holds.count() == 1


@ON_POSTGRES
@pytest.mark.django_db(transaction=True)
def test_many_rounds_of_small_redemptions_never_overspend(tmp_path):
    # 2 × 120 rounds of 7 points = 1,680 asked of 1,000: exactly floor(1000 / 7) = 142 succeed.
    account = _account(1000)

    results = _race(account, rounds=120, points=7, mode="hold", tmp_path=tmp_path)

    spent = sum(result["spent"] for result in results)
    balance, ledger_sum, lowest = _ledger(account)
    assert spent == 142 * 7 and balance == 1000 - spent == 6
    assert balance == ledger_sum and lowest >= 0
    assert all(result["spent"] > 0 for result in results), "both processes redeemed"
    refused = sum(sum(result["refused"].values()) for result in results)
    assert refused == 240 - 142
    assert account.transactions.filter(kind=REDEEM).count() == 142
    assert account.holds.filter(status="committed").count() == 142
    assert not account.holds.filter(status="held").exists()


@ON_POSTGRES
@pytest.mark.django_db(transaction=True)
def test_the_ledgers_lock_alone_keeps_two_processes_from_overspending(tmp_path):
    account = _account(500)

    results = _race(account, rounds=50, points=9, mode="post", tmp_path=tmp_path)

    spent = sum(result["spent"] for result in results)
    balance, ledger_sum, lowest = _ledger(account)
    assert spent == 55 * 9 and balance == 500 - spent == ledger_sum and lowest >= 0


# --- A writer that skips the lock --------------------------------------------------------------


def _redeem(account_id: int, points: int, key: str) -> Entry:
    return Entry(account_id, REDEEM, -points, key, TILL)


@pytest.mark.django_db
def test_a_writer_trusting_a_stale_account_collides_on_the_entry_number():
    # Both writers read the account before either wrote (what the lock prevents); entries_post
    # trusts a `locked` account as read, so this is the path of a caller that skipped the lock.
    account = _account(100)
    seen_by_first, seen_by_second = copy(account), copy(account)
    entries_post(entries=[_redeem(account.pk, 80, "redeem:1")], locked={account.pk: seen_by_first})

    with pytest.raises(IntegrityError, match=r"seq|UNIQUE|unique"):
        entries_post(
            entries=[_redeem(account.pk, 80, "redeem:2")], locked={account.pk: seen_by_second}
        )

    balance, ledger_sum, lowest = _ledger(account)
    assert balance == ledger_sum == 20 and lowest >= 0


@pytest.mark.django_db
def test_a_writer_that_numbers_right_but_reads_a_stale_balance_is_refused_by_the_balance_check():
    account = _account(100)
    entries_post(entries=[_redeem(account.pk, 80, "redeem:1")])
    stale = copy(account)  # balance 100 as first read
    stale.entries = PointsAccount.objects.get(pk=account.pk).entries  # the right next number

    with pytest.raises(IntegrityError, match=r"balance|CHECK|check"):
        entries_post(entries=[_redeem(account.pk, 80, "redeem:2")], locked={account.pk: stale})

    balance, ledger_sum, lowest = _ledger(account)
    assert balance == ledger_sum == 20 and lowest >= 0


@ON_POSTGRES
@pytest.mark.django_db(transaction=True)
def test_two_sessions_skipping_the_lock_cannot_both_append_the_same_entry():
    # Another session appends entry 2 (−80 of 100) and has not committed yet; this session,
    # having read the account before it, appends its own entry 2: its INSERT waits on the
    # unique (account, seq) index until the other commits, then fails.
    account = _account(100)
    stale = copy(account)
    other = psycopg.connect(_database_url())
    other.execute(
        "INSERT INTO loyalty_pointstransaction (account_id, seq, kind, points, balance_after, "
        "order_no, reason, source, at, idempotency_key) "
        "VALUES (%s, 2, 'redeem', -80, 20, '', '', 'till', now(), 'other:1')",
        [account.pk],
    )
    other.execute(
        "UPDATE loyalty_pointsaccount SET balance = balance - 80, entries = entries + 1 "
        "WHERE id = %s",
        [account.pk],
    )
    committer = threading.Timer(0.5, other.commit)
    started = time.monotonic()
    committer.start()
    try:
        with pytest.raises(IntegrityError, match="points_entry_unique_seq"):
            entries_post(entries=[_redeem(account.pk, 80, "redeem:2")], locked={account.pk: stale})
    finally:
        committer.join()
        other.close()

    assert time.monotonic() - started >= 0.4, "the INSERT waited for the other session"
    balance, ledger_sum, lowest = _ledger(account)
    assert balance == ledger_sum == 20 and lowest >= 0
