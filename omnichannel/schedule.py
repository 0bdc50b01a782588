"""Every job Celery beat runs, declared in one place and written to django-celery-beat's tables.

Each entry: name, task, crontab in Asia/Taipei, and why. Later apps add their jobs here.
`sync_periodic_tasks` runs after every migrate, so a deploy brings the schedule with it;
an operator may still pause a job in the admin (enabled stays as they left it).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    name: str
    task: str
    minute: str
    hour: str
    why: str
    day_of_week: str = "*"
    day_of_month: str = "*"
    month_of_year: str = "*"


SCHEDULE = (
    Job(
        name="keep campaigns moving",
        task="campaigns.tasks.campaigns_sweep_task",
        minute="*",
        hour="*",
        why="Launches scheduled campaigns when their time comes, sends batches whose quiet "
        "hours or backoff ended, and gives a dead worker's batch (its lease expired) to a live "
        "one. Every minute, so a scheduled campaign starts within a minute of its time; while "
        "a campaign sends, workers also run it every CAMPAIGN_SWEEP_SECONDS.",
    ),
    Job(
        name="recount the figures of campaigns sending now",
        task="campaigns.tasks.campaign_figures_recount_due_task",
        minute="*",
        hour="*",
        why="A campaign's report reads its kept figures; their sending counts (members, sent, "
        "failed, suppressed) are recounted from the outbox in one GROUP BY. Every minute for "
        "the campaigns sending (or ended in the last hours) whose batches moved since the "
        "last recount, so the report of a running campaign lags by a minute at most.",
    ),
    Job(
        name="credit orders to campaigns",
        task="campaigns.tasks.conversions_consume_task",
        minute="*",
        hour="*",
        why="Reads crm's order-change feed (imports, the API, merges) and credits each order "
        "placed in a campaign's conversion window to that campaign, netting returns, in the "
        "same transaction as the feed's cursor. Every minute: an import's orders show in the "
        "reports within a minute of it, and crm never imports campaigns.",
    ),
    Job(
        name="refresh the KPI rollups",
        task="omnichannel.kpis.tasks.kpis_refresh_task",
        minute="*/5",
        hour="*",
        why="The KPI pages read rollup tables, never orders or touchpoints per request. Every "
        "5 minutes the days and months that changed since the last refresh (crm's order-change "
        "feed, deliveries, ledger entries and touchpoints written since) are recomputed, so a "
        "page is at most about 5 minutes behind and each refresh does minutes of work, not "
        "years. `manage.py rebuild_kpis` recomputes everything.",
    ),
    Job(
        name="recompute the KPI cohorts",
        task="omnichannel.kpis.tasks.cohorts_mark_all_task",
        minute="5",
        hour="4",
        why="A member's cohort is the month of their first purchase (MemberStats), which a "
        "back-dated order, a merge or an import can move without an order change in the "
        "months the 5-minute refresh recomputes. Nightly at 04:05, after the 03:30 rebuild of "
        "the members' figures, every activity month is marked for the cohorts and the next "
        "refresh recomputes them all from the monthly activity rollup (a cohort rebuild's "
        "cost, once a night): cohorts are at most a day stale.",
    ),
    Job(
        name="fit the customer-value models",
        task="omnichannel.kpis.tasks.clv_models_refresh_task",
        minute="20",
        hour="4",
        why="The Members page's predicted 12-month CLV comes from a BG/NBD and a Gamma-Gamma "
        "model fitted on members' purchase figures (MemberStats): nightly at 04:20, after the "
        "03:30 rebuild of those figures and their RFM scores, the models are fitted on a "
        "sample of buyers, every buyer's next 12 months is predicted set-wise, and the page's "
        "small summaries (CLV by acquisition channel and first-purchase month, the RFM grid) "
        "are written. A day's purchases barely move the fit; a lock lets one run at a time. "
        "`manage.py fit_clv` does the same.",
    ),
    Job(
        name="reap background jobs whose worker stopped",
        task="omnichannel.tasks.jobs_reap_task",
        minute="*/5",
        hour="*",
        why="A worker killed mid-job (deploy, out of memory, the hard time limit) leaves its "
        "import or export 'running' forever. Every job heartbeats within JOB_LEASE_SECONDS "
        "(5 minutes); every 5 minutes the reaper redoes the expired ones that are safe to redo "
        "and fails the others with a reason, so a marketer waits at most about 10 minutes.",
    ),
    Job(
        name="clear expired sessions",
        task="omnichannel.tasks.clear_expired_sessions",
        minute="15",
        hour="4",
        why="Logins expire after two weeks; keep the session table small. 04:15, the quiet hour.",
    ),
    Job(
        name="purge expired idempotency records",
        task="crm.tasks.idempotency_records_purge_task",
        minute="40",
        hour="*",
        why="Every ingest API call with an Idempotency-Key leaves a row that answers retries "
        "for 24 hours and is dead weight after. Hourly, so the table holds about a day of "
        "calls and each purge deletes one hour's worth in short batches.",
    ),
    Job(
        name="rebuild member figures and RFM groups",
        task="crm.tasks.member_stats_rebuild_task",
        minute="30",
        hour="3",
        why="Imports and orders keep each member's figures current, but the 365-day spend "
        "and order counts move with the date and RFM quintiles rank everyone against "
        "everyone: recompute all nightly at 03:30, before marketers and the 04:00 jobs.",
    ),
    Job(
        name="fetch LINE opens and clicks",
        task="campaigns.tasks.line_insights_collect_task",
        minute="25",
        hour="*",
        why="LINE reports opens and clicks only in aggregate, per aggregation unit (one per "
        "campaign variant), some time after the send. Hourly at :25, units first sent more than "
        "LINE_INSIGHT_DELAY_HOURS (24) ago are asked about once, and once more 3 days after "
        "the send when the figures have settled; never after 14 days. Rate-limited; a second "
        "run asks nothing new.",
    ),
    Job(
        name="measure the global control group",
        task="campaigns.tasks.control_group_figures_task",
        minute="50",
        hour="4",
        why="The programme's total effect: members held out of every campaign against the "
        "rest, over the last 30 days of orders. Nightly at 04:50, after the 03:30 member "
        "rebuild and the night's imports; one aggregate query, rerun-safe (same day replaced).",
    ),
    Job(
        name="refresh segment counts",
        task="crm.tasks.segment_counts_refresh_task",
        minute="10",
        hour="*",
        why="The segment list shows each saved segment's member count without running its "
        "query on every page view; orders and imports move the counts all day and the 03:30 "
        "rebuild regroups RFM, so recount hourly at :10 (the 04:10 run follows the rebuild). "
        "One COUNT per segment, each under half a second at a million members.",
    ),
    Job(
        name="expire unused coupons",
        task="loyalty.tasks.coupons_expire_task",
        minute="5",
        hour="0",
        why="Coupons are valid through the end of a day (Asia/Taipei), so at 00:05 the "
        "unused ones past their expiry are marked expired, for the coupon pages, the profile "
        "and the 'coupon unused' segment rule (the till refuses an expired coupon before this "
        "runs anyway). Set-wise, chunks of 10,000; a second run changes nothing.",
    ),
    Job(
        name="expire forgotten points holds",
        task="loyalty.tasks.holds_expire_task",
        minute="*",
        hour="*",
        why="A till holds a member's points for a sale in progress; a sale that is neither "
        "committed nor released (a till crashed, a cashier walked away) must give its points "
        "back after LOYALTY_HOLD_MINUTES. Available points never count an expired hold and a "
        "commit refuses one already, so this only records the status; every minute keeps the "
        "open-holds index small. One UPDATE on that index.",
    ),
    Job(
        name="earn points on orders",
        task="loyalty.tasks.earn_drain_task",
        minute="*",
        hour="*",
        why="Reads crm's order-change feed and posts the points orders earn (and the reversals "
        "of returns and cancellations), set-wise, exactly once per order. crm's "
        "order_changes_written signal queues the same drain right after an import, API or "
        "demo batch commits; this run every minute catches a signal that was lost (a broker "
        "outage), so no order waits more than a minute for its points.",
    ),
    Job(
        name="expire loyalty points",
        task="loyalty.tasks.points_expire_task",
        minute="5",
        hour="1",
        why="Earned points expire first in, first out on their day (Asia/Taipei): at 01:05 "
        "every account whose points expired by today gets one EXPIRE entry, keyed by account "
        "and day, so a rerun or a second worker writes nothing more. Before the tier review.",
    ),
    Job(
        name="review loyalty tiers",
        task="loyalty.tasks.tiers_nightly_task",
        minute="35",
        hour="1",
        why="Rolling 12-month spend falls as old orders leave the window, and grace periods "
        "end with the date: at 01:35, after the expiry, every account's spend and tier are "
        "recounted in batches; unchanged accounts are not written, so a rerun writes nothing.",
    ),
    Job(
        name="re-evaluate tiers on orders",
        task="loyalty.tasks.tiers_consume_task",
        minute="*",
        hour="*",
        why='Reads crm\'s order-change feed from its own cursor ("loyalty.tiers") and '
        "re-evaluates the members each batch touches: a member reaching a tier gets it within "
        "a minute of the order; a member who orders for the first time gets an account.",
    ),
    Job(
        name="send birthday greetings",
        task="loyalty.tasks.birthday_job_task",
        minute="0",
        hour="9",
        why="Members whose birthday it is today (solar or lunar; or, with LOYALTY_BIRTHDAY_ON="
        "month, whose birth month starts today) get a birthday coupon and the birthday "
        "automated message through their best channel. 09:00 Taipei: a greeting in the "
        "morning, after the night's jobs and imports, inside every channel's daytime (quiet "
        "hours would hold an earlier one anyway). A unique row per member and year: a rerun "
        "or a second beat process sends and issues nothing twice.",
    ),
    Job(
        name="remind members of unused points",
        task="loyalty.tasks.points_reminder_job_task",
        minute="30",
        hour="10",
        why="Members whose points expire within LOYALTY_REMINDER_EXPIRY_DAYS, or who hold "
        "LOYALTY_REMINDER_MIN_POINTS and have not redeemed for LOYALTY_REMINDER_IDLE_DAYS, "
        "are reminded: wallet holders by a card update with a change message, the others by "
        "the automated message. Daily at 10:30, after the 01:05 expiry (balances are "
        "final) and apart from the birthday greetings; once a month per member (a unique row "
        "per member and month), so a daily run only reaches the newly due.",
    ),
    Job(
        name="push wallet card updates",
        task="loyalty.tasks.wallet_updates_push_task",
        minute="*",
        hour="*",
        why="Points and tier changes only mark the member's wallet cards; every minute the "
        "cards changed since their last push (and not pushed in the last WALLET_PUSH_MINUTES) "
        "are claimed and their wallets told once: one APNs push per Apple device, one patch per "
        "Google object, however many entries the member had. A card's update reaches the "
        "phone within a minute or two, and a busy member's card at most every few minutes.",
    ),
)


def sync_periodic_tasks(**kwargs) -> None:
    from django.conf import settings
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    for job in SCHEDULE:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=job.minute,
            hour=job.hour,
            day_of_week=job.day_of_week,
            day_of_month=job.day_of_month,
            month_of_year=job.month_of_year,
            timezone=settings.TIME_ZONE,
        )
        PeriodicTask.objects.update_or_create(
            name=job.name,
            defaults={
                "task": job.task,
                "crontab": crontab,
                "interval": None,
                "description": job.why,
            },
        )
