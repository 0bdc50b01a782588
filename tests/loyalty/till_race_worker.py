"""One redeemer of the till's race test: a process of its own, with its own database session.

    python -m tests.loyalty.till_race_worker ACCOUNT_ID ROUNDS POINTS TAG GO_FILE MODE

It sets Django up (DATABASE_URL names the test database), prints "ready", waits until GO_FILE
exists (the start barrier: every worker is connected and warm before any redeems), then redeems
POINTS from the account ROUNDS times and prints one JSON line of what happened. MODE "hold":
hold_create then hold_commit, as a till does; "post": entries_post alone (the ledger's lock).
"""

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

GO_WAIT_SECONDS = 60


def main() -> None:
    account_id, rounds, points = (int(value) for value in sys.argv[1:4])
    tag, go_file, mode = sys.argv[4], Path(sys.argv[5]), sys.argv[6]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnichannel.settings")
    import django

    django.setup()
    from django.db import connection

    from loyalty.models import PointsTransaction
    from loyalty.services.ledger import Entry, InsufficientPoints, entries_post
    from loyalty.services.till import TillRefused, hold_commit, hold_create

    connection.ensure_connection()  # connected before the barrier, so the start is even
    print("ready", flush=True)
    deadline = time.monotonic() + GO_WAIT_SECONDS
    while not go_file.exists():
        if time.monotonic() > deadline:
            sys.exit("no go")
        time.sleep(0.001)
    spent, refused = 0, Counter()
    for round_no in range(rounds):
        order_no = f"{tag}-{round_no}"
        try:
            if mode == "hold":
                hold = hold_create(
                    account_id=account_id, order_amount_twd=10**6, points=points, channel="store"
                )
                hold_commit(hold_id=hold.pk, order_no=order_no)
            else:
                entries_post(
                    entries=[
                        Entry(
                            account_id,
                            PointsTransaction.Kind.REDEEM,
                            -points,
                            f"race:{order_no}",
                            PointsTransaction.Source.TILL,
                            order_no=order_no,
                        )
                    ]
                )
        except TillRefused as exc:
            refused[exc.reason] += 1
            continue
        except InsufficientPoints:
            refused["insufficient_points"] += 1
            continue
        spent += points
    connection.close()
    print(json.dumps({"tag": tag, "spent": spent, "refused": dict(refused)}), flush=True)


if __name__ == "__main__":
    main()
