"""An id watermark that tolerates rows committed out of id order (the ledger, touchpoints).

An id is drawn when a row is inserted but becomes visible only when its transaction commits,
so a refresh that reads `pk > last_id` and then moves `last_id` to the highest id it saw skips
a row whose id is lower but whose transaction committed later. Here the id a refresh reads from
(the settled id) is the highest id a refresh saw at least OVERLAP ago: every refresh re-reads
the last OVERLAP–2×OVERLAP of ids (a bounded primary-key range, cheap), so a writer that commits
within OVERLAP of drawing its id is picked up. A transaction open longer than that is not
(nightly or manual `rebuild_kpis` covers it).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from omnichannel.kpis.models import RollupWatermark

OVERLAP = timedelta(minutes=15)


@dataclass(frozen=True)
class IdWindow:
    """Read ids in (since, top]; after the rewrite, `advance()` moves the watermark."""

    name: str
    since: int
    top: int


def _pending_name(name: str) -> str:
    return f"{name}.pending"


def id_window(name: str, top: int) -> IdWindow:
    """The ids a refresh of watermark `name` reads, given the source's highest id now."""
    mark, _created = RollupWatermark.objects.get_or_create(name=name)
    return IdWindow(name=name, since=mark.last_id, top=top)


def id_window_advance(window: IdWindow, *, now: datetime | None = None) -> None:
    """Remember `top` as seen now; settle the top seen by an earlier refresh once it is at
    least OVERLAP old (its writers have had OVERLAP to commit)."""
    now = now or timezone.now()
    pending, _created = RollupWatermark.objects.get_or_create(name=_pending_name(window.name))
    if pending.last_at is not None and pending.last_at > now - OVERLAP:
        return  # the id seen last is too young to settle; keep re-reading from `since`
    if pending.last_at is not None and pending.last_id > window.since:
        RollupWatermark.objects.filter(name=window.name).update(
            last_id=pending.last_id, last_at=pending.last_at
        )
    pending.last_id, pending.last_at = window.top, now
    pending.save(update_fields=["last_id", "last_at", "updated_at"])


def id_window_reset(name: str, top: int) -> None:
    """After a rebuild read everything up to `top`: settle nothing newer than what it saw."""
    RollupWatermark.objects.update_or_create(
        name=name, defaults={"last_id": top, "last_at": timezone.now()}
    )
    RollupWatermark.objects.filter(name=_pending_name(name)).delete()
