from celery import shared_task
from django.db import OperationalError

from omnichannel.kpis.services import kpis_refresh


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def kpis_refresh_task() -> dict | None:
    """Fold the changes since the last refresh into the KPI rollups (safe twice and at once)."""
    run = kpis_refresh()
    return run.counts if run else None


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def clv_models_refresh_task() -> dict | None:
    """Fit the customer-value models and predict every buyer's next 12 months (nightly)."""
    from omnichannel.kpis.clv import clv_models_refresh

    run = clv_models_refresh()
    return {"run": run.pk, "params": run.params} if run else None


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def cohorts_mark_all_task() -> int:
    """Have the next refresh recompute every cohort month (nightly, after the stats rebuild)."""
    from omnichannel.kpis.rollups_members import cohorts_mark_all

    return cohorts_mark_all()
