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

from omnichannel.channels import SalesChannel


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
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.member_id} {self.channel}"


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


# The Members / OMO page's tables live in their own module.
from omnichannel.kpis.models_members import *  # noqa: E402, F403
