"""The Members / OMO page's tables: two rollups (new members per day, cohort retention) and
the nightly customer-value fit (BG/NBD + Gamma-Gamma) with its predictions and the small
summaries the page reads (omnichannel/kpis/clv.py).

Like the other rollups, no foreign keys: these are rebuilt in bulk, and ids are labels here.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = [
    "ClvModelRun",
    "ClvPrediction",
    "CohortMonthly",
    "MemberValueSummary",
    "NewMembersDaily",
    "OmoMonthly",
]


class NewMembersDaily(models.Model):
    """Members who joined on one Taipei day through one acquisition channel, by home store
    (null: none). Merged-away duplicates are not counted: a merge is no sign-up."""

    day = models.DateField(_("day"))
    acquisition_channel = models.CharField(_("acquisition channel"), max_length=20, blank=True)
    store_id = models.IntegerField(_("home store"), null=True, blank=True)
    members = models.IntegerField(_("members"), default=0)

    class Meta:
        verbose_name = _("new members per day")
        verbose_name_plural = _("new members per day")
        indexes = [models.Index(fields=["day", "acquisition_channel"], name="kpi_newmembers_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.acquisition_channel or '-'}: {self.members}"


class CohortMonthly(models.Model):
    """The members whose first purchase (MemberStats.first_purchase_at, Taipei month) fell in
    `cohort` and who bought in `month`: how many, their orders and net revenue. `store_id`
    NULL: bought anywhere; a store: bought at that store (the page's store filter)."""

    cohort = models.DateField(_("first-purchase month"))
    month = models.DateField(_("month"))
    store_id = models.IntegerField(_("store"), null=True, blank=True)
    members = models.IntegerField(_("members"), default=0)
    orders = models.IntegerField(_("orders"), default=0)
    revenue_twd = models.BigIntegerField(_("net revenue (NT$)"), default=0)

    class Meta:
        verbose_name = _("cohort month")
        verbose_name_plural = _("cohort months")
        indexes = [
            models.Index(fields=["month", "cohort"], name="kpi_cohort_month"),
            models.Index(fields=["store_id", "month"], name="kpi_cohort_store_month"),
        ]

    def __str__(self) -> str:
        return f"{self.cohort:%Y-%m} → {self.month:%Y-%m}: {self.members}"


class ClvModelRun(models.Model):
    """One nightly fit of the customer-value models: when, on how many members, the fitted
    parameters, and how many members got a prediction. The page reads the last good one."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.RUNNING
    )
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    as_of = models.DateTimeField(_("figures as of"), default=timezone.now)
    members_fitted = models.IntegerField(_("members fitted"), default=0)
    members_predicted = models.IntegerField(_("members predicted"), default=0)
    # {"bgnbd": {"r", "alpha", "a", "b"}, "gamma_gamma": {"p", "q", "v"}, "library": "…"}
    params = models.JSONField(_("model parameters"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("customer value model run")
        verbose_name_plural = _("customer value model runs")
        indexes = [models.Index(fields=["status", "-finished_at"], name="kpi_clvrun_latest")]

    def __str__(self) -> str:
        return f"{self.status} {self.started_at:%Y-%m-%d %H:%M}"


class ClvPrediction(models.Model):
    """A member's predicted next 12 months, from the last fit (run_id)."""

    member_id = models.BigIntegerField(_("member"), primary_key=True)
    run_id = models.BigIntegerField(_("model run"))
    predicted_purchases_12m = models.FloatField(_("predicted purchases, 12 months"))
    predicted_clv_12m_twd = models.BigIntegerField(_("predicted value, 12 months (NT$)"))
    probability_alive = models.FloatField(_("probability still a customer"))

    class Meta:
        verbose_name = _("customer value prediction")
        verbose_name_plural = _("customer value predictions")

    def __str__(self) -> str:
        return f"{self.member_id}: NT${self.predicted_clv_12m_twd:,}"


class MemberValueSummary(models.Model):
    """The value figures of one group of members, aggregated at fit time so the page reads a
    few dozen rows: `dimension` acquisition (key: the channel, "" none), cohort (key: the
    first-purchase month YYYY-MM) or rfm (key: "R-F" scores)."""

    class Dimension(models.TextChoices):
        ACQUISITION = "acquisition", _("Acquisition channel")
        COHORT = "cohort", _("First-purchase month")
        RFM = "rfm", _("RFM grid")

    run_id = models.BigIntegerField(_("model run"))
    dimension = models.CharField(_("dimension"), max_length=20, choices=Dimension.choices)
    key = models.CharField(_("key"), max_length=20, blank=True)
    members = models.IntegerField(_("members"), default=0)
    buyers = models.IntegerField(_("members who bought"), default=0)
    revenue_twd = models.BigIntegerField(_("net revenue to date (NT$)"), default=0)
    revenue_365d_twd = models.BigIntegerField(_("net revenue, last 365 days (NT$)"), default=0)
    predicted_purchases_12m = models.FloatField(_("predicted purchases, 12 months"), default=0)
    predicted_clv_12m_twd = models.BigIntegerField(_("predicted value, 12 months (NT$)"), default=0)

    class Meta:
        verbose_name = _("member value summary")
        verbose_name_plural = _("member value summaries")
        indexes = [models.Index(fields=["run_id", "dimension"], name="kpi_valuesum_run")]

    def __str__(self) -> str:
        return f"{self.run_id} {self.dimension} {self.key}"


class OmoMonthly(models.Model):
    """Active members of one calendar month by where they bought that month: both in a store
    and online (omo), only in stores, only online; with their orders and net revenue.
    store_id null: all members; a store: the members who bought at that store that month."""

    class Kind(models.TextChoices):
        OMO = "omo", _("Online and store")
        STORE_ONLY = "store_only", _("Store only")
        ONLINE_ONLY = "online_only", _("Online only")

    month = models.DateField(_("month"))
    store_id = models.IntegerField(_("store"), null=True, blank=True)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    members = models.IntegerField(_("members"), default=0)
    orders = models.IntegerField(_("orders"), default=0)
    revenue_twd = models.BigIntegerField(_("net revenue (NT$)"), default=0)

    class Meta:
        verbose_name = _("OMO month")
        verbose_name_plural = _("OMO months")
        indexes = [models.Index(fields=["month", "store_id"], name="kpi_omo_month")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.store_id or '-'} {self.kind}: {self.members}"
