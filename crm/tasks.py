from celery import shared_task
from django.db import OperationalError

from crm.services import api_keys, exports, import_jobs, segments, stats


# acks_late + reject_on_worker_lost: the message is acknowledged when the step ends, and handed
# to another worker if this one dies. Safe because the leased claim decides (crm/jobs.py): a
# second delivery while the lease lives does nothing, one after it expired takes the job over,
# and a job claimed three times is failed by the reaper, so a file that kills workers cannot
# loop forever.
@shared_task(acks_late=True, reject_on_worker_lost=True)
def import_job_check_task(job_id: int) -> None:
    import_jobs.import_job_check(job_id=job_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def import_job_run_task(job_id: int) -> None:
    import_jobs.import_job_execute(job_id=job_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def idempotency_records_purge_task() -> int:
    """Delete Idempotency-Key records past their 24 hours (safe twice: the second finds none)."""
    return api_keys.idempotency_records_purge()


# acks_late, so a broker connection lost mid-export delivers it again (the claim makes that
# harmless), but not reject_on_worker_lost: a worker that died writing an export most likely died
# of it (memory, the hard time limit), and redelivering it would kill the next one. The reaper
# marks it failed instead, with the reason, in the asker's language.
@shared_task(acks_late=True, reject_on_worker_lost=False)
def export_job_run_task(job_id: int) -> None:
    """Write an export's file; a second delivery finds the job taken and does nothing."""
    exports.export_job_run(job_id=job_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def member_stats_rebuild_task() -> int:
    """Recompute every member's figures and RFM groups (safe twice: same figures again)."""
    return stats.member_stats_rebuild()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def segment_counts_refresh_task() -> int:
    """Count every saved segment again (safe twice: the same counts again)."""
    return segments.segment_counts_refresh()
