"""The rollup tables the KPI pages read (DESIGN.md §3 omnichannel), and the refresh's own records.

A rollup row is a sum over raw rows (orders, deliveries, ledger entries, touchpoints) for one
cell of its key; the refresh recomputes whole cells from the raw rows, never adds to them, so a
re-run or an overlap gives the same rows (delete the cells, insert them again, one transaction).
Pages read these tables and MemberStats, never orders or touchpoints per request.

No foreign-key constraints on the rollups: they are rebuilt in bulk, and a store or campaign
id is a label here, not a relation the database must guard.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from omnichannel.channels import MessagingChannel, SalesChannel


class SalesDaily(models.Model):
    """Sales of one Taipei day in one sales channel at one store (null: not a store sale).

    orders counts sales (a return is not an order); revenue is net: sales less returns,
    the rule of crm's `net_revenue`. The member_ columns are the part made by members."""

    day = models.DateField(_("day"))
    channel = models.CharField(_("sales channel"), max_length=20, choices=SalesChannel.choices)
    store_id = models.IntegerField(_("store"), null=True, blank=True)
    orders = models.IntegerField(_("orders"), default=0)
    revenue_twd = models.BigIntegerField(_("net revenue (NT$)"), default=0)
    member_orders = models.IntegerField(_("members' orders"), default=0)
    member_revenue_twd = models.BigIntegerField(_("members' net revenue (NT$)"), default=0)

    class Meta:
        verbose_name = _("daily sales")
        verbose_name_plural = _("daily sales")
        # Who may open the KPI pages (Marketers and Analysts: a view_ permission).
        permissions = [("view_kpis", _("Can see the KPI pages"))]
        indexes = [models.Index(fields=["day", "channel"], name="kpi_sales_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.channel} {self.store_id or '-'}"


class MemberActivityMonthly(models.Model):
    """One member's purchases of one calendar month (Taipei) in one sales channel at one store.

    The member-grained rollup: active members, buyers online and in store (OMO), cohorts and
    their retention, wallet holders' purchase frequency. A month with only returns has a row
    with 0 orders (so "active" means orders > 0)."""

    month = models.DateField(_("month"))  # the first day of the month
    member_id = models.BigIntegerField(_("member"))
    channel = models.CharField(_("sales channel"), max_length=20, choices=SalesChannel.choices)
    store_id = models.IntegerField(_("store"), null=True, blank=True)
    orders = models.IntegerField(_("orders"), default=0)
    revenue_twd = models.BigIntegerField(_("net revenue (NT$)"), default=0)

    class Meta:
        verbose_name = _("monthly member activity")
        verbose_name_plural = _("monthly member activity")
        indexes = [
            models.Index(fields=["month", "member_id"], name="kpi_activity_month"),
            models.Index(fields=["member_id", "month"], name="kpi_activity_member"),
            # Active members (COUNT DISTINCT member_id over the period's months, per channel):
            # an index-only scan of the active rows instead of the heap (bench/kpi_pages.py:
            # 2 months at 1M members 1.1 s -> 0.15 s; PostgreSQL keeps INCLUDE, SQLite not).
            models.Index(
                fields=["month", "channel", "member_id"],
                include=["store_id"],
                condition=models.Q(orders__gt=0),
                name="kpi_activity_active",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.member_id} {self.channel}"


class MemberActivityDaily(models.Model):
    """One member's purchases of one Taipei day in one sales channel at one store: active
    members over any range of days. The monthly table serves figures by month (OMO, cohorts).

    Counting the distinct members of a year of days is slow (millions of rows to hash), so each
    active row (orders > 0) carries the member's previous active row's day in three scopes:
    any channel, the same channel, the same channel and store (same day for a second row of
    one day). The members active in [a, b] in a scope are then exactly the rows of [a, b] whose
    previous day in that scope is before a (or none): one row each, counted without DISTINCT.
    """

    day = models.DateField(_("day"))
    member_id = models.BigIntegerField(_("member"))
    channel = models.CharField(_("sales channel"), max_length=20, choices=SalesChannel.choices)
    store_id = models.IntegerField(_("store"), null=True, blank=True)
    orders = models.IntegerField(_("orders"), default=0)
    revenue_twd = models.BigIntegerField(_("net revenue (NT$)"), default=0)
    previous_day = models.DateField(_("previous active day"), null=True, blank=True)
    previous_day_channel = models.DateField(
        _("previous active day in this channel"), null=True, blank=True
    )
    previous_day_store = models.DateField(
        _("previous active day in this channel and store"), null=True, blank=True
    )

    class Meta:
        verbose_name = _("daily member activity")
        verbose_name_plural = _("daily member activity")
        indexes = [
            models.Index(fields=["member_id", "day"], name="kpi_activity_member_day"),
            # The three scopes' counts, each an index-only range scan of the active rows.
            # INCLUDE channel and its previous day: the Channels page counts the members
            # active in all and per channel in one pass (selectors_sales.active_members).
            models.Index(
                fields=["day", "previous_day"],
                include=["member_id", "channel", "previous_day_channel"],
                condition=models.Q(orders__gt=0),
                name="kpi_active_day",
            ),
            models.Index(
                fields=["channel", "day", "previous_day_channel"],
                include=["member_id"],
                condition=models.Q(orders__gt=0),
                name="kpi_active_day_channel",
            ),
            models.Index(
                fields=["store_id", "day", "previous_day_store"],
                include=["member_id"],
                condition=models.Q(orders__gt=0),
                name="kpi_active_day_store",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.member_id} {self.channel}"


class MessagingDaily(models.Model):
    """One campaign's messages on one messaging channel, on the Taipei day the campaign was
    sent (its launch): the sent group's figures as campaigns keeps them (CampaignFigures, every
    variant), so the page and the campaign report never disagree. What happened after the
    send (opens, clicks, orders credited, unsubscribes and LINE blocks put down to the
    message) counts on the send day too, the usual convention of e-mail tools: a recent
    day's figures still grow for a few days.

    `members` is the audience the campaign meant to reach on the channel (its deliveries:
    sent, failed or suppressed); `cost_cents` is campaigns' price per message sent, in
    hundredths of NT$ (campaigns.report.message_price_cents)."""

    day = models.DateField(_("day"))
    channel = models.CharField(
        _("messaging channel"), max_length=10, choices=MessagingChannel.choices
    )
    campaign_id = models.BigIntegerField(_("campaign"))
    members = models.IntegerField(_("audience"), default=0)
    sent = models.IntegerField(_("sent"), default=0)
    delivered = models.IntegerField(_("delivered"), default=0)
    failed = models.IntegerField(_("failed"), default=0)
    suppressed = models.IntegerField(_("suppressed"), default=0)
    suppressed_consent = models.IntegerField(_("suppressed: no consent"), default=0)
    suppressed_unreachable = models.IntegerField(_("suppressed: blocked or bounced"), default=0)
    suppressed_cap = models.IntegerField(_("suppressed: frequency cap"), default=0)
    opened = models.IntegerField(_("opened"), default=0)
    clicked = models.IntegerField(_("clicked"), default=0)
    converted = models.IntegerField(_("converted"), default=0)
    orders = models.IntegerField(_("orders"), default=0)
    revenue_online_twd = models.BigIntegerField(_("revenue credited online (NT$)"), default=0)
    revenue_store_twd = models.BigIntegerField(_("revenue credited in store (NT$)"), default=0)
    cost_cents = models.BigIntegerField(_("cost (NT$ cents)"), default=0)
    unsubscribed = models.IntegerField(_("unsubscribes"), default=0)
    line_blocked = models.IntegerField(_("LINE blocks"), default=0)

    class Meta:
        verbose_name = _("daily messaging")
        verbose_name_plural = _("daily messaging")
        indexes = [
            models.Index(fields=["day", "channel"], name="kpi_messaging_day"),
            models.Index(fields=["campaign_id"], name="kpi_messaging_campaign"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.channel} {self.campaign_id}"


class LineFriendsDaily(models.Model):
    """The LINE official account's friends of one Taipei day: follows (new friends and
    unblocks) and blocks, from the LINE webhook's touchpoints (line_follow, line_block)."""

    day = models.DateField(_("day"), unique=True)
    follows = models.IntegerField(_("friends added"), default=0)
    blocks = models.IntegerField(_("blocks"), default=0)

    class Meta:
        verbose_name = _("daily LINE friends")
        verbose_name_plural = _("daily LINE friends")

    def __str__(self) -> str:
        return f"{self.day}"


class RollupWatermark(models.Model):
    """How far a rollup has read a source that has no feed of its own (deliveries, the ledger,
    touchpoints): the last id (or time) it has folded in. The order rollups use crm's
    order-change feed and its cursor instead."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    last_id = models.BigIntegerField(_("last id"), default=0)
    last_at = models.DateTimeField(_("last time"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("rollup watermark")
        verbose_name_plural = _("rollup watermarks")

    def __str__(self) -> str:
        return self.name


class KpiDirtyMonth(models.Model):
    """A month whose members' monthly activity the orders rollup rewrote, waiting for a rollup
    derived from that activity (`consumer`: cohorts, OMO) to recompute it. Written by the
    orders rollup in the transaction that advances its feed cursor; each consumer reads and
    deletes its own rows in its refresh, later in the same run: no change is seen by one and
    missed by the other, whatever commits between them."""

    consumer = models.CharField(_("consumer"), max_length=32)
    month = models.DateField(_("month"))

    class Meta:
        verbose_name = _("KPI month to recompute")
        verbose_name_plural = _("KPI months to recompute")
        constraints = [
            models.UniqueConstraint(fields=["consumer", "month"], name="kpidirtymonth_unique")
        ]

    def __str__(self) -> str:
        return f"{self.consumer} {self.month}"


class SegmentSnapshot(models.Model):
    """A segment's members as the KPI pages read them: evaluating a segment's rules over a
    million members costs most of a second, and a page narrows several figures by it per
    request. Taken when a page first asks for the segment, taken again by the refresh while
    pages keep asking for it (so a page reads one at most SEGMENT_SNAPSHOT_AGE old), and at
    once when the segment's rules changed since (`definition`)."""

    segment_id = models.BigIntegerField(_("segment"), unique=True)
    definition = models.JSONField(_("rules when taken"), default=dict)
    members = models.IntegerField(_("members"), default=0)
    taken_at = models.DateTimeField(_("taken at"), default=timezone.now)
    used_at = models.DateTimeField(_("last asked for by a page"), default=timezone.now)
    # The last month of the window whose figures the refresh kept for this take
    # (SegmentMonthly, SegmentCohortMonthly); null: none yet, the pages compute them.
    figures_month = models.DateField(_("figures kept up to"), null=True, blank=True)

    class Meta:
        verbose_name = _("segment snapshot")
        verbose_name_plural = _("segment snapshots")

    def __str__(self) -> str:
        return f"{self.segment_id} {self.taken_at:%Y-%m-%d %H:%M}"


class SegmentSnapshotMember(models.Model):
    """One member of a segment's snapshot (no foreign keys: a label, rewritten whole), with
    what the pages group a segment's members by, as of the take: the Taipei day they joined,
    their acquisition channel and home store, the Taipei month of their first purchase (their
    cohort) and their RFM scores and 365-day spend (MemberStats). A segment's new members,
    cohorts and RFM grid are then grouped reads of these rows, not joins with a million
    members' tables."""

    segment_id = models.BigIntegerField(_("segment"))
    member_id = models.BigIntegerField(_("member"))
    joined_day = models.DateField(_("joined on"), null=True, blank=True)
    acquisition_channel = models.CharField(_("acquisition channel"), max_length=20, blank=True)
    home_store_id = models.IntegerField(_("home store"), null=True, blank=True)
    first_purchase_month = models.DateField(_("first-purchase month"), null=True, blank=True)
    rfm_recency = models.SmallIntegerField(_("R score"), null=True, blank=True)
    rfm_frequency = models.SmallIntegerField(_("F score"), null=True, blank=True)
    spend_365d_twd = models.BigIntegerField(_("spend in the last 365 days (NT$)"), default=0)

    class Meta:
        verbose_name = _("segment snapshot member")
        verbose_name_plural = _("segment snapshot members")
        # A page's semi-join reads a segment's ids from this index alone.
        indexes = [models.Index(fields=["segment_id", "member_id"], name="kpi_segment_member")]

    def __str__(self) -> str:
        return f"{self.segment_id} {self.member_id}"


class SegmentMonthly(models.Model):
    """A segment snapshot's figures of one month, kept by the refresh after each take for the
    SEGMENT_FIGURE_MONTHS up to the take's month (omnichannel/kpis/segment_figures.py): its
    members active that month by where they bought (the OMO rollup's three kinds, by its own
    SELECT) and those of them who held a wallet card at the month's end (kind "holders", by
    the holders' rule), with their orders and net revenue. The same figures for everyone are
    the OMO and holders' rollups; these spare a page classifying a third of a million
    members' months per request."""

    HOLDERS = "holders"

    segment_id = models.BigIntegerField(_("segment"))
    month = models.DateField(_("month"))
    kind = models.CharField(_("kind"), max_length=12)
    members = models.IntegerField(_("members"), default=0)
    orders = models.IntegerField(_("orders"), default=0)
    revenue_twd = models.BigIntegerField(_("net revenue (NT$)"), default=0)

    class Meta:
        verbose_name = _("segment month")
        verbose_name_plural = _("segment months")
        indexes = [models.Index(fields=["segment_id", "month"], name="kpi_segment_month")]

    def __str__(self) -> str:
        return f"{self.segment_id} {self.month:%Y-%m} {self.kind}: {self.members}"


class SegmentCohortMonthly(models.Model):
    """A segment snapshot's cohort cells (first-purchase month × month: members active, their
    orders and net revenue) for the cohort window ending the take's month, kept with
    SegmentMonthly by the cohort rollup's own SELECT over the segment's members."""

    segment_id = models.BigIntegerField(_("segment"))
    cohort = models.DateField(_("first-purchase month"))
    month = models.DateField(_("month"))
    members = models.IntegerField(_("members"), default=0)
    orders = models.IntegerField(_("orders"), default=0)
    revenue_twd = models.BigIntegerField(_("net revenue (NT$)"), default=0)

    class Meta:
        verbose_name = _("segment cohort month")
        verbose_name_plural = _("segment cohort months")
        indexes = [models.Index(fields=["segment_id", "cohort"], name="kpi_segment_cohort")]

    def __str__(self) -> str:
        return f"{self.segment_id} {self.cohort:%Y-%m} {self.month:%Y-%m}: {self.members}"


class RollupRun(models.Model):
    """One refresh or rebuild of the rollups: when, what each rollup did, and any error. The
    pages say how fresh their figures are from the last good one."""

    class Kind(models.TextChoices):
        REFRESH = "refresh", _("Refresh")
        REBUILD = "rebuild", _("Full rebuild")

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.RUNNING
    )
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    counts = models.JSONField(_("what each rollup did"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("rollup run")
        verbose_name_plural = _("rollup runs")
        indexes = [models.Index(fields=["status", "-finished_at"], name="kpi_run_latest")]

    def __str__(self) -> str:
        return f"{self.kind} {self.started_at:%Y-%m-%d %H:%M}"


class PointsDaily(models.Model):
    """Loyalty points moved on one Taipei day by one kind of ledger entry from one source:
    the sums of the positive and of the negative points (signed, as in the ledger), the two
    sums loyalty's rule of issued / redeemed / expired is written over
    (loyalty.selectors_overview.flows_from_sums)."""

    day = models.DateField(_("day"))
    kind = models.CharField(_("kind"), max_length=10)
    source = models.CharField(_("source"), max_length=10)
    entries = models.IntegerField(_("ledger entries"), default=0)
    credit = models.BigIntegerField(_("points added"), default=0)
    debit = models.BigIntegerField(_("points taken (negative)"), default=0)

    class Meta:
        verbose_name = _("daily points")
        verbose_name_plural = _("daily points")
        indexes = [models.Index(fields=["day", "kind"], name="kpi_points_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.kind} {self.source}"


class TierAccountsNow(models.Model):
    """The accounts in each loyalty tier (tier_id NULL: none) and the points they hold, as of
    the last refresh (loyalty.selectors_overview.tiers_held, kept: it scans every account)."""

    tier_id = models.BigIntegerField(_("tier"), null=True, blank=True)
    accounts = models.IntegerField(_("accounts"), default=0)
    points = models.BigIntegerField(_("points"), default=0)

    class Meta:
        verbose_name = _("accounts per tier")
        verbose_name_plural = _("accounts per tier")

    def __str__(self) -> str:
        return f"{self.tier_id or '-'}: {self.accounts}"


class WalletDaily(models.Model):
    """Wallet cards of one platform added to and removed from phones' wallets on one Taipei day,
    as the cards' current state tells it (WalletPass.installed_at, removed_at: the latest
    episode of each card). The cards in wallets at a day's end are the sums up to that day
    of added less removed. `platform` "" counts members (with a card in any wallet) instead of
    cards: from a member's first card added to the last removed when none is left."""

    day = models.DateField(_("day"))
    platform = models.CharField(_("wallet"), max_length=10, blank=True)
    added = models.IntegerField(_("added"), default=0)
    removed = models.IntegerField(_("removed"), default=0)

    class Meta:
        verbose_name = _("daily wallet cards")
        verbose_name_plural = _("daily wallet cards")
        indexes = [models.Index(fields=["platform", "day"], name="kpi_wallet_platform_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.platform or '*'}"


class WalletHolding(models.Model):
    """One member's span of holding a wallet card, as the cards' current state tells it (the
    rule of WalletDaily's members' rows): from the Taipei day of their first card added to the
    day of their last card removed when none is left (`to_day` null: holding now). Kept by the
    refresh from WalletPass, so a change of span is seen (and the months it changes marked for
    WalletHoldersMonthly) without comparing every card each time. The months are the first
    days of the days' months: held at a month's end is `from_month <= month < to_month`."""

    member_id = models.BigIntegerField(_("member"), unique=True)
    from_day = models.DateField(_("holding since"))
    to_day = models.DateField(_("holding until"), null=True, blank=True)
    from_month = models.DateField(_("first month held"))
    to_month = models.DateField(_("month it stopped"), null=True, blank=True)

    class Meta:
        verbose_name = _("wallet card holding")
        verbose_name_plural = _("wallet card holdings")

    def __str__(self) -> str:
        return f"{self.member_id}: {self.from_day} - {self.to_day or ''}"


class WalletHoldersMonthly(models.Model):
    """The active members (an order that month) of one calendar month who held a wallet card
    at its end (WalletHolding), and their orders: the holders' side of the holders' purchase
    frequency (the other side is everyone active that month, OmoMonthly, less these)."""

    month = models.DateField(_("month"), unique=True)
    members = models.IntegerField(_("members"), default=0)
    orders = models.IntegerField(_("orders"), default=0)

    class Meta:
        verbose_name = _("wallet holders' month")
        verbose_name_plural = _("wallet holders' months")

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.members}"


# The Members / OMO page's tables live in their own module.
from omnichannel.kpis.models_members import *  # noqa: E402, F403
