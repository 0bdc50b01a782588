"""The loyalty programme: a points ledger that is always right, tiers, rewards and coupons.

The rules the database keeps (DESIGN.md §4), so that no code path can break them:
- a `PointsAccount`'s balance is never negative, and each ledger entry records the balance after
  it (never negative either);
- `PointsTransaction` is append-only: every change of a balance is one entry, numbered per
  account (`seq`, unique with the account), so two writers that both read the same balance
  cannot both append the next entry: the second one's INSERT fails instead of overspending;
- every entry has a unique idempotency key (the order it earned on, the hold it redeemed, the
  day it expired), so a replay, a retried task or a re-imported file writes nothing twice;
- the sign of an entry follows its kind (earn +, redeem −, expire −).

The balance equals the sum of the account's entries: the services append entries and move the
balance in one statement batch under the account's row lock (loyalty.services.ledger); the
test suite and `manage.py loyalty_check` compare the two.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from omnichannel.channels import SalesChannel


class Programme(models.Model):
    """The programme's settings a marketer edits (one row, pk 1: `Programme.current()`)."""

    spend_per_point_twd = models.PositiveIntegerField(_("NT$ of net spend per point"), default=100)
    min_order_twd = models.PositiveIntegerField(_("minimum order (NT$) to earn"), default=0)
    expiry_months = models.PositiveSmallIntegerField(_("points expire after (months)"), default=12)
    point_value_twd = models.PositiveSmallIntegerField(_("value of a point (NT$)"), default=1)
    redeem_max_share_pct = models.PositiveSmallIntegerField(
        _("points may pay up to (% of an order)"), default=100
    )
    downgrade_grace_days = models.PositiveSmallIntegerField(
        _("days a member keeps a tier after falling below it"), default=30
    )
    excluded_stores = models.ManyToManyField(
        "crm.Store",
        blank=True,
        related_name="+",
        verbose_name=_("stores where no points are earned"),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("updated by"),
    )

    class Meta:
        verbose_name = _("loyalty programme")
        verbose_name_plural = _("loyalty programme")
        constraints = [
            models.CheckConstraint(
                condition=Q(spend_per_point_twd__gte=1), name="programme_spend_per_point_positive"
            ),
            models.CheckConstraint(
                condition=Q(redeem_max_share_pct__lte=100), name="programme_redeem_share_max_100"
            ),
            models.CheckConstraint(
                condition=Q(expiry_months__gte=1), name="programme_expiry_at_least_a_month"
            ),
        ]

    def __str__(self) -> str:
        return str(_("loyalty programme"))

    @classmethod
    def current(cls) -> "Programme":
        programme, _created = cls.objects.get_or_create(pk=1)
        return programme


class Tier(models.Model):
    """A level of the programme, reached by rolling 12-month net spend (一般/銀卡/金卡/白金)."""

    name = models.CharField(_("name"), max_length=40, unique=True)
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True)  # 0 = the entry tier
    threshold_twd = models.PositiveIntegerField(_("12-month net spend from (NT$)"), default=0)
    earn_multiplier = models.DecimalField(
        _("points multiplier"), max_digits=4, decimal_places=2, default=1
    )
    colour = models.CharField(_("colour"), max_length=7, default="#6b7280")  # #rrggbb

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["rank"]
        constraints = [
            models.UniqueConstraint(fields=["threshold_twd"], name="tier_unique_threshold"),
            models.CheckConstraint(
                condition=Q(earn_multiplier__gte=0), name="tier_multiplier_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class EarnRule(models.Model):
    """A multiplier on the base rate: for a sales channel (×2 in the app) or a promotion window.

    How they combine (loyalty.earning, one function): base points = floor(net spend / NT$ per
    point); × the member's tier multiplier; × every active channel rule that matches the order;
    × the highest active promotion that matches it; rounded down. Orders under the programme's
    minimum or from an excluded store earn nothing.
    """

    class Kind(models.TextChoices):
        CHANNEL = "channel", _("Sales channel")
        PROMOTION = "promotion", _("Promotion")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    channel = models.CharField(
        _("sales channel"), max_length=20, choices=SalesChannel.choices, blank=True
    )  # blank: any channel (a promotion for everyone)
    stores = models.ManyToManyField(
        "crm.Store", blank=True, related_name="+", verbose_name=_("only in these stores")
    )
    multiplier = models.DecimalField(_("multiplier"), max_digits=5, decimal_places=2, default=2)
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("updated by"),
    )

    class Meta:
        verbose_name = _("earn rule")
        verbose_name_plural = _("earn rules")
        ordering = ["kind", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(multiplier__gte=0), name="earnrule_multiplier_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True)
                | Q(ends_at__isnull=True)
                | Q(ends_at__gt=F("starts_at")),
                name="earnrule_ends_after_start",
            ),
            models.CheckConstraint(
                condition=~Q(kind="channel") | ~Q(channel=""),
                name="earnrule_channel_rule_names_channel",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PointsAccount(models.Model):
    """A member's points: the balance (= the sum of the ledger), the tier and its basis."""

    member = models.OneToOneField(
        "crm.Member",
        on_delete=models.PROTECT,
        related_name="points_account",
        verbose_name=_("member"),
    )
    balance = models.IntegerField(_("balance"), default=0)
    # How many ledger entries the account has: the next entry's seq is entries + 1.
    entries = models.PositiveIntegerField(_("ledger entries"), default=0)
    tier = models.ForeignKey(
        Tier,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="accounts",
        verbose_name=_("tier"),
    )
    tier_since = models.DateTimeField(_("tier since"), null=True, blank=True)
    # Set while the member's spend is below the tier's threshold: the tier is kept until then.
    downgrade_due_at = models.DateTimeField(_("downgrade due at"), null=True, blank=True)
    spend_12m_twd = models.IntegerField(_("net spend, last 12 months (NT$)"), default=0)
    spend_12m_at = models.DateTimeField(_("12-month spend counted at"), null=True, blank=True)
    last_earned_at = models.DateTimeField(_("last earned at"), null=True, blank=True)
    last_redeemed_at = models.DateTimeField(_("last redeemed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("points account")
        verbose_name_plural = _("points accounts")
        constraints = [
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="account_balance_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["tier", "balance"], name="account_tier_balance")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.balance}"


class PointsTransaction(models.Model):
    """One entry of the append-only ledger. Never updated or deleted (erasure keeps the figures:
    the member is anonymised, the entries stay)."""

    class Kind(models.TextChoices):
        EARN = "earn", _("Earned")
        REDEEM = "redeem", _("Redeemed")
        EXPIRE = "expire", _("Expired")
        ADJUST = "adjust", _("Adjusted")
        REVERSE = "reverse", _("Reversed")
        TRANSFER = "transfer", _("Transferred")  # a merge moves points between accounts

    class Source(models.TextChoices):
        ORDER = "order", _("Order")
        TILL = "till", _("Till (API)")
        PAGE = "page", _("Marketer")
        ADMIN = "admin", _("Admin")
        NIGHTLY = "nightly", _("Nightly job")
        MERGE = "merge", _("Merge")
        DEMO = "demo", _("Demo data")

    account = models.ForeignKey(
        PointsAccount,
        on_delete=models.PROTECT,
        related_name="transactions",
        db_index=False,  # (account, seq) unique serves lookups by account
        verbose_name=_("account"),
    )
    seq = models.PositiveIntegerField(_("entry number"))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    points = models.IntegerField(_("points"))
    balance_after = models.IntegerField(_("balance after"))
    # Credits (earn, positive adjust/reverse/transfer) expire on this day (Asia/Taipei): the
    # nightly job of that day expires what is left of them, oldest first. Null: never.
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    order = models.ForeignKey(
        "crm.Order",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,  # orders are never deleted; the feed may name an order first
        related_name="+",
        verbose_name=_("order"),
    )
    order_no = models.CharField(_("order number"), max_length=64, blank=True)  # as the till said
    reward = models.ForeignKey(
        "Reward",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("reward"),
    )
    coupon = models.ForeignKey(
        "Coupon",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("coupon"),
    )
    hold = models.ForeignKey(
        "PointsHold",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("hold"),
    )
    counterpart = models.ForeignKey(
        PointsAccount,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("other account"),
    )  # a transfer's other side
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    idempotency_key = models.CharField(_("idempotency key"), max_length=120, unique=True)

    class Meta:
        verbose_name = _("points entry")
        verbose_name_plural = _("points entries")
        ordering = ["account", "seq"]
        permissions = [
            ("adjust_points", _("Can adjust a member's points by hand")),
            ("export_points", _("Can export points history")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["account", "seq"], name="points_entry_unique_seq"),
            models.CheckConstraint(condition=~Q(points=0), name="points_entry_not_zero"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="points_entry_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["earn"], points__gt=0)
                | Q(kind__in=["redeem", "expire"], points__lt=0)
                | Q(kind__in=["adjust", "reverse", "transfer"]),
                name="points_entry_sign_follows_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["order"], condition=Q(order__isnull=False), name="points_order"),
            models.Index(fields=["at"], name="points_entry_at"),
            # The programme overview's sums per kind over a period (and the breakage's 12 months
            # of redeemed and expired points): an index-only range scan per kind on PostgreSQL.
            models.Index(fields=["kind", "at"], include=["points"], name="points_kind_at"),
            models.Index(
                fields=["expires_on", "account"],
                condition=Q(expires_on__isnull=False),
                name="points_credit_expiry",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}#{self.seq} {self.kind} {self.points:+d}"


class PointsHold(models.Model):
    """Points reserved at the till for a sale in progress: committed with the order number (the
    redemption lands on that order) or released; one left alone expires by itself."""

    class Status(models.TextChoices):
        HELD = "held", _("Held")
        COMMITTED = "committed", _("Committed")
        RELEASED = "released", _("Released")
        EXPIRED = "expired", _("Expired")

    account = models.ForeignKey(
        PointsAccount, on_delete=models.PROTECT, related_name="holds", verbose_name=_("account")
    )
    points = models.PositiveIntegerField(_("points"))
    discount_twd = models.PositiveIntegerField(_("discount (NT$)"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default="held")
    expires_at = models.DateTimeField(_("expires at"))
    order_amount_twd = models.PositiveIntegerField(_("order amount (NT$)"), null=True, blank=True)
    order_no = models.CharField(_("order number"), max_length=64, blank=True)
    channel = models.CharField(_("sales channel"), max_length=20, choices=SalesChannel.choices)
    store = models.ForeignKey(
        "crm.Store",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("store"),
    )
    # The till's API key that made it: only that key may commit or release it (another till
    # is answered hold_unknown). Null for holds made inside the app.
    api_key = models.ForeignKey(
        "crm.ApiKey",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("API key"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("points hold")
        verbose_name_plural = _("points holds")
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="hold_points_positive"),
        ]
        indexes = [
            models.Index(
                fields=["account", "expires_at"],
                condition=Q(status="held"),
                name="hold_open_by_account",
            ),
            models.Index(fields=["expires_at"], condition=Q(status="held"), name="hold_open_due"),
        ]

    def __str__(self) -> str:
        return f"hold {self.pk}: {self.points} ({self.status})"


class Reward(models.Model):
    """Something members buy with points; redeeming issues a coupon for it."""

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    points_price = models.PositiveIntegerField(_("price in points"))
    discount_twd = models.PositiveIntegerField(
        _("coupon value at the till (NT$)"), default=0
    )  # 0: a gift, not money off
    stock = models.PositiveIntegerField(_("stock"), null=True, blank=True)  # null: unlimited
    issued_count = models.PositiveIntegerField(_("coupons issued"), default=0)
    available_from = models.DateTimeField(_("available from"), null=True, blank=True)
    available_until = models.DateTimeField(_("available until"), null=True, blank=True)
    coupon_valid_days = models.PositiveSmallIntegerField(_("coupon valid for (days)"), default=30)
    image = models.ImageField(_("image"), upload_to="rewards/", blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    # A reward a job gives away (the birthday gift): found by this, whatever its name; one each.
    purpose = models.CharField(_("given by"), max_length=20, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        ordering = ["points_price", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(available_from__isnull=True)
                | Q(available_until__isnull=True)
                | Q(available_until__gt=F("available_from")),
                name="reward_available_until_after_from",
            ),
            models.CheckConstraint(condition=Q(coupon_valid_days__gte=1), name="reward_valid_days"),
            models.UniqueConstraint(
                fields=["purpose"], condition=~Q(purpose=""), name="reward_unique_purpose"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Coupon(models.Model):
    """A reward issued to a member: a unique, unguessable code (and its QR code), used once."""

    class Status(models.TextChoices):
        ISSUED = "issued", _("Unused")
        USED = "used", _("Used")
        EXPIRED = "expired", _("Expired")
        VOID = "void", _("Cancelled")

    class UsedVia(models.TextChoices):
        TILL = "till", _("Till (API)")
        PAGE = "page", _("Marketer")

    code = models.CharField(_("code"), max_length=20, unique=True)
    reward = models.ForeignKey(
        Reward, on_delete=models.PROTECT, related_name="coupons", verbose_name=_("reward")
    )
    account = models.ForeignKey(
        PointsAccount, on_delete=models.PROTECT, related_name="coupons", verbose_name=_("account")
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default="issued")
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    used_via = models.CharField(
        _("used through"), max_length=10, choices=UsedVia.choices, blank=True
    )
    used_order_no = models.CharField(_("order number"), max_length=64, blank=True)
    used_store = models.ForeignKey(
        "crm.Store",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("store"),
    )
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("used by"),
    )
    # A marketer cancelled it (loyalty.services.rewards.coupon_void): when, who and why.
    voided_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("cancelled by"),
    )
    void_reason = models.CharField(_("reason for cancelling"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        permissions = [("redeem_coupon", _("Can mark a coupon used"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="used", used_at__isnull=False)
                | (~Q(status="used") & Q(used_at__isnull=True)),
                name="coupon_used_iff_used_at",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "status"], name="coupon_account_status"),
            # The overview's top rewards: coupons issued in a period.
            models.Index(fields=["issued_at", "reward"], name="coupon_issued_at"),
            models.Index(fields=["expires_at"], condition=Q(status="issued"), name="coupon_due"),
        ]

    def __str__(self) -> str:
        return self.code


class TierChange(models.Model):
    """A member moved from one tier to another, and why (upgrades and downgrades alike)."""

    class Reason(models.TextChoices):
        ORDER = "order", _("Spend reached the tier")
        NIGHTLY = "nightly", _("Nightly review")
        GRACE_ENDED = "grace_ended", _("Grace period ended")
        RULES = "rules", _("Tiers changed")
        MERGE = "merge", _("Merge")
        MANUAL = "manual", _("Set by hand")

    account = models.ForeignKey(
        PointsAccount,
        on_delete=models.PROTECT,
        related_name="tier_changes",
        verbose_name=_("account"),
    )
    from_tier = models.ForeignKey(
        Tier,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("from"),
    )
    to_tier = models.ForeignKey(
        Tier,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("to"),
    )
    reason = models.CharField(_("reason"), max_length=12, choices=Reason.choices)
    spend_12m_twd = models.IntegerField(_("net spend, last 12 months (NT$)"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("actor"),
    )
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["account", "at"], name="tierchange_account_at"),
            models.Index(fields=["at"], name="tierchange_at"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.from_tier_id} → {self.to_tier_id}"


class WalletPass(models.Model):
    """A member's card in a phone's wallet: one per member and platform (DESIGN.md §3).

    Apple: `serial` is the pass's serialNumber and `authentication_token` the secret a device
    sends back (`Authorization: ApplePass <token>`) to Apple's pass web service; Google: the
    loyalty object's id is "<issuer id>.<serial>". `updated_at` is when the card's content last
    changed (Apple's Last-Modified and the passesUpdatedSince tag). A points or tier change does
    not push at once: it sets `changed_at`, and the wallet push job (beat) coalesces every change
    since the last push into one update per pass, so five ledger entries are one push per device.
    """

    class Platform(models.TextChoices):
        APPLE = "apple", _("Apple Wallet")
        GOOGLE = "google", _("Google Wallet")

    member = models.ForeignKey(
        "crm.Member",
        on_delete=models.CASCADE,
        related_name="wallet_passes",
        verbose_name=_("member"),
    )
    platform = models.CharField(_("wallet"), max_length=10, choices=Platform.choices)
    serial = models.CharField(_("serial number"), max_length=64, unique=True)
    authentication_token = models.CharField(_("authentication token"), max_length=64)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("card updated at"), default=timezone.now)
    # A change waiting for the push job (None: nothing to push); the job clears it.
    changed_at = models.DateTimeField(_("changed at"), null=True, blank=True)
    pushed_at = models.DateTimeField(_("pushed at"), null=True, blank=True)
    # Shown by the wallet itself with the next update (Apple's changeMessage, Google's message).
    change_message = models.CharField(_("message with the next update"), max_length=200, blank=True)
    # In a wallet now: Apple, at least one device registered; Google, saved and not deleted.
    installed = models.BooleanField(_("in a wallet"), default=False)
    installed_at = models.DateTimeField(_("added at"), null=True, blank=True)
    removed_at = models.DateTimeField(_("removed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("wallet card")
        verbose_name_plural = _("wallet cards")
        constraints = [
            models.UniqueConstraint(fields=["member", "platform"], name="walletpass_unique_member"),
        ]
        indexes = [
            models.Index(
                fields=["changed_at"],
                condition=Q(changed_at__isnull=False),
                name="walletpass_changed",
            ),
            models.Index(fields=["updated_at"], name="walletpass_updated_at"),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} {self.serial}"


class WalletDeviceRegistration(models.Model):
    """An Apple device that holds a pass and wants its updates (Apple's pass web service)."""

    device_library_id = models.CharField(_("device"), max_length=128)
    push_token = models.CharField(_("push token"), max_length=200)
    wallet_pass = models.ForeignKey(
        WalletPass,
        on_delete=models.CASCADE,
        related_name="registrations",
        verbose_name=_("wallet card"),
    )
    created_at = models.DateTimeField(_("registered at"), default=timezone.now)

    class Meta:
        verbose_name = _("wallet device")
        verbose_name_plural = _("wallet devices")
        constraints = [
            models.UniqueConstraint(
                fields=["device_library_id", "wallet_pass"], name="walletdevice_unique_pass"
            ),
        ]
        indexes = [models.Index(fields=["push_token"], name="walletdevice_push_token")]

    def __str__(self) -> str:
        return self.device_library_id


class LoyaltyJob(models.TextChoices):
    """The programme's beat jobs whose runs the marketer sees on the loyalty page."""

    BIRTHDAY = "birthday", _("Birthday offers")
    POINTS_REMINDER = "points_reminder", _("Unused-points reminders")
    EXPIRY = "expiry", _("Points expiry")
    TIERS = "tiers", _("Tier review")


class LoyaltyJobRun(models.Model):
    """One run of a loyalty beat job: when, for which period, how many, and what was held back.

    `counts` holds the run's figures, e.g. {"due": 120, "campaign": 100, "wallet": 15,
    "suppressed": {"no_channel": 5}}; a second run of the same period finds nothing new to do
    and records zeros (the unique `LoyaltyJobMessage` row decides, not this log).

    `day` is the job's run day (Asia/Taipei): the automated message's run campaign is that
    day's (one per job and day), and its audience is the rows the day's runs wrote. `warning`
    says why members this run chose may not get the message (the day's campaign paused,
    cancelled, failed, or still sending).
    """

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class Warning(models.TextChoices):
        CAMPAIGN_PAUSED = "campaign_paused", _("The day's message is paused")
        CAMPAIGN_CANCELLED = "campaign_cancelled", _("The day's message was cancelled")
        CAMPAIGN_FAILED = "campaign_failed", _("The day's message failed")
        CAMPAIGN_BUSY = "campaign_busy", _("The day's message was still sending")

    job = models.CharField(_("job"), max_length=20, choices=LoyaltyJob.choices)
    period = models.CharField(_("period"), max_length=20)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.RUNNING
    )
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    counts = models.JSONField(_("figures"), default=dict, blank=True)
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("campaign"),
    )
    error = models.CharField(_("error"), max_length=500, blank=True)
    day = models.DateField(_("run day"), null=True, blank=True)
    warning = models.CharField(_("warning"), max_length=20, choices=Warning.choices, blank=True)

    class Meta:
        verbose_name = _("loyalty job run")
        verbose_name_plural = _("loyalty job runs")
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["job", "started_at"], name="jobrun_job_started")]

    def __str__(self) -> str:
        return f"{self.get_job_display()} {self.period}"


class LoyaltyJobMessage(models.Model):
    """A member a loyalty job reached (or held back) for a period: unique per job, member and
    period, so running a job twice, or two beat processes at once, sends nothing twice."""

    class Path(models.TextChoices):
        CAMPAIGN = "campaign", _("Message (best channel)")
        WALLET = "wallet", _("Wallet card update")
        SUPPRESSED = "suppressed", _("Held back")

    job = models.CharField(_("job"), max_length=20, choices=LoyaltyJob.choices)
    period = models.CharField(_("period"), max_length=20)
    member = models.ForeignKey(
        "crm.Member", on_delete=models.CASCADE, related_name="+", verbose_name=_("member")
    )
    run = models.ForeignKey(
        LoyaltyJobRun,
        on_delete=models.PROTECT,
        related_name="messages",
        verbose_name=_("run"),
    )
    path = models.CharField(_("sent as"), max_length=12, choices=Path.choices)
    reason = models.CharField(_("reason"), max_length=40, blank=True)
    coupon = models.ForeignKey(
        Coupon,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("coupon"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("loyalty job message")
        verbose_name_plural = _("loyalty job messages")
        constraints = [
            models.UniqueConstraint(
                fields=["job", "period", "member"], name="jobmessage_unique_member_period"
            ),
        ]
        indexes = [models.Index(fields=["run", "path"], name="jobmessage_run_path")]

    def __str__(self) -> str:
        return f"{self.job} {self.period} {self.member_id}"


class GoogleWalletCallback(models.Model):
    """A save or delete Google Wallet called back about, once its signature was verified.

    Google retries a callback it thinks went unanswered, so the same event may arrive twice: the
    message's nonce is unique here, and a repeat records nothing (and touches nothing) again.
    `wallet_pass` is empty when the object id names no card of ours (an old or foreign object).
    """

    class Event(models.TextChoices):
        SAVE = "save", _("Saved")
        DELETE = "del", _("Deleted")

    class_id = models.CharField(_("class id"), max_length=200)
    object_id = models.CharField(_("object id"), max_length=200)
    event_type = models.CharField(_("event"), max_length=4, choices=Event.choices)
    nonce = models.CharField(_("nonce"), max_length=200, unique=True)
    expires_at = models.DateTimeField(_("message expires at"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    wallet_pass = models.ForeignKey(
        WalletPass,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="google_callbacks",
        verbose_name=_("wallet card"),
    )

    class Meta:
        verbose_name = _("Google Wallet callback")
        verbose_name_plural = _("Google Wallet callbacks")
        indexes = [models.Index(fields=["received_at"], name="googlecallback_received_at")]

    def __str__(self) -> str:
        return f"{self.get_event_type_display()} {self.object_id}"
