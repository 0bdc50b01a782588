"""crm's background steps, each claimed with a lease (omnichannel/jobs.py) so none stays running
after its worker died. Registered when the app is ready; the reaper watches them.

Why each one is redone or failed when its worker stops:
- checking an upload only reads it: redone.
- importing is safe to redo: every batch resolves identities and upserts orders by their
  number, so rows a dead worker already landed land again as the same members and orders; the
  counters restart at the claim. Redone up to three claims, then failed.
- an export is not redone: a worker that died writing one most likely died of that export (its
  memory or its time limit), and the asker sees the failure at once and can narrow the list.
"""

from django.utils.translation import gettext_lazy as _

from crm.models import ExportJob, ImportJob
from omnichannel.jobs import LeasedStep, leased_step_register

REASON_IMPORT_WORKER_STOPPED = _(
    "The worker importing this file stopped three times; the rows it had read are imported. "
    "Upload the file again, or split it."
)
REASON_CHECK_WORKER_STOPPED = _(
    "The worker checking this file stopped three times. Upload it again, or split it."
)
REASON_EXPORT_WORKER_STOPPED = _(
    "The worker writing this export stopped before it finished. Export again, or narrow the list."
)

IMPORT_CHECK = LeasedStep(
    name="crm.import.check",
    model="crm.ImportJob",
    running_status=ImportJob.Status.PREVIEWING,
    failed_status=ImportJob.Status.FAILED,
    reason=REASON_CHECK_WORKER_STOPPED,
    redo_status=ImportJob.Status.PREVIEWING,
    task="crm.tasks.import_job_check_task",
)
IMPORT_RUN = LeasedStep(
    name="crm.import.run",
    model="crm.ImportJob",
    running_status=ImportJob.Status.RUNNING,
    failed_status=ImportJob.Status.FAILED,
    reason=REASON_IMPORT_WORKER_STOPPED,
    redo_status=ImportJob.Status.QUEUED,
    task="crm.tasks.import_job_run_task",
)
EXPORT_RUN = LeasedStep(
    name="crm.export.run",
    model="crm.ExportJob",
    running_status=ExportJob.Status.RUNNING,
    failed_status=ExportJob.Status.FAILED,
    reason=REASON_EXPORT_WORKER_STOPPED,
    language_field="language",
)


def register_crm_leased_steps() -> None:
    for step in (IMPORT_CHECK, IMPORT_RUN, EXPORT_RUN):
        leased_step_register(step)
