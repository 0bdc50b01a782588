"""Unified members and what the brand's systems tell us about them (DESIGN.md §3, crm)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from omnichannel.api.scopes import DEFAULT_SCOPES
from omnichannel.channels import Channel, MessagingChannel, SalesChannel
from omnichannel.jobs import LeasedJob

SALES_CHANNEL_VALUES = tuple(SalesChannel.values)


class Store(models.Model):
    code = models.CharField(_("store code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)
    city = models.CharField(_("city"), max_length=50, blank=True)
    opened_on = models.DateField(_("opened on"), null=True, blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("store")
        verbose_name_plural = _("stores")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Gender(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    OTHER = "other", _("Other")


class BirthdayCalendar(models.TextChoices):
    SOLAR = "solar", _("Gregorian")
    LUNAR = "lunar", _("Lunar")


class Member(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        MERGED = "merged", _("Merged")
        ERASED = "erased", _("Erased")

    member_no = models.CharField(_("member number"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    # Which calendar the member celebrates by: many older Taiwanese keep their lunar birthday.
    # `birthday` is always the Gregorian date of birth; loyalty's birthday job converts it.
    birthday_calendar = models.CharField(
        _("birthday calendar"),
        max_length=10,
        choices=BirthdayCalendar.choices,
        default=BirthdayCalendar.SOLAR,
        # The bulk paths (COPY on PostgreSQL) write only the columns they know.
        db_default=BirthdayCalendar.SOLAR,
    )
    gender = models.CharField(_("gender"), max_length=10, choices=Gender.choices, blank=True)
    home_store = models.ForeignKey(
        Store, verbose_name=_("home store"), null=True, blank=True, on_delete=models.SET_NULL
    )
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now)
    # Any channel: a store, a web shop, … or a messaging channel (most members join through the
    # LINE Official Account).
    acquisition_channel = models.CharField(
        _("acquisition channel"), max_length=20, choices=Channel.choices, blank=True
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_members",
    )
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        permissions = [
            ("unmask_personal_data", _("Can see unmasked personal data")),
            ("merge_member", _("Can merge and unmerge members")),
            ("forget_member", _("Can erase a member's personal data")),
            ("import_data", _("Can import files")),
            ("export_members", _("Can export member lists")),
        ]
        constraints = [
            # A merged member is a tombstone that must say where it went, and only it may.
            models.CheckConstraint(
                condition=Q(status="merged", merged_into__isnull=False)
                | (~Q(status="merged") & Q(merged_into__isnull=True)),
                name="member_merged_has_survivor",
            ),
        ]
        indexes = [models.Index(fields=["joined_at"]), models.Index(fields=["name"])]

    def __str__(self) -> str:
        return f"{self.member_no} {self.name}".strip()


class Identity(models.Model):
    """One identifier of a member, in its normal form (formats/README.md)."""

    class Kind(models.TextChoices):
        EMAIL = "email", _("Email")
        PHONE = "phone", _("Phone")
        LINE_USER_ID = "line_user_id", _("LINE user ID")
        POS_CARD = "pos_card", _("Member card")
        EINVOICE_CARRIER = "einvoice_carrier", _("E-invoice carrier")
        WEB_CUSTOMER_ID = "web_customer_id", _("Web shop customer ID")
        MARKETPLACE_BUYER = "marketplace_buyer", _("Marketplace buyer")
        APP_INSTALL_ID = "app_install_id", _("App install ID")
        PUSH_TOKEN = "push_token", _("Push token")

    # db_index off: the (member, kind) index serves lookups by member; one index less to write.
    member = models.ForeignKey(
        Member,
        on_delete=models.CASCADE,
        related_name="identities",
        db_index=False,
        verbose_name=_("member"),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    value = models.CharField(_("value"), max_length=255)
    source = models.CharField(_("source"), max_length=20, blank=True)
    first_seen_at = models.DateTimeField(_("first seen"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last seen"), default=timezone.now)

    class Meta:
        verbose_name = _("identity")
        verbose_name_plural = _("identities")
        constraints = [
            # An identifier belongs to exactly one member.
            models.UniqueConstraint(fields=["kind", "value"], name="identity_unique_kind_value"),
        ]
        indexes = [models.Index(fields=["member", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


CONSENT_NONE = "none"  # a filter value: no decision recorded for the channel


class ConsentQuerySet(models.QuerySet):
    """The one definition of a member's current consent (STYLE.md 23): the newest decision per
    (member, channel), newest by `at`, then by id (NEWEST_FIRST). Lists, segments, the profile,
    imports and (later) campaigns' reachability all call these."""

    def current(self) -> "ConsentQuerySet":
        """Only the decisions no newer decision of the same member and channel replaced."""
        newer = Consent.objects.filter(
            member_id=models.OuterRef("member_id"), channel=models.OuterRef("channel")
        ).filter(
            Q(at__gt=models.OuterRef("at"))
            | Q(at=models.OuterRef("at"), pk__gt=models.OuterRef("pk"))
        )
        return self.filter(~models.Exists(newer))


def consent_current_q(channel: str, state: str, member: str = "pk") -> Q:
    """Members (through `member`, the path to the member's pk) whose current decision on the
    channel is `state`, or who never decided when state is CONSENT_NONE.

    "A current decision in that state" (EXISTS … AND NOT EXISTS a newer one, both on the
    (member, channel, -at) index) rather than "the newest decision's state = state" (a scalar
    subquery): the planner estimates how many members an EXISTS keeps, so a filter that keeps
    most of them is read along the list's order (76 ms instead of 590 ms at a million members).
    """
    decisions = Consent.objects.filter(member_id=models.OuterRef(member), channel=channel)
    if state == CONSENT_NONE:
        return ~Q(models.Exists(decisions))
    return Q(models.Exists(decisions.filter(state=state).current()))


class Consent(models.Model):
    """One consent decision. The newest row per (member, channel) is the state; rows are proof."""

    NEWEST_FIRST = ("-at", "-pk")  # the order that makes the first row per channel current

    class State(models.TextChoices):
        OPTED_IN = "opted_in", _("Opted in")
        OPTED_OUT = "opted_out", _("Opted out")

    member = models.ForeignKey(
        Member,
        on_delete=models.CASCADE,
        related_name="consents",
        db_index=False,
        verbose_name=_("member"),
    )  # (member, channel, -at) serves lookups by member
    channel = models.CharField(_("channel"), max_length=10, choices=MessagingChannel.choices)
    state = models.CharField(_("state"), max_length=10, choices=State.choices)
    source = models.CharField(_("source"), max_length=50, blank=True)
    at = models.DateTimeField(_("decided at"), default=timezone.now)
    recorded_at = models.DateTimeField(auto_now_add=True, verbose_name=_("recorded at"))
    # How the decision was made, for whoever asks for proof (PDPA, GDPR): e.g. an unsubscribe
    # link's campaign and delivery, the client's address and user agent.
    proof = models.JSONField(_("proof"), default=dict, blank=True)

    objects = ConsentQuerySet.as_manager()

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        indexes = [models.Index(fields=["member", "channel", "-at"])]

    def __str__(self) -> str:
        return f"{self.member_id} {self.channel} {self.state}"


class OrderQuerySet(models.QuerySet):
    """The one definition of a sale and of net revenue (STYLE.md 23): pages, segments, member
    figures (crm.services.stats writes the same rule in SQL), campaigns and KPIs call these.

    A sale is a placed order with a non-negative amount. A return is its own row with a
    negative amount: a whole reversal marks both rows returned, a partial return stays placed,
    so net revenue is the sum of every placed row, returns included, and a partial return is
    no second order.
    """

    def sales(self) -> "OrderQuerySet":
        return self.filter(sale_q())

    def counted_in_revenue(self) -> "OrderQuerySet":
        return self.filter(status=Order.Status.PLACED)


def sale_q(prefix: str = "") -> Q:
    """A sale, for a filter through a relation (`sale_q("orders__")`) or an aggregate."""
    return Q(**{f"{prefix}status": Order.Status.PLACED, f"{prefix}amount_twd__gte": 0})


def net_revenue(prefix: str = "") -> models.Sum:
    """Net revenue of the orders in scope (sales less their partial returns)."""
    return models.Sum(f"{prefix}amount_twd", filter=Q(**{f"{prefix}status": Order.Status.PLACED}))


class Order(models.Model):
    class Status(models.TextChoices):
        PLACED = "placed", _("Placed")
        CANCELLED = "cancelled", _("Cancelled")
        RETURNED = "returned", _("Returned")

    member = models.ForeignKey(
        Member,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orders",
        db_index=False,  # (member, placed_at) serves lookups by member
        verbose_name=_("member"),
    )
    channel = models.CharField(_("channel"), max_length=20, choices=SalesChannel.choices)
    store = models.ForeignKey(
        Store, null=True, blank=True, on_delete=models.PROTECT, verbose_name=_("store")
    )
    external_no = models.CharField(_("order number"), max_length=64)
    amount_twd = models.IntegerField(_("amount (NT$)"))
    placed_at = models.DateTimeField(_("placed at"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PLACED
    )
    returns_order = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="returns",
        verbose_name=_("returns order"),
    )
    returns_external_no = models.CharField(_("returns order number"), max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    objects = OrderQuerySet.as_manager()

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_no"], name="order_unique_no"),
        ]
        indexes = [
            models.Index(fields=["member", "placed_at"]),
            models.Index(fields=["placed_at"]),
            # Returns still waiting for their sale: few, and every import batch looks them up.
            models.Index(
                fields=["channel", "returns_external_no"],
                condition=Q(returns_order__isnull=True) & ~Q(returns_external_no=""),
                name="order_return_waiting",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.external_no}"


class CurrentXid(models.Func):
    """The writing transaction's id as a bigint (PostgreSQL's xid8, which never wraps); 0 on
    SQLite, whose single writer commits ids in order. The default of OrderChange.xid."""

    output_field = models.BigIntegerField()
    template = "0"

    def as_postgresql(self, compiler, connection, **extra_context):
        return "(pg_current_xact_id()::text::bigint)", []


class OrderChange(models.Model):
    """One change of one order, written set-wise in the transaction that changed it: the feed
    that loyalty, campaigns and KPI rollups read (crm.services.order_feed, DESIGN.md §1b).

    A row says what the order is after the change (member, amount, status) and, for a move,
    whose it was; for a change of placed_at, when it was placed before. Rows are never
    updated; consumers read them through their own cursor.
    """

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        CHANGED = "changed", _("Changed")
        MEMBER_ASSIGNED = "member_assigned", _("Member assigned")
        RETURNED = "returned", _("Returned")
        # A merge, its undo or an erasure gave the order another member (or none).
        MEMBER_MOVED = "member_moved", _("Member moved")

    id = models.BigAutoField(primary_key=True)
    # An append-only log: no foreign-key constraints (three per row cost the import a quarter
    # of its speed) and no index but the feed's own. Orders and members are never deleted
    # by the product (erasure keeps a tombstone), so the ids always name a row.
    order = models.ForeignKey(
        Order,
        on_delete=models.DO_NOTHING,
        related_name="changes",
        db_index=False,
        db_constraint=False,
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    member = models.ForeignKey(
        Member,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )  # the order's member after the change
    old_member = models.ForeignKey(
        Member,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )  # before a member_moved or member_assigned; null otherwise
    # The order's placed_at before the change, when the change moved it (orders_upsert);
    # null otherwise: a reader bucketing orders by day recomputes the old day too.
    old_placed_at = models.DateTimeField(_("placed at before"), null=True, blank=True)
    amount_twd = models.IntegerField(_("amount (NT$)"))
    status = models.CharField(_("status"), max_length=10, choices=Order.Status.choices)
    at = models.DateTimeField(_("at"), default=timezone.now)
    # The writer's transaction id: readers take rows only below the oldest running transaction
    # (crm.services.order_feed explains the race this closes).
    xid = models.BigIntegerField(db_default=CurrentXid(), editable=False)

    class Meta:
        verbose_name = _("order change")
        verbose_name_plural = _("order changes")
        indexes = [models.Index(fields=["xid", "id"], name="orderchange_feed_order")]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind}"


class OrderChangeCursor(models.Model):
    """How far one consumer of the order-change feed has read (crm.services.order_feed).

    PostgreSQL: the consumer works through the changes committed between two snapshots, `low`
    (done) and `high` (being read), in id order; `last_id` is the last it handled there.
    SQLite: just `last_id`.
    """

    consumer = models.CharField(_("consumer"), max_length=100, unique=True)
    low_snapshot = models.TextField(blank=True)
    high_snapshot = models.TextField(blank=True)
    last_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("order-change cursor")
        verbose_name_plural = _("order-change cursors")

    def __str__(self) -> str:
        return f"{self.consumer} @ {self.last_id}"


class RfmGroup(models.TextChoices):
    """RFM groups by recency (R) and frequency (F) quintile scores; crm.services.stats maps them."""

    CHAMPIONS = "champions", _("Champions")
    LOYAL = "loyal", _("Loyal")
    POTENTIAL = "potential", _("Potential loyalists")
    NEW = "new", _("New customers")
    AT_RISK = "at_risk", _("At risk")
    CANT_LOSE = "cant_lose", _("Can't lose them")
    HIBERNATING = "hibernating", _("Hibernating")
    LOST = "lost", _("Lost")


class MemberStats(models.Model):
    """A member's purchase figures, kept set-wise by imports and the order services.

    Segments and lists read these instead of aggregating orders per request. Counts are of
    placed sales (a return is no order); spend is net of returns. RFM scores (1-5) rank members
    who bought in the last 365 days against each other; a nightly job rescores everyone.
    """

    member = models.OneToOneField(
        Member,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="stats",
        verbose_name=_("member"),
    )
    total_spend_twd = models.BigIntegerField(_("total spend (NT$)"), default=0)
    orders_count = models.IntegerField(_("orders"), default=0)
    orders_online = models.IntegerField(_("orders online"), default=0)
    orders_offline = models.IntegerField(_("orders in store"), default=0)
    bought_store = models.BooleanField(default=False, verbose_name=_("bought in store"))
    bought_web = models.BooleanField(default=False, verbose_name=_("bought on the web shop"))
    bought_marketplace = models.BooleanField(
        default=False, verbose_name=_("bought on a marketplace")
    )
    bought_app = models.BooleanField(default=False, verbose_name=_("bought in the app"))
    bought_line_shop = models.BooleanField(default=False, verbose_name=_("bought on LINE shop"))
    first_purchase_at = models.DateTimeField(_("first purchase"), null=True, blank=True)
    last_purchase_at = models.DateTimeField(_("last purchase"), null=True, blank=True)
    spend_365d_twd = models.BigIntegerField(_("spend, last 365 days (NT$)"), default=0)
    orders_365d = models.IntegerField(_("orders, last 365 days"), default=0)
    rfm_recency = models.PositiveSmallIntegerField(_("R score"), null=True, blank=True)
    rfm_frequency = models.PositiveSmallIntegerField(_("F score"), null=True, blank=True)
    rfm_monetary = models.PositiveSmallIntegerField(_("M score"), null=True, blank=True)
    rfm_group = models.CharField(
        _("RFM group"), max_length=12, choices=RfmGroup.choices, blank=True, db_index=True
    )
    refreshed_at = models.DateTimeField(_("refreshed at"), default=timezone.now)

    class Meta:
        verbose_name = _("member figures")
        verbose_name_plural = _("member figures")
        indexes = [
            models.Index(fields=["last_purchase_at"]),
            models.Index(fields=["total_spend_twd"]),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: NT${self.total_spend_twd:,}"

    @property
    def average_order_twd(self) -> int:
        return round(self.total_spend_twd / self.orders_count) if self.orders_count else 0

    @property
    def channels(self) -> list[str]:
        return [c for c in SALES_CHANNEL_VALUES if getattr(self, f"bought_{c}")]

    @property
    def is_omo(self) -> bool:
        return self.orders_online > 0 and self.orders_offline > 0


class Touchpoint(models.Model):
    """Something a member did or was sent on a channel (a store visit, a page view, a message)."""

    member = models.ForeignKey(
        Member,
        on_delete=models.CASCADE,
        related_name="touchpoints",
        db_index=False,
        verbose_name=_("member"),
    )  # (member, at) serves lookups by member
    channel = models.CharField(_("channel"), max_length=20)
    kind = models.CharField(_("kind"), max_length=30)
    at = models.DateTimeField(_("at"), default=timezone.now)
    properties = models.JSONField(default=dict, blank=True, verbose_name=_("properties"))

    class Meta:
        verbose_name = _("touchpoint")
        verbose_name_plural = _("touchpoints")
        indexes = [models.Index(fields=["member", "at"])]

    def __str__(self) -> str:
        return f"{self.channel} {self.kind} {self.at:%Y-%m-%d}"


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)
    members = models.ManyToManyField(
        Member, related_name="tags", blank=True, verbose_name=_("members")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


class MergeLog(models.Model):
    """One merge of `merged` into `survivor`: which keys matched, and what moved (for undo)."""

    survivor = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="merges_won", verbose_name=_("survivor")
    )
    merged = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="merges_lost", verbose_name=_("merged")
    )
    matched_keys = models.JSONField(_("matched identifiers"), default=list)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("actor"),
    )
    source = models.CharField(_("source"), max_length=50, blank=True)
    at = models.DateTimeField(_("merged at"), default=timezone.now)
    snapshot = models.JSONField(default=dict, verbose_name=_("snapshot"))
    undone_at = models.DateTimeField(_("undone at"), null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("undone by"),
    )

    class Meta:
        verbose_name = _("merge")
        verbose_name_plural = _("merges")
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["survivor", "at"]), models.Index(fields=["merged", "at"])]

    def __str__(self) -> str:
        return f"{self.merged_id} → {self.survivor_id}"


class NumberSequence(models.Model):
    """A named counter handed out in blocks (member numbers for a 5,000-row batch in one UPDATE)."""

    name = models.CharField(max_length=50, primary_key=True, verbose_name=_("name"))
    last_value = models.BigIntegerField(default=0, verbose_name=_("last value"))

    class Meta:
        verbose_name = _("number sequence")
        verbose_name_plural = _("number sequences")

    def __str__(self) -> str:
        return f"{self.name}={self.last_value}"


class ErasureLog(models.Model):
    """A member's personal data erased on request (Taiwan PDPA): who, when, why, what went."""

    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="erasures", verbose_name=_("member")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, verbose_name=_("actor")
    )
    reason = models.CharField(_("reason"), max_length=200)
    at = models.DateTimeField(_("erased at"), default=timezone.now)
    counts = models.JSONField(_("what was erased"), default=dict)

    class Meta:
        verbose_name = _("erasure")
        verbose_name_plural = _("erasures")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.member_id} {self.at:%Y-%m-%d}"


def _import_upload_path(job: "ImportJob", filename: str) -> str:
    return f"imports/{timezone.now():%Y/%m}/{filename}"


class ImportJob(LeasedJob):
    """One file import: what was uploaded, how far it got, and what it reported."""

    class Status(models.TextChoices):
        PREVIEWING = "previewing", _("Checking")
        PREVIEWED = "previewed", _("Checked: waiting for confirmation")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        REJECTED = "rejected", _("Rejected (strict)")
        FAILED = "failed", _("Failed")

    file = models.FileField(_("file"), upload_to=_import_upload_path)
    original_name = models.CharField(_("file name"), max_length=255)
    preset = models.CharField(_("preset"), max_length=30)
    # How the CSV's bytes are read: auto (detected), utf-8, big5 or utf-16 (crm.imports).
    encoding = models.CharField(_("encoding"), max_length=10, default="auto")
    strict = models.BooleanField(_("strict"), default=False)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PREVIEWING
    )
    total_bytes = models.BigIntegerField(default=0, verbose_name=_("total bytes"))
    rows = models.IntegerField(_("rows read"), default=0)
    imported = models.IntegerField(_("rows imported"), default=0)
    failed = models.IntegerField(_("rows failed"), default=0)
    warnings = models.IntegerField(_("rows with warnings"), default=0)
    members_created = models.IntegerField(default=0, verbose_name=_("members created"))
    merges = models.IntegerField(default=0, verbose_name=_("merges"))
    orders_written = models.IntegerField(default=0, verbose_name=_("orders written"))
    preview = models.JSONField(
        default=dict, blank=True, verbose_name=_("preview")
    )  # counts and first issues of the check
    report = models.FileField(upload_to="imports/reports/", blank=True, verbose_name=_("report"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.preset})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.REJECTED, self.Status.FAILED)


def _export_upload_path(job: "ExportJob", filename: str) -> str:
    return f"exports/{timezone.now():%Y/%m}/{filename}"


class ExportJob(LeasedJob):
    """An export too large to answer in one request, written to a file by a worker.

    `query` is the pickled Query of the admin list as the operator filtered it (Django's
    documented way to hand a queryset to another process); `unmask` is whether the operator
    could see personal data when asking, and only that operator downloads the file.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Exporting")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    model_label = models.CharField(_("list"), max_length=100)
    resource = models.CharField(max_length=200, verbose_name=_("resource"))
    fields = models.JSONField(default=list, blank=True, verbose_name=_("fields"))
    file_format = models.CharField(_("format"), max_length=10)
    query = models.BinaryField(editable=False, verbose_name=_("query"))
    unmask = models.BooleanField(_("personal data unmasked"), default=False)
    # The asker's language when asking: the worker writes headers and values in it.
    language = models.CharField(_("language"), max_length=10, blank=True)
    # Codes and UTC times for developers (admins only) instead of labels and Taipei times.
    raw = models.BooleanField(_("raw values"), default=False)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    rows = models.IntegerField(_("rows written"), default=0)
    total = models.IntegerField(_("rows expected"), default=0)
    file = models.FileField(_("file"), upload_to=_export_upload_path, blank=True)
    error = models.TextField(blank=True, verbose_name=_("error"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("asked at"), auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.model_label} {self.file_format} #{self.pk}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


def _default_scopes() -> list[str]:
    return list(DEFAULT_SCOPES)


class ApiKey(models.Model):
    """A key one of the brand's systems writes to the ingest API with, for one channel.

    Only a SHA-256 hash of the key is stored; the key itself is shown once, when it is made.
    """

    # Every Channel value: a sales channel (store, web, …) or a messaging one (line, app push, …).
    CHANNEL_CHOICES = [*SalesChannel.choices, *MessagingChannel.choices]

    name = models.CharField(_("name"), max_length=40, unique=True)
    channel = models.CharField(_("channel it writes"), max_length=20, choices=CHANNEL_CHOICES)
    prefix = models.CharField(_("key starts with"), max_length=8)
    # omnichannel.api.scopes.Scope values: what the key may do (an ingest key cannot launch a
    # campaign). A key with none may do nothing.
    scopes = models.JSONField(_("scopes"), default=_default_scopes, blank=True)
    secret_hash = models.CharField(
        max_length=64, unique=True, editable=False, verbose_name=_("secret hash")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("revoked by"),
    )
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class IdempotencyRecord(models.Model):
    """The response an API call gave, so a retry with the same Idempotency-Key gets it again."""

    api_key = models.ForeignKey(
        ApiKey, on_delete=models.CASCADE, related_name="+", verbose_name=_("API key")
    )
    key = models.CharField(max_length=255, verbose_name=_("key"))
    request_hash = models.CharField(max_length=64, verbose_name=_("request hash"))
    status_code = models.PositiveSmallIntegerField(default=0, verbose_name=_("status code"))
    response_body = models.JSONField(default=dict, verbose_name=_("response body"))
    created_at = models.DateTimeField(
        default=timezone.now, db_index=True, verbose_name=_("created at")
    )

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            # Two retries racing: the second INSERT waits on the first and then fails.
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.api_key_id}:{self.key}"


class Segment(models.Model):
    """A saved audience: rules as JSON (crm.segments.definition), compiled to one query.

    `member_count` is the count at `counted_at`, refreshed by a beat job; campaigns snapshot
    the members from the definition itself. A ready-made segment (RFM groups, OMO, …) has a
    `ready_made` key, is written by crm.segments.ready_made after every migrate, and is not
    edited by hand.
    """

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    definition = models.JSONField(_("rules"), default=dict)
    member_count = models.IntegerField(_("member count"), null=True, blank=True)
    counted_at = models.DateTimeField(_("counted at"), null=True, blank=True)
    ready_made = models.CharField(_("ready-made key"), max_length=30, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["ready_made"], condition=~Q(ready_made=""), name="segment_unique_ready_made"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_ready_made(self) -> bool:
        return bool(self.ready_made)

    @property
    def display_name(self) -> str:
        """A ready-made segment's name in the user's language (stored as its English msgid)."""
        return gettext(self.name) if self.ready_made else self.name


class MemberNote(models.Model):
    """A note a marketer wrote on a member's profile (moves with merges, goes with erasure)."""

    member = models.ForeignKey(
        Member,
        on_delete=models.CASCADE,
        related_name="notes",
        db_index=False,
        verbose_name=_("member"),
    )  # (member, at) serves lookups by member
    body = models.TextField(_("note"), max_length=2000)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("author"),
    )
    at = models.DateTimeField(_("written at"), default=timezone.now)

    class Meta:
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        indexes = [models.Index(fields=["member", "at"])]

    def __str__(self) -> str:
        return f"{self.member_id} {self.at:%Y-%m-%d}"
