"""Loyalty's beat jobs that reach members (birthday offers, unused-points reminders), and the
log of every loyalty job's runs (expiry and the tier review too), shown on /loyalty/jobs/.

`loyalty_job_run` is the one runner. For a job, a run day and a period:
1. it records a `LoyaltyJobRun` (status running);
2. it writes one `LoyaltyJobMessage` per member due, set-wise: one INSERT … SELECT of the due
   members with their path (a wallet card update for wallet holders when the job says so, else
   the automated message) ON CONFLICT DO NOTHING on the unique (job, period, member). A member
   already reached this period (an earlier run, or another beat process running right now) is
   skipped by the database, not by a check that could race: the second INSERT waits for the
   first's rows and writes none of them;
3. the job's own step for the rows this run wrote (the birthday coupons), and the wallet card
   updates with their change message, in the same transaction as the rows;
4. after commit, the automated message of the run DAY (campaigns.services.automated): one run
   campaign per job and day (its period is the day, "2026-12-07"), copied from the template
   that day, so a marketer's edit reaches the next day's run; its audience is the rows the
   day's runs wrote on the campaign path (the audience source "loyalty.<job>", registered in
   loyalty.apps, params {"job", "day"}), so consent, quiet hours, caps and the outbox's unique
   (campaign, member) apply; a second run the same day extends that day's campaign only. The
   row's period (a year, a month) stays the once-per-member key; the campaign is the day's;
5. the run's figures (due, new, already done, by message, by wallet) and its end: done (with
   a warning when the day's campaign is paused, cancelled, failed or already sending and so
   takes none of this run's members), or failed with the error. What the pipeline then
   suppressed and why is read live from the day's campaign's deliveries on the page (the
   sending happens after the job).
"""

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta

from django.core.exceptions import EmptyResultSet
from django.db import OperationalError, connection, transaction
from django.db.models import Expression, F, QuerySet, Value
from django.utils import timezone

from campaigns.models import Campaign, Delivery
from campaigns.services import automated_message_send
from crm.models import Member
from loyalty.models import LoyaltyJob, LoyaltyJobMessage, LoyaltyJobRun
from loyalty.services.wallet import wallet_passes_touch

logger = logging.getLogger(__name__)

ERROR_MAX = 500


def job_trigger(job: str) -> str:
    """The automated message's trigger (and audience source) of a loyalty job."""
    return f"loyalty.{job}"


# A row an earlier day's campaign never took rides with a later day's, for this many days.
CARRY_OVER_DAYS = 7


def job_audience(params: dict) -> QuerySet:
    """The audience source of "loyalty.<job>": the members on the campaign path that the job's
    runs of one day wrote (params {"job", "day"}), and those its runs of the CARRY_OVER_DAYS
    before wrote that no run campaign of the job took into its outbox (that day's campaign
    failed to launch, or was already sending when a later run added them); {"job", "period"}
    (runs made before the run campaign was per day) reads the period's rows."""
    job = params["job"]
    rows = LoyaltyJobMessage.objects.filter(job=job, path=LoyaltyJobMessage.Path.CAMPAIGN)
    if "day" not in params:
        return rows.filter(period=params["period"]).values("member_id")
    day = date.fromisoformat(params["day"])
    since = day - timedelta(days=CARRY_OVER_DAYS - 1)
    today = rows.filter(run__job=job, run__day=day)
    taken = Delivery.objects.filter(
        campaign__audience_source=job_trigger(job),
        campaign__period__gte=since.isoformat(),
        campaign__period__lt=day.isoformat(),
    ).values("member_id")
    left_over = rows.filter(run__job=job, run__day__gte=since, run__day__lt=day).exclude(
        member_id__in=taken
    )
    return (today | left_over).values("member_id")


def _due_members(due: QuerySet) -> QuerySet:
    return Member.objects.filter(pk__in=due)


def _rows_insert(
    *,
    run: LoyaltyJobRun,
    due: QuerySet,
    wallet: QuerySet | None,
    member_period: Expression | None,
    now: datetime,
) -> int:
    """The INSERT … SELECT of step 2; returns the rows written (new members)."""
    period = member_period if member_period is not None else Value(run.period)
    try:
        due_sql, due_params = (
            _due_members(due)
            .order_by()
            .annotate(job_member=F("pk"), job_period=period)
            .values_list("job_member", "job_period")
            .query.sql_with_params()
        )
    except EmptyResultSet:
        return 0  # a rule that knows nobody is due (pk__in=[]) compiles to no SQL
    path_sql, path_params = "%s", [LoyaltyJobMessage.Path.CAMPAIGN.value]
    if wallet is not None:
        try:
            wallet_sql, wallet_params = wallet.query.sql_with_params()
        except EmptyResultSet:
            wallet_sql, wallet_params = "SELECT NULL WHERE 1 = 0", []
        path_sql = f"CASE WHEN due.job_member IN ({wallet_sql}) THEN %s ELSE %s END"
        path_params = [
            *wallet_params,
            LoyaltyJobMessage.Path.WALLET.value,
            LoyaltyJobMessage.Path.CAMPAIGN.value,
        ]
    table = LoyaltyJobMessage._meta.db_table
    sql = (
        f'INSERT INTO "{table}" (job, period, member_id, run_id, path, reason, created_at) '  # noqa: S608 (table from _meta, values as parameters)
        f"SELECT %s, due.job_period, due.job_member, %s, {path_sql}, '', %s "
        f"FROM ({due_sql}) AS due WHERE true ON CONFLICT DO NOTHING"
    )
    params = [run.job, run.pk, *path_params, now, *due_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


# The states of a run campaign that take no more members: the job run says so (a warning).
CAMPAIGN_WARNINGS = {
    Campaign.Status.PAUSED: LoyaltyJobRun.Warning.CAMPAIGN_PAUSED,
    Campaign.Status.CANCELLED: LoyaltyJobRun.Warning.CAMPAIGN_CANCELLED,
    Campaign.Status.FAILED: LoyaltyJobRun.Warning.CAMPAIGN_FAILED,
}


def loyalty_job_run(
    *,
    job: str,
    period: str,
    due: QuerySet,
    now: datetime,
    day: date | None = None,
    member_period: Expression | None = None,
    wallet: QuerySet | None = None,
    wallet_message: Callable[[], str] | None = None,
    prepare: Callable[[LoyaltyJobRun], None] | None = None,
    params: dict | None = None,
) -> LoyaltyJobRun:
    """Run a member-reaching job on `day` (default: `now`'s day in Asia/Taipei) for `period`
    (see the module docstring for the steps).

    `due`: the members due (a queryset of one column, member ids); `member_period`: the row's
    period per member, an expression over Member (the birthday job's lunar years), instead of
    `period` (then only the run's label); `wallet`: the same for those to reach by a wallet
    card update instead (None: none); `wallet_message`: the change message shown with that
    update; `prepare(run)`: the job's own step for the rows this run wrote, in their
    transaction; `params`: more parameters for the automated message's run campaign.

    A failure is recorded on the run (status failed, error); an OperationalError (the
    database went away, a lock timed out) is then raised again so the task's autoretry runs
    the job again. Any other failure is not raised: the next day's run catches up where the
    job's due set allows it (the birthday job's does)."""
    day = day or timezone.localdate(now)
    run = LoyaltyJobRun.objects.create(job=job, period=period, day=day, started_at=now)
    retry: OperationalError | None = None
    try:
        with transaction.atomic():
            due_count = _due_members(due).count()
            new = _rows_insert(
                run=run, due=due, wallet=wallet, member_period=member_period, now=now
            )
            if prepare is not None:
                prepare(run)
            mine = LoyaltyJobMessage.objects.filter(run=run)
            wallet_ids = list(
                mine.filter(path=LoyaltyJobMessage.Path.WALLET).values_list("member_id", flat=True)
            )
            if wallet_ids:
                wallet_passes_touch(
                    member_ids=wallet_ids,
                    now=now,
                    change_message=wallet_message() if wallet_message else None,
                )
            by_campaign = mine.filter(path=LoyaltyJobMessage.Path.CAMPAIGN).count()
        campaign = None
        audience = {"job": job, "day": day.isoformat()}
        before = (
            Campaign.objects.filter(template__trigger=job_trigger(job), period=day.isoformat())
            .values_list("status", flat=True)
            .first()
        )
        if job_audience(audience).exists():
            # The day's run campaign (one per job and day, copied from the template that
            # day): made and launched by the day's first run with members on the campaign
            # path, extended by a later run of the same day.
            campaign = automated_message_send(
                trigger=job_trigger(job),
                period=day.isoformat(),
                params={**audience, **(params or {})},
                now=now,
            )
        run.counts = {
            "due": due_count,
            "new": new,
            "already": max(due_count - new, 0),
            "campaign": by_campaign,
            "wallet": len(wallet_ids),
        }
        run.campaign = campaign
        warning = None
        if campaign is not None and by_campaign:
            warning = CAMPAIGN_WARNINGS.get(campaign.status)
            if before == campaign.status == Campaign.Status.SENDING:
                # Its snapshot was taken: this run's members wait for no one to take them.
                warning = LoyaltyJobRun.Warning.CAMPAIGN_BUSY
        if warning is not None:
            run.warning = warning
            logger.warning(
                "loyalty job %s %s: %s members chosen, but the day's campaign %s is %s",
                job,
                day,
                by_campaign,
                campaign.pk,
                campaign.status,
            )
        run.status = LoyaltyJobRun.Status.DONE
    except Exception as exc:
        logger.exception("loyalty job %s %s failed", job, period)
        run.status = LoyaltyJobRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:ERROR_MAX]
        if isinstance(exc, OperationalError):
            retry = exc
    run.finished_at = timezone.now()
    run.save(update_fields=["counts", "campaign", "status", "warning", "error", "finished_at"])
    if retry is not None:
        raise retry
    return run


def loyalty_job_logged(
    *, job: str, period: str, work: Callable[[], int], now: datetime | None = None
) -> LoyaltyJobRun:
    """Run a job that reaches no member (the points expiry, the tier review) and log it as a
    `LoyaltyJobRun` with its figure ({"changed": n}). Never raises: a failure is recorded."""
    now = now or timezone.now()
    run = LoyaltyJobRun.objects.create(job=job, period=period, started_at=now)
    try:
        run.counts = {"changed": int(work() or 0)}
        run.status = LoyaltyJobRun.Status.DONE
    except Exception as exc:
        logger.exception("loyalty job %s %s failed", job, period)
        run.status = LoyaltyJobRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:ERROR_MAX]
    run.finished_at = timezone.now()
    run.save(update_fields=["counts", "status", "error", "finished_at"])
    return run


def register_loyalty_audience_sources() -> None:
    """The audience sources of the automated messages loyalty's jobs send (loyalty.apps)."""
    from campaigns.audience_sources import AudienceSource, register_audience_source

    for job in (LoyaltyJob.BIRTHDAY, LoyaltyJob.POINTS_REMINDER):
        register_audience_source(
            AudienceSource(name=job_trigger(job), label=job.label, member_ids=job_audience)
        )
