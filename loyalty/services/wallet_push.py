"""The wallet push job: every card whose change is due reaches its wallet once, coalesced.

A points or tier change only marks the member's cards (`wallet_passes_touch` sets `changed_at`,
keeping the earliest pending change). Beat runs this job every minute; it takes the cards that
are due — changed, and not pushed in the last WALLET_PUSH_MINUTES — and for each:

1. claims it: `updated_at` = `pushed_at` = now, `changed_at` = NULL, in one statement per batch
   (PostgreSQL: FOR UPDATE SKIP LOCKED, committed before any provider is called). THE RACE IT
   CLOSES: two beat workers (or a worker and a manual run) read the same due cards and both
   push them; under SKIP LOCKED the second skips the rows the first holds, and once the claim
   commits they are no longer due. Whatever changed in the meantime marks them again.
   `updated_at` is the pass's Last-Modified and the web service's tag, so a device that asks
   sees the change whatever happens to the push;
2. hands each platform's claimed card ids to its updater (loyalty.wallet.updaters: Apple's
   tells every device through APNs, one push a device; Google's patches each object);
3. gives `changed_at` back to the cards the updater reports for retry (the provider was busy or
   down): the next run pushes them. They are put back after the run's last claim, so a
   provider that is down is not asked again and again within one run.

With WALLET_PUSH_ENABLED off (the demo, development, CI) the job still claims and bumps
`updated_at` — a device that asks gets the new pass — but calls no updater: nothing leaves the
machine. A worker that dies between the claim and the push loses that push (the card's content
is still current for the device's next pull, and the next change pushes again): a push is a
hint to fetch, never the record of anything.
"""

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from crm.bulk import chunked
from loyalty.models import WalletPass
from loyalty.wallet.updaters import WALLET_UPDATERS, UpdateOutcome

logger = logging.getLogger(__name__)

BATCH_SIZE = 5_000  # cards claimed per statement (and handed to an updater per call)


@dataclass
class PushFigures:
    cards: int = 0  # cards claimed (their updated_at moved)
    by_platform: dict[str, int] = field(default_factory=dict)
    sent: int = 0  # pushes (Apple: one per device) and patches (Google: one per object)
    failed: int = 0
    retried: int = 0  # cards given back for the next run
    pushing: bool = True  # WALLET_PUSH_ENABLED
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        platforms = ", ".join(f"{p} {n:,}" for p, n in sorted(self.by_platform.items()))
        return (
            f"{self.cards:,} cards ({platforms or 'none'}), {self.sent:,} sent, "
            f"{self.failed:,} failed, {self.retried:,} to retry, {self.seconds:.2f} s"
            + ("" if self.pushing else " (pushing is off: WALLET_PUSH_ENABLED)")
        )


@dataclass(frozen=True)
class Claimed:
    pass_id: int
    platform: str
    changed_at: datetime  # the change that made it due (given back on a retry)


def wallet_updates_push(
    *, now: datetime | None = None, batch_size: int = BATCH_SIZE
) -> PushFigures:
    """Push every due card once (module docstring). Returns the run's figures, also logged.
    Raises nothing for a provider's refusal (counted, retried or the registration dropped by
    the updater); a database error propagates (the task retries)."""
    started = time.monotonic()
    fixed_now = now  # tests pin the time; otherwise each batch is stamped when it is claimed
    now = now or timezone.now()
    pushing = settings.WALLET_PUSH_ENABLED
    figures = PushFigures(pushing=pushing)
    due_before = now - timedelta(minutes=settings.WALLET_PUSH_MINUTES)
    retry: list[Claimed] = []
    # Each batch's cards get the time of their own claim as their new updated_at (Apple's tag):
    # a device that listed its changed serials after batch 1 (tag T1) must still see a card
    # claimed later, so that card's time must be after T1, not the run's start.
    while claimed := wallet_passes_claim(
        now=fixed_now or timezone.now(), due_before=due_before, limit=batch_size
    ):
        figures.cards += len(claimed)
        by_platform: dict[str, list[Claimed]] = defaultdict(list)
        for card in claimed:
            by_platform[card.platform].append(card)
        for platform, cards in by_platform.items():
            figures.by_platform[platform] = figures.by_platform.get(platform, 0) + len(cards)
            if not pushing:
                continue
            updater = WALLET_UPDATERS.get(platform)
            if updater is None:
                figures.failed += len(cards)
                figures.errors.append(f"{platform}: no updater registered")
                continue
            ids = [card.pass_id for card in cards]
            try:
                outcome = updater.update(ids)
            except Exception:  # its bug or its configuration (a key missing): the cards wait
                logger.exception("wallet push: the %s updater failed", platform)
                outcome = UpdateOutcome(retry_pass_ids=ids, errors=[f"{platform}: updater failed"])
            retry.extend(_add_outcome(figures, outcome, cards))
    if retry:
        wallet_passes_give_back(cards=retry)
    figures.retried = len(retry)
    figures.seconds = time.monotonic() - started
    if not pushing and figures.cards:
        logger.info("wallet push: pushing is off (WALLET_PUSH_ENABLED); %s", figures)
    elif figures.cards or figures.errors:
        logger.info("wallet push: %s; errors: %s", figures, "; ".join(figures.errors[:5]) or "-")
    return figures


def _add_outcome(
    figures: PushFigures, outcome: UpdateOutcome, cards: Sequence[Claimed]
) -> list[Claimed]:
    figures.sent += outcome.sent
    figures.failed += outcome.failed
    figures.errors.extend(outcome.errors[: max(0, 10 - len(figures.errors))])
    again = set(outcome.retry_pass_ids)
    return [card for card in cards if card.pass_id in again]


# PostgreSQL: the claim in one statement. The CTE takes the due rows FOR UPDATE SKIP LOCKED
# (rows another worker holds are skipped, not waited for), the UPDATE moves them and returns
# what each was before: RETURNING sees the new row, so the old changed_at comes from the CTE.
CLAIM_PG = """
WITH due AS (
    SELECT id, changed_at FROM loyalty_walletpass
    WHERE changed_at IS NOT NULL AND (pushed_at IS NULL OR pushed_at <= %s)
    ORDER BY changed_at, id
    LIMIT %s
    FOR UPDATE SKIP LOCKED
)
UPDATE loyalty_walletpass AS w
SET updated_at = %s, pushed_at = %s, changed_at = NULL
FROM due WHERE w.id = due.id
RETURNING w.id, w.platform, due.changed_at
"""


def wallet_passes_claim(*, now: datetime, due_before: datetime, limit: int) -> list[Claimed]:
    """Claim up to `limit` due cards (changed, not pushed since `due_before`), oldest change
    first: they are marked pushed now and unchanged, and committed before this returns."""
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(CLAIM_PG, [due_before, limit, now, now])
            return [Claimed(*row) for row in cursor.fetchall()]
    # SQLite serialises writers: the read and the write in one transaction are the claim.
    with transaction.atomic():
        rows = list(
            WalletPass.objects.filter(
                Q(pushed_at__isnull=True) | Q(pushed_at__lte=due_before), changed_at__isnull=False
            )
            .order_by("changed_at", "pk")
            .values_list("pk", "platform", "changed_at")[:limit]
        )
        if rows:
            WalletPass.objects.filter(pk__in=[pk for pk, _p, _c in rows]).update(
                updated_at=now, pushed_at=now, changed_at=None
            )
    return [Claimed(*row) for row in rows]


GIVE_BACK_PG = """
UPDATE loyalty_walletpass AS w
SET changed_at = LEAST(COALESCE(w.changed_at, r.changed_at), r.changed_at), pushed_at = NULL
FROM unnest(%s::bigint[], %s::timestamptz[]) AS r(id, changed_at)
WHERE w.id = r.id
"""


def wallet_passes_give_back(*, cards: Sequence[Claimed]) -> None:
    """The cards' pushes did not go through (the provider was busy or down): due again on the
    next run, with their earliest change kept. `pushed_at` is cleared: no push reached their
    devices, so the interval does not hold them back."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                GIVE_BACK_PG,
                [[card.pass_id for card in cards], [card.changed_at for card in cards]],
            )
        return
    # Elsewhere one UPDATE per change time (cards marked by one post share theirs).
    by_time: dict[datetime, list[int]] = defaultdict(list)
    for card in cards:
        by_time[card.changed_at].append(card.pass_id)
    with transaction.atomic():
        for changed_at, ids in by_time.items():
            back = Value(changed_at, output_field=DateTimeField())
            for chunk in chunked(ids, 500):
                WalletPass.objects.filter(pk__in=chunk).update(
                    changed_at=Least(Coalesce(F("changed_at"), back), back), pushed_at=None
                )
