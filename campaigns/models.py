"""Campaigns: what is sent, to whom, and the outbox that proves each message went once.

A campaign's audience is snapshotted at launch into `Delivery` rows (unique per campaign and
member: the outbox). The rows are grouped into `SendBatch`es of one channel; a worker claims a
batch with a lease (omnichannel/jobs.py), calls the channel's backend, and writes every row's
end: sent (with the provider's id), failed (with a reason) or suppressed (with a reason).
"""

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from omnichannel.channels import MessagingChannel
from omnichannel.jobs import LeasedJob

VARIANT_DEFAULT = "A"
# Up to four variants of a campaign's message (A/B/n).
VARIANTS = ("A", "B", "C", "D")


class WinnerMetric(models.TextChoices):
    CLICKS = "clicks", _("Click rate")
    CONVERSIONS = "conversions", _("Conversion rate")
    REVENUE = "revenue", _("Revenue per member")


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        LAUNCHING = "launching", _("Preparing the audience")
        SENDING = "sending", _("Sending")
        PAUSED = "paused", _("Paused")
        DONE = "done", _("Sent")
        CANCELLED = "cancelled", _("Cancelled")
        FAILED = "failed", _("Failed")

    # A campaign in one of these may still change what it sends (content, audience, channels).
    EDITABLE = (Status.DRAFT, Status.SCHEDULED)
    # Workers send its batches only in this state; pause and cancel leave it.
    ACTIVE = (Status.LAUNCHING, Status.SENDING)
    FINAL = (Status.DONE, Status.CANCELLED, Status.FAILED)

    name = models.CharField(_("name"), max_length=120)
    segment = models.ForeignKey(
        "crm.Segment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("audience"),
    )
    # Messaging channels in fallback order: each member gets the first one they can be reached
    # on and consented to (["line", "push", "sms", "email"]); one item = one channel only.
    channels = models.JSONField(_("channels"), default=list)
    is_marketing = models.BooleanField(
        _("marketing message"),
        default=True,
        help_text=_("Marketing messages count towards the frequency cap; service messages do not."),
    )
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    # Overrides of the settings' defaults; None = the default. quiet_hours maps a channel to
    # "HH:MM-HH:MM,HH:MM-HH:MM" in Asia/Taipei ("" = none for that channel).
    quiet_hours = models.JSONField(_("quiet hours"), null=True, blank=True)
    frequency_cap_messages = models.PositiveSmallIntegerField(
        _("frequency cap: messages"), null=True, blank=True
    )
    frequency_cap_days = models.PositiveSmallIntegerField(
        _("frequency cap: days"), null=True, blank=True
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    # A/B/n: the share of the sent audience per variant, {"A": 50, "B": 50} (percent, summing to
    # 100); empty = one variant, A. The variants' contents are the Message rows.
    variant_split = models.JSONField(_("variant split"), default=dict, blank=True)
    # Winner mode: variants go to `winner_test_percent` of the sent audience; after
    # `winner_after_hours` the variant best on `winner_metric` goes to the rest.
    winner_metric = models.CharField(
        _("winner chosen by"), max_length=12, choices=WinnerMetric.choices, blank=True
    )
    winner_test_percent = models.PositiveSmallIntegerField(
        _("test share (%)"), default=20, validators=[MinValueValidator(1), MaxValueValidator(90)]
    )
    winner_after_hours = models.PositiveSmallIntegerField(
        _("winner after (hours)"), default=4, validators=[MinValueValidator(1)]
    )
    winner_variant = models.CharField(_("winner"), max_length=1, blank=True)
    winner_chosen_at = models.DateTimeField(_("winner chosen at"), null=True, blank=True)
    # Incrementality: a random share of the audience (deterministic from campaign and member)
    # held out and never sent; and whole home stores held out (member-level randomisation
    # cannot reach a store's sales).
    holdout_percent = models.PositiveSmallIntegerField(
        _("holdout (%)"), default=0, validators=[MaxValueValidator(50)]
    )
    holdout_stores = models.ManyToManyField(
        "crm.Store", blank=True, related_name="+", verbose_name=_("held-out stores")
    )
    # Conversion windows: an order within this many days of a delivery, or of a click.
    conversion_window_delivery_days = models.PositiveSmallIntegerField(
        _("conversion window after delivery (days)"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
    )
    conversion_window_click_days = models.PositiveSmallIntegerField(
        _("conversion window after a click (days)"),
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
    )
    utm_campaign = models.SlugField(
        _("UTM campaign"),
        max_length=100,
        blank=True,
        help_text=_("Added to every tracked link as utm_campaign; empty = the campaign's id."),
    )
    audience_count = models.PositiveIntegerField(_("audience"), default=0)
    error = models.TextField(_("error"), blank=True)
    # Automated messages (loyalty's birthday and points reminders, later journeys): the
    # *template* names its trigger ("loyalty.birthday") and holds the content a marketer
    # edits; it is never launched itself. Each run of the trigger's job sends a *run* campaign
    # copied from it, one per period (unique with the template), whose audience is the members
    # the job chose: an audience source registered by the app (campaigns/audience_sources.py)
    # with its parameters, narrowed by the template's segment when it has one. The outbox's
    # unique (campaign, member) then holds once per member per period.
    trigger = models.CharField(_("automated trigger"), max_length=40, blank=True)
    template = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="runs",
        verbose_name=_("automated message"),
    )
    period = models.CharField(_("period"), max_length=20, blank=True)
    audience_source = models.CharField(_("audience source"), max_length=40, blank=True)
    audience_params = models.JSONField(_("audience parameters"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    launched_at = models.DateTimeField(_("launched at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("launch_campaign", _("Can launch, pause, resume and cancel campaigns")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["trigger"], condition=~Q(trigger=""), name="campaign_unique_trigger"
            ),
            models.UniqueConstraint(
                fields=["template", "period"],
                condition=Q(template__isnull=False),
                name="campaign_unique_template_period",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_editable(self) -> bool:
        return self.status in self.EDITABLE

    @property
    def winner_due_at(self):
        """Winner mode: when the winner is chosen (launch + winner_after_hours); else None."""
        if not self.winner_metric or self.launched_at is None:
            return None
        return self.launched_at + timedelta(hours=self.winner_after_hours)


class Message(models.Model):
    """A campaign's content on one channel (and, from the A/B issue on, one variant).

    `content` per channel (campaigns/content.py validates it):
      line:  {"messages": [{"type": "text", "text": …} | {"type": "image", …} | {"type": "flex",
              "altText": …, "contents": {…}}]}  (1–5 messages)
      email: {"subject": …, "text": …, "html": …}
      sms:   {"text": …}
      push:  {"title": …, "body": …, "url": …}
    Text may carry personalisation fields: {{name}}, {{member_no}}, … (campaigns/personalise.py).
    """

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="messages", verbose_name=_("campaign")
    )
    channel = models.CharField(_("channel"), max_length=10, choices=MessagingChannel.choices)
    variant = models.CharField(_("variant"), max_length=1, default=VARIANT_DEFAULT)
    content = models.JSONField(_("content"), default=dict)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "channel", "variant"], name="message_unique_channel_variant"
            )
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.channel} {self.variant}"


class DeliveryReason(models.TextChoices):
    """Why a delivery was suppressed or failed; codes are stable (reports, API, CSV)."""

    # suppressed
    NO_CONSENT = "no_consent", _("No consent")
    UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
    LINE_BLOCKED = "line_blocked", _("Blocked the LINE account")
    NO_CHANNEL = "no_channel", _("No reachable channel")
    FREQUENCY_CAP = "frequency_cap", _("Frequency cap")
    BOUNCED = "bounced", _("Address bounced")
    COMPLAINED = "complained", _("Marked as spam")
    CANCELLED = "cancelled", _("Campaign cancelled")
    MEMBER_ERASED = "member_erased", _("Member erased")
    # failed
    ADDRESS_INVALID = "address_invalid", _("Address refused by the provider")
    PROVIDER_REJECTED = "provider_rejected", _("Refused by the provider")
    PROVIDER_ERROR = "provider_error", _("Provider error after retries")
    OUTCOME_UNKNOWN = "outcome_unknown", _("Worker stopped during the call; not resent")
    # held out (never sent, measured against the sent group)
    HOLDOUT = "holdout", _("Holdout")
    STORE_HOLDOUT = "store_holdout", _("Held-out store")
    CONTROL_GROUP = "control_group", _("Global control group")


class Delivery(models.Model):
    """One member's message of one campaign: the outbox row, written before any provider call."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SUPPRESSED = "suppressed", _("Suppressed")
        HELD_OUT = "held_out", _("Held out")

    FINAL = (Status.SENT, Status.FAILED, Status.SUPPRESSED, Status.HELD_OUT)
    Reason = DeliveryReason

    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
        verbose_name=_("campaign"),
    )  # (campaign, member) unique serves lookups by campaign
    member = models.ForeignKey(
        "crm.Member",
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
        verbose_name=_("member"),
    )  # (member, sent_at) serves the timeline and the frequency cap
    channel = models.CharField(
        _("channel"), max_length=10, choices=MessagingChannel.choices, blank=True
    )
    variant = models.CharField(_("variant"), max_length=1, default=VARIANT_DEFAULT)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices, blank=True)
    error = models.CharField(_("provider's answer"), max_length=500, blank=True)
    provider_id = models.CharField(_("provider's id"), max_length=200, blank=True)
    batch = models.ForeignKey(
        "SendBatch",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
        verbose_name=_("send batch"),
    )
    is_marketing = models.BooleanField(_("marketing message"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # What the member did after it (first open, first click, credited orders). Nullable or
    # with a database default: the launch writes deliveries with a raw INSERT … SELECT.
    opened_at = models.DateTimeField(_("opened at"), null=True, blank=True)
    clicked_at = models.DateTimeField(_("clicked at"), null=True, blank=True)
    converted_at = models.DateTimeField(_("converted at"), null=True, blank=True)
    revenue_twd = models.IntegerField(_("credited revenue (NT$)"), default=0, db_default=0)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            # The outbox's promise: one message per member per campaign, whatever crashes.
            models.UniqueConstraint(fields=["campaign", "member"], name="delivery_unique_member"),
            models.CheckConstraint(
                condition=~Q(status__in=["sent"]) | Q(sent_at__isnull=False),
                name="delivery_sent_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "sent_at"], name="delivery_member_sent"),
            models.Index(fields=["campaign", "status", "reason"], name="delivery_campaign_status"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.member_id} {self.status}"


class SendBatch(LeasedJob):
    """Up to a few hundred deliveries of one channel that one worker sends in one go.

    `retry_key` is written when the batch is made, before any provider call, so a worker that
    takes over a dead worker's batch sends the same keys: LINE answers 409 (already accepted)
    and Mitake ignores a repeated clientid, instead of a second message.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Sending")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="batches", verbose_name=_("campaign")
    )
    channel = models.CharField(_("channel"), max_length=10, choices=MessagingChannel.choices)
    seq = models.PositiveIntegerField(_("number"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    retry_key = models.UUIDField(_("retry key"), default=uuid.uuid4, editable=False)
    not_before = models.DateTimeField(_("not before"), default=timezone.now)
    # When its task was last sent to the broker: the sweep sends it again only after a while
    # (a lost message), not every minute while it waits its turn in the queue.
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)
    size = models.PositiveIntegerField(_("deliveries"), default=0)
    sent = models.PositiveIntegerField(_("sent"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    suppressed = models.PositiveIntegerField(_("suppressed"), default=0)
    provider_attempts = models.PositiveSmallIntegerField(_("provider attempts"), default=0)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("send batch")
        verbose_name_plural = _("send batches")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "channel", "seq"], name="batch_unique_seq")
        ]
        indexes = [models.Index(fields=["status", "not_before"], name="batch_due")]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.channel} #{self.seq}"


class Suppression(models.Model):
    """A member that cannot be reached on a channel until lifted: a LINE block, a bounce, a
    spam complaint. An unsubscribe is an opt-out Consent instead (crm), with its proof."""

    class Reason(models.TextChoices):
        LINE_BLOCKED = DeliveryReason.LINE_BLOCKED.value, DeliveryReason.LINE_BLOCKED.label
        BOUNCED = DeliveryReason.BOUNCED.value, DeliveryReason.BOUNCED.label
        COMPLAINED = DeliveryReason.COMPLAINED.value, DeliveryReason.COMPLAINED.label

    member = models.ForeignKey(
        "crm.Member",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        verbose_name=_("member"),
    )
    channel = models.CharField(_("channel"), max_length=10, choices=MessagingChannel.choices)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    source = models.CharField(_("source"), max_length=50, blank=True)
    detail = models.CharField(_("detail"), max_length=500, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("suppression")
        verbose_name_plural = _("suppressions")
        indexes = [
            models.Index(
                fields=["member", "channel"],
                condition=Q(lifted_at__isnull=True),
                name="suppression_active",
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.channel} {self.reason}"


class WebhookEvent(models.Model):
    """A provider event already handled: a replay (LINE redelivers, ESPs retry) is ignored."""

    provider = models.CharField(_("provider"), max_length=20)
    event_id = models.CharField(_("event id"), max_length=100)
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="webhook_event_unique")
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_id}"


class WebPushSubscription(models.Model):
    """A browser's Web Push subscription (endpoint + keys), for the push channel."""

    member = models.ForeignKey(
        "crm.Member",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("member"),
    )
    endpoint = models.URLField(_("endpoint"), max_length=1000, unique=True)
    p256dh = models.CharField(_("public key"), max_length=200)
    auth = models.CharField(_("auth secret"), max_length=100)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("web push subscription")
        verbose_name_plural = _("web push subscriptions")

    def __str__(self) -> str:
        return f"{self.member_id} {self.endpoint[:40]}"


class RateWindow(models.Model):
    """Provider calls used in one second for one channel: the rate limit all workers share when
    there is no Redis (the embedded default)."""

    channel = models.CharField(max_length=10)
    window = models.BigIntegerField()  # epoch second
    used = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "window"], name="ratewindow_unique")
        ]

    def __str__(self) -> str:
        return f"{self.channel}@{self.window}: {self.used}"


class CampaignFigures(models.Model):
    """A campaign's report figures for one arm, kept up to date as things happen, so the report
    reads a handful of rows, never a million deliveries.

    One row per (campaign, arm, variant, channel). `arm` "sent" holds the members meant to get
    the message (sent, failed or suppressed); the held-out arms hold members never sent (variant
    and channel empty). Writers: the sending figures are recounted set-wise from the outbox
    (campaigns.services.figures); opens, clicks, conversions and revenue are added as they are
    recorded, in the same transaction as the row that records them.
    `revenue_sumsq` is the sum over members of (member's credited revenue)², so the report can
    test revenue per member (mean and variance) from these figures alone.
    """

    class Arm(models.TextChoices):
        SENT = "sent", _("Sent group")
        HOLDOUT = DeliveryReason.HOLDOUT.value, DeliveryReason.HOLDOUT.label
        STORE_HOLDOUT = DeliveryReason.STORE_HOLDOUT.value, DeliveryReason.STORE_HOLDOUT.label
        CONTROL_GROUP = DeliveryReason.CONTROL_GROUP.value, DeliveryReason.CONTROL_GROUP.label

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="figures", verbose_name=_("campaign")
    )
    arm = models.CharField(_("group"), max_length=16, choices=Arm.choices)
    variant = models.CharField(_("variant"), max_length=1, blank=True)
    channel = models.CharField(
        _("channel"), max_length=10, choices=MessagingChannel.choices, blank=True
    )
    members = models.PositiveIntegerField(_("members"), default=0)
    sent = models.PositiveIntegerField(_("sent"), default=0)
    delivered = models.PositiveIntegerField(_("delivered"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    # {reason code: count} of the suppressed (DeliveryReason).
    suppressed = models.JSONField(_("suppressed"), default=dict)
    opened = models.PositiveIntegerField(_("opened"), default=0)
    # Opens by Apple Mail Privacy Protection's proxy: counted apart, not as a member's open.
    opened_machine = models.PositiveIntegerField(_("machine opens"), default=0)
    clicked = models.PositiveIntegerField(_("clicked"), default=0)  # members who clicked
    clicks = models.PositiveIntegerField(_("clicks"), default=0)
    converted = models.PositiveIntegerField(_("converted"), default=0)  # members with an order
    orders = models.IntegerField(_("orders"), default=0)
    revenue_online_twd = models.BigIntegerField(_("revenue online (NT$)"), default=0)
    revenue_store_twd = models.BigIntegerField(_("revenue in store (NT$)"), default=0)
    revenue_sumsq = models.BigIntegerField(default=0)
    revenue_store_sumsq = models.BigIntegerField(default=0)  # the same of in-store revenue
    unsubscribed = models.PositiveIntegerField(_("unsubscribed"), default=0)
    line_blocked = models.PositiveIntegerField(_("LINE blocks"), default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("campaign figures")
        verbose_name_plural = _("campaign figures")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "arm", "variant", "channel"], name="figures_unique_arm"
            )
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.arm} {self.variant} {self.channel}"

    @property
    def revenue_twd(self) -> int:
        return self.revenue_online_twd + self.revenue_store_twd


class CampaignFiguresDaily(models.Model):
    """Conversions credited to a campaign per day (Asia/Taipei) of the order, per arm and
    variant: the report's chart over time, kept like CampaignFigures."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="figures_daily", verbose_name=_("campaign")
    )
    day = models.DateField(_("day"))
    arm = models.CharField(_("group"), max_length=16, choices=CampaignFigures.Arm.choices)
    variant = models.CharField(_("variant"), max_length=1, blank=True)
    orders = models.IntegerField(_("orders"), default=0)
    revenue_twd = models.BigIntegerField(_("revenue (NT$)"), default=0)

    class Meta:
        verbose_name = _("campaign figures per day")
        verbose_name_plural = _("campaign figures per day")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "day", "arm", "variant"], name="figures_daily_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.day} {self.arm} {self.variant}"


class LineInsight(models.Model):
    """LINE's own figures for one custom aggregation unit of a campaign (its variant: every
    multicast and push of the variant carries the unit "c<campaign>_<variant>"); LINE reports
    opens and clicks only in aggregate, per unit (GET /v2/bot/insight/message/event/
    aggregation).

    Written when the unit's first deliveries are old enough for LINE to have figures, fetched
    by the LINE Insight job (campaigns.services.line_insight) and once more after 3 days. A
    figure LINE withholds (fewer than 20 users, or not counted yet) stays None: "not yet
    available". `delivered` is what LINE accepted under the unit (our sent deliveries): LINE's
    per-unit statistics carry no delivered count. Rows with a `request_id` and no unit are
    from before units (LINE answers per request id only for narrowcasts and broadcasts).
    """

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="line_insights", verbose_name=_("campaign")
    )
    unit = models.CharField(_("LINE aggregation unit"), max_length=30, blank=True)
    variant = models.CharField(_("variant"), max_length=1, blank=True)
    request_id = models.CharField(_("LINE request id"), max_length=200, blank=True)
    sent_at = models.DateTimeField(_("sent at"))
    recipients = models.PositiveIntegerField(_("recipients"), default=0)
    fetched_at = models.DateTimeField(_("fetched at"), null=True, blank=True)
    delivered = models.PositiveIntegerField(_("delivered"), null=True, blank=True)
    unique_impression = models.PositiveIntegerField(_("opened"), null=True, blank=True)
    unique_click = models.PositiveIntegerField(_("clicked"), null=True, blank=True)
    unique_media_played = models.PositiveIntegerField(_("played media"), null=True, blank=True)
    raw = models.JSONField(_("LINE's answer"), default=dict, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("LINE insight")
        verbose_name_plural = _("LINE insights")
        indexes = [models.Index(fields=["sent_at"], name="lineinsight_sent")]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "unit"],
                condition=~models.Q(unit=""),
                name="lineinsight_campaign_unit",
            ),
            models.UniqueConstraint(
                fields=["request_id"],
                condition=~models.Q(request_id=""),
                name="lineinsight_request_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.unit or self.request_id}"


class ControlGroupFigures(models.Model):
    """The global control group against everyone else, over the `window_days` days up to `day`
    (Asia/Taipei): active members, buyers, net revenue and Σ revenue² per member of each group,
    so the campaigns page tests revenue per member without reading orders. Written nightly."""

    day = models.DateField(_("day"))
    window_days = models.PositiveSmallIntegerField(_("window (days)"))
    percent = models.PositiveSmallIntegerField(_("control group share (%)"))
    control_members = models.PositiveIntegerField(default=0)
    control_buyers = models.PositiveIntegerField(default=0)
    control_revenue_twd = models.BigIntegerField(default=0)
    control_revenue_sumsq = models.DecimalField(max_digits=30, decimal_places=0, default=0)
    rest_members = models.PositiveIntegerField(default=0)
    rest_buyers = models.PositiveIntegerField(default=0)
    rest_revenue_twd = models.BigIntegerField(default=0)
    rest_revenue_sumsq = models.DecimalField(max_digits=30, decimal_places=0, default=0)
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)

    class Meta:
        verbose_name = _("control group figures")
        verbose_name_plural = _("control group figures")
        constraints = [
            models.UniqueConstraint(fields=["day", "window_days"], name="controlgroup_unique_day")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.window_days}d {self.percent}%"


class TrackedLink(models.Model):
    """A link found in a campaign's content (one per URL, per variant and channel): its
    number is what a tracked URL's code carries, so one row serves every delivery (no row
    per delivery and link). Made from the content when the campaign is saved or launched
    (campaigns.services.tracking); the marketer may leave a link untracked and give it tags
    that a click puts on the member."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="links", verbose_name=_("campaign")
    )
    variant = models.CharField(_("variant"), max_length=1, default=VARIANT_DEFAULT)
    channel = models.CharField(_("channel"), max_length=10, choices=MessagingChannel.choices)
    number = models.PositiveSmallIntegerField(_("number"))  # 1.. in the order of the content
    url = models.URLField(_("address"), max_length=2000)
    tracked = models.BooleanField(_("tracked"), default=True)
    tags = models.ManyToManyField(
        "crm.Tag", blank=True, related_name="+", verbose_name=_("tags on click")
    )

    class Meta:
        verbose_name = _("tracked link")
        verbose_name_plural = _("tracked links")
        ordering = ["campaign", "variant", "channel", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "variant", "channel", "number"], name="link_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.channel} {self.variant} #{self.number}"


class LinkClick(models.Model):
    """One request of a tracked link (/r/<code>): every click is a row, flagged when a link
    scanner made it. The client's address is kept only as a keyed hash."""

    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="clicks", verbose_name=_("delivery")
    )
    link = models.ForeignKey(
        TrackedLink,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="clicks",
        verbose_name=_("link"),
    )  # null: a click the ESP tracked (its own link, not ours)
    url = models.URLField(_("address"), max_length=2000, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now)
    user_agent = models.CharField(_("user agent"), max_length=200, blank=True)
    ip_hash = models.CharField(_("address hash"), max_length=64, blank=True)
    machine = models.BooleanField(_("link scanner"), default=False)
    source = models.CharField(_("source"), max_length=40, blank=True)  # "" = our redirect

    class Meta:
        verbose_name = _("link click")
        verbose_name_plural = _("link clicks")
        indexes = [models.Index(fields=["delivery", "at"], name="linkclick_delivery_at")]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.link_id} {self.at:%Y-%m-%d %H:%M}"


class EmailOpen(models.Model):
    """One open of a message: a fetch of an e-mail's pixel, an ESP's open event or the app's
    report of a tapped push. `machine`: fetched by a proxy (Apple Mail Privacy Protection), not
    seen by the member."""

    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="opens", verbose_name=_("delivery")
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    user_agent = models.CharField(_("user agent"), max_length=200, blank=True)
    ip_hash = models.CharField(_("address hash"), max_length=64, blank=True)
    machine = models.BooleanField(_("machine open"), default=False)
    source = models.CharField(_("source"), max_length=40, blank=True)  # "" = our pixel

    class Meta:
        verbose_name = _("open")
        verbose_name_plural = _("opens")
        indexes = [models.Index(fields=["delivery", "at"], name="emailopen_delivery_at")]

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.at:%Y-%m-%d %H:%M}"


class Conversion(models.Model):
    """One order credited to one campaign (campaigns.services.conversions): the member placed it
    within the conversion window of the campaign's delivery (or of their click on it).

    An order within the windows of several campaigns is credited to each of them (one row per
    campaign and order): every campaign is measured against its own held-out members, who got
    the other campaigns too. `amount_twd` is the sale net of its returns. The row follows the
    order: a merge moves it to the surviving member; a cancelled or fully returned order has
    none.
    """

    class Basis(models.TextChoices):
        DELIVERY = "delivery", _("Delivery")
        CLICK = "click", _("Click")

    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.CASCADE,
        related_name="conversions",
        db_index=False,
        verbose_name=_("campaign"),
    )  # (campaign, order) unique serves lookups by campaign
    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="conversions", verbose_name=_("delivery")
    )
    # The order's member now (null once erased); the delivery may be a merged member's.
    member = models.ForeignKey(
        "crm.Member",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
        verbose_name=_("member"),
    )
    order = models.ForeignKey(
        "crm.Order",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
        verbose_name=_("order"),
    )  # orders are never deleted by the product; the index below serves lookups by order
    basis = models.CharField(_("credited by"), max_length=8, choices=Basis.choices)
    arm = models.CharField(_("group"), max_length=16, choices=CampaignFigures.Arm.choices)
    variant = models.CharField(_("variant"), max_length=1, blank=True)
    sales_channel = models.CharField(_("sales channel"), max_length=20)
    store = models.ForeignKey(
        "crm.Store",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
        verbose_name=_("store"),
    )
    placed_at = models.DateTimeField(_("placed at"))
    day = models.DateField(_("day"))  # of placed_at in Asia/Taipei: the daily figures' key
    amount_twd = models.IntegerField(_("amount (NT$)"))
    credited_at = models.DateTimeField(_("credited at"), default=timezone.now)

    class Meta:
        verbose_name = _("conversion")
        verbose_name_plural = _("conversions")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "order"], name="conversion_unique_order")
        ]
        indexes = [models.Index(fields=["order"], name="conversion_order")]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.order_id} {self.amount_twd}"
