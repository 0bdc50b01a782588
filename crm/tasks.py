from celery import shared_task

from crm.services import import_jobs


@shared_task
def import_job_check_task(job_id: int) -> None:
    import_jobs.import_job_check(job_id=job_id)


@shared_task
def import_job_run_task(job_id: int) -> None:
    import_jobs.import_job_execute(job_id=job_id)
