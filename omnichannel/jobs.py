"""Background jobs that cannot stay "running" forever: a claim with a lease, a heartbeat, a reaper.

Any app's job row (crm's ImportJob and ExportJob today; campaigns' send batches and loyalty's
jobs next) inherits `LeasedJob` and registers each step a worker runs as a `LeasedStep`:

- `job_claim` takes the job with one conditional UPDATE (status, lease, worker token; the row
  count decides, STYLE.md rule 20). Two workers given the same id: one gets the token, the other
  nothing. A running job whose lease expired may be claimed again (its worker died).
- `job_heartbeat` pushes the lease forward while the work progresses (once per batch), only for
  the token's holder; `LeaseLost` tells a slow worker that its job was taken from it.
- `job_release` writes the outcome, again only for the token's holder.
- `jobs_reap` (beat, every few minutes: omnichannel/schedule.py) finds running jobs whose lease
  expired and either puts them back in the queue (a step that is safe to redo, up to
  `max_attempts` claims) or marks them failed with a translated reason.

`JOB_LEASE_SECONDS` (settings) is how long a worker may go without a heartbeat.
"""

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class LeaseLost(RuntimeError):
    """The job is no longer this worker's: the reaper gave it to another or failed it."""


class LeasedJob(models.Model):
    """The fields a job row needs for a lease (abstract: each app keeps its own table)."""

    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True, editable=False)
    worker = models.CharField(max_length=32, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0, editable=False)

    class Meta:
        abstract = True


@dataclass(frozen=True)
class LeasedStep:
    """One step a worker runs on a job row, and what the reaper does when its worker dies.

    `redo_status` is where an expired job goes to be done again (with `task` sent its id), or
    None when redoing is not safe or not wise: then it is marked `failed_status` with `reason`
    (translated into `language_field`'s language when the row has one, else the site's).
    """

    name: str
    model: str  # "app_label.ModelName"
    running_status: str
    failed_status: str
    reason: Promise
    redo_status: str | None = None
    task: str | None = None
    max_attempts: int = 3
    error_field: str = "error"
    finished_field: str | None = "finished_at"
    language_field: str | None = None
    # The settings attribute holding this step's lease in seconds (default JOB_LEASE_SECONDS):
    # a send batch takes minutes at most, so a dead worker's batch is taken over sooner.
    lease_setting: str = "JOB_LEASE_SECONDS"

    @property
    def lease_seconds(self) -> int:
        return getattr(settings, self.lease_setting)

    @property
    def model_class(self) -> type[LeasedJob]:
        return apps.get_model(self.model)


_STEPS: dict[str, LeasedStep] = {}


def leased_step_register(step: LeasedStep) -> LeasedStep:
    """Add a step the reaper watches. Raises ValueError for a name already registered."""
    if step.name in _STEPS and _STEPS[step.name] != step:
        raise ValueError(f"A leased step named {step.name!r} is already registered.")
    if step.redo_status is not None and step.task is None:
        raise ValueError(f"{step.name}: a step that is redone needs the task to send.")
    _STEPS[step.name] = step
    return step


def leased_steps() -> tuple[LeasedStep, ...]:
    return tuple(_STEPS.values())


def _lease_until(step: LeasedStep):
    return timezone.now() + timedelta(seconds=step.lease_seconds)


def job_claim(*, step: LeasedStep, job_id: int, from_statuses: tuple[str, ...], **fields) -> str:
    """Take job `job_id` for `step` and return this worker's token, or "" when it is not to be
    had (another worker holds a live lease, it is done, or it used up its attempts).

    Claimable: a job in one of `from_statuses` with no live lease, or a running job of this step
    whose lease expired. `fields` are written with the claim (started_at, counters reset, …).
    """
    now = timezone.now()
    token = secrets.token_hex(16)
    free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    claimable = (Q(status__in=from_statuses) | Q(status=step.running_status)) & free
    # Race: two workers with the same id (a task delivered twice, a redo after a slow worker):
    # the UPDATE is atomic per row, so exactly one of them changes it and sees a row count of 1.
    claimed = step.model_class.objects.filter(
        claimable, pk=job_id, attempts__lt=step.max_attempts
    ).update(
        status=step.running_status,
        lease_expires_at=_lease_until(step),
        worker=token,
        attempts=F("attempts") + 1,
        **fields,
    )
    return token if claimed else ""


def job_heartbeat(*, step: LeasedStep, job_id: int, token: str, **fields) -> None:
    """Extend the lease (and write `fields`, the progress). Raises LeaseLost if the job is no
    longer this token's."""
    updated = step.model_class.objects.filter(
        pk=job_id, worker=token, status=step.running_status
    ).update(lease_expires_at=_lease_until(step), **fields)
    if not updated:
        raise LeaseLost(f"{step.name} job {job_id} is no longer held by this worker")


def job_release(*, step: LeasedStep, job_id: int, token: str, **fields) -> bool:
    """Write the job's outcome (`fields`, its new status among them) and drop the lease, if the
    token still holds it. Returns False when it does not (nothing written)."""
    return bool(
        step.model_class.objects.filter(pk=job_id, worker=token, status=step.running_status).update(
            lease_expires_at=None, worker="", **fields
        )
    )


def jobs_reap(*, now=None) -> dict[str, int]:
    """Redo or fail every running job whose lease expired; returns {step name: jobs reaped}.

    Safe twice: a reaped job is no longer running with an expired lease.
    """
    now = now or timezone.now()
    reaped: dict[str, int] = {}
    for step in leased_steps():
        reaped[step.name] = _reap_step(step, now)
    return reaped


def _reap_step(step: LeasedStep, now) -> int:
    model = step.model_class
    expired = Q(status=step.running_status, lease_expires_at__lt=now)
    with transaction.atomic():
        # Race: a worker's heartbeat against the reaper. The rows are locked (PostgreSQL) and
        # the UPDATEs repeat the condition, so a job heartbeated meanwhile is left alone, and a
        # reaped job's worker finds its token gone at its next heartbeat.
        rows = list(
            model.objects.select_for_update(skip_locked=True)
            .filter(expired)
            .values_list("pk", "attempts", *([step.language_field] if step.language_field else []))
        )
        if not rows:
            return 0
        redo = [row[0] for row in rows if step.redo_status and row[1] < step.max_attempts]
        redone = set(redo)
        fail = [row for row in rows if row[0] not in redone]
        if redo:
            model.objects.filter(expired, pk__in=redo).update(
                status=step.redo_status, lease_expires_at=None, worker=""
            )
            task: Callable = import_string(step.task)
            transaction.on_commit(lambda: [task.delay(pk) for pk in redo])
        for language, pks in _by_language(step, fail).items():
            with translation.override(language):
                error = str(step.reason)
            done = {step.finished_field: now} if step.finished_field else {}
            model.objects.filter(expired, pk__in=pks).update(
                status=step.failed_status,
                lease_expires_at=None,
                worker="",
                **{step.error_field: error},
                **done,
            )
    if redo:
        logger.warning(
            "%s: %d job(s) whose worker stopped queued again: %s", step.name, len(redo), redo
        )
    if fail:
        logger.warning("%s: %d job(s) whose worker stopped marked failed", step.name, len(fail))
    return len(rows)


def _by_language(step: LeasedStep, rows: list[tuple]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for row in rows:
        language = (row[2] if step.language_field else "") or settings.LANGUAGE_CODE
        groups.setdefault(language, []).append(row[0])
    return groups
