"""Reads the KPI shell shares: how fresh the rollups are."""

from datetime import datetime

from omnichannel.kpis.models import RollupRun


def rollups_refreshed_at() -> datetime | None:
    """When the last refresh or rebuild that succeeded finished (None: never)."""
    return (
        RollupRun.objects.filter(status=RollupRun.Status.DONE)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
