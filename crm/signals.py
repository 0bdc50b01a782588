"""Signals crm sends for the apps built on it (crm imports none of them; they connect here).

`order_changes_written`: rows were written to the order-change feed (crm.services.order_feed)
and their transaction has committed. Sent once per writing call, after the commit, with
`send_robust` (a failing receiver is logged and never breaks the writer, whose data is safe).
It carries no rows: a receiver learns only that its consumer has something to read, and reads
it from its own cursor. Receivers must be cheap and must coalesce (an import of 1,000,000 rows
commits a thousand batches, so it sends a thousand signals): e.g. enqueue one drain task unless
one is queued already. The feed, not the signal, is the record: a lost signal only delays a
consumer until its beat job runs.
"""

from django.db import transaction
from django.dispatch import Signal

order_changes_written = Signal()


def order_changes_announce() -> None:
    """Send order_changes_written when the caller's transaction commits (at once outside one)."""
    from crm.models import OrderChange

    transaction.on_commit(lambda: order_changes_written.send_robust(sender=OrderChange))
