"""The KPI rollups' two verbs: refresh (beat, every few minutes: only what changed) and rebuild
(`manage.py rebuild_kpis`: everything). Each runs the registered rollups in order and records a
RollupRun with what each did, so the pages can say how fresh their figures are."""

import logging
import time

from django.apps import apps
from django.db import connection, transaction
from django.utils import timezone

from omnichannel.kpis.models import RollupRun, RollupWatermark
from omnichannel.kpis.registry import rollups_in_order

logger = logging.getLogger(__name__)
LOCK_NAME = "kpis.run"


def _run(kind: str) -> RollupRun | None:
    """Run every rollup's refresh or rebuild under one lock: None when another run holds it
    (two beat processes, or a rebuild while beat refreshes: the second steps aside)."""
    RollupWatermark.objects.get_or_create(name=LOCK_NAME)
    with transaction.atomic():
        # The lock row is held for the run: a second run skips rather than waits.
        lock = (
            RollupWatermark.objects.select_for_update(skip_locked=True)
            .filter(name=LOCK_NAME)
            .first()
        )
        if lock is None:
            return None
        run = RollupRun.objects.create(kind=kind)
        counts: dict[str, dict] = {}
        failure: Exception | None = None
        for rollup in rollups_in_order():
            # Each rollup in its own savepoint: one that raises rolls back alone, is recorded,
            # and the ones after it still run; the first error is re-raised at the end.
            started = time.monotonic()
            try:
                with transaction.atomic():
                    done = rollup.refresh() if kind == RollupRun.Kind.REFRESH else rollup.rebuild()
            except Exception as error:
                logger.exception("KPI %s: rollup %s failed", kind, rollup.name)
                seconds = round(time.monotonic() - started, 3)
                counts[rollup.name] = {
                    "error": f"{type(error).__name__}: {error}",
                    "seconds": seconds,
                }
                if failure is None:
                    failure = error
                    run.error = f"{rollup.name}: {type(error).__name__}: {error}"
                continue
            seconds = round(time.monotonic() - started, 3)
            counts[rollup.name] = {"rows": done, "seconds": seconds}
        run.status = RollupRun.Status.DONE if failure is None else RollupRun.Status.FAILED
        run.counts, run.finished_at = counts, timezone.now()
        # A failed rollup rolled back to its savepoint; the others and this record commit,
        # and the task sees the first error.
        run.save()
    if failure is not None:
        logger.error("KPI %s failed: %s", kind, run.error)
        raise failure
    logger.info("KPI %s done: %s", kind, counts)
    return run


def kpis_refresh() -> RollupRun | None:
    """Fold what changed since the last refresh into every rollup. Safe twice and at once.
    Raises what a rollup raised (its run is recorded failed)."""
    return _run(RollupRun.Kind.REFRESH)


def kpis_rebuild() -> RollupRun | None:
    """Recompute every rollup from its sources (after a restore, a rule change, a bug fix)."""
    run = _run(RollupRun.Kind.REBUILD)
    if run is not None:
        rollup_tables_vacuum()
    return run


def rollup_tables_vacuum() -> None:
    """VACUUM ANALYZE the rollup tables after a rebuild rewrote them (PostgreSQL): without it
    the planner sees the empty tables of before (estimates of thousands of rows against
    millions) and the active-member counts cannot use index-only scans until autovacuum
    comes by. VACUUM cannot run in a transaction: inside one (a test), ANALYZE alone."""
    if connection.vendor != "postgresql":
        return
    verb = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
    with connection.cursor() as cursor:
        for model in apps.get_app_config("kpis").get_models():
            cursor.execute(f"{verb} {connection.ops.quote_name(model._meta.db_table)}")
