"""Reads the campaign pages, the API and the confirm step share."""

from dataclasses import dataclass, field, replace

from django.db.models import Case, CharField, Count, QuerySet, Sum, Value, When
from django.utils import timezone

from campaigns.content import content_fields, content_render
from campaigns.models import (
    Campaign,
    CampaignFigures,
    CampaignFiguresDaily,
    Delivery,
    DeliveryReason,
    Message,
    SendBatch,
)
from campaigns.personalise import PERSONALISATION_FIELDS, personalisation_values, substitute_with
from campaigns.reachability import reachable_q, unreachable_reasons
from crm.models import Segment
from crm.pii import mask_text
from crm.segments.definition import segment_queryset


def message_contents(
    *, campaign_id: int, channel: str | None = None
) -> dict[tuple[str, str], dict]:
    """The content of each of a campaign's messages by (channel, variant): the one read of
    what a campaign says, for the builder, the API and the workers alike."""
    messages = Message.objects.filter(campaign_id=campaign_id)
    if channel is not None:
        messages = messages.filter(channel=channel)
    return {
        (channel_, variant): content
        for channel_, variant, content in messages.values_list("channel", "variant", "content")
    }


def campaigns_list() -> QuerySet[Campaign]:
    return Campaign.objects.select_related("segment", "created_by").order_by("-created_at", "-pk")


@dataclass
class Progress:
    total: int = 0  # deliveries in batches
    finished: int = 0
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    batches: int = 0
    batches_done: int = 0

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, round(100 * self.finished / self.total))

    def _share(self, part: int) -> str:
        """A bar segment's width in percent (a string the template puts in data-width)."""
        return "0" if not self.total else f"{min(100.0, 100 * part / self.total):.1f}"

    @property
    def sent_percent(self) -> str:
        return self._share(self.sent)

    @property
    def failed_percent(self) -> str:
        return self._share(self.failed)

    @property
    def suppressed_percent(self) -> str:
        return self._share(self.suppressed)

    def with_audience(self, audience: int) -> "Progress":
        """The same progress over the whole audience: members suppressed at launch are in no
        batch, and count here as suppressed and finished."""
        outside = max(audience - self.total, 0)
        return replace(
            self,
            total=self.total + outside,
            suppressed=self.suppressed + outside,
            finished=self.finished + outside,
        )


def campaign_progress(*, campaign: Campaign) -> Progress:
    """How far the send is, from its batches (a few thousand rows at most, never deliveries):
    one query, cheap enough to poll every few seconds."""
    totals = SendBatch.objects.filter(campaign=campaign).aggregate(
        total=Sum("size"),
        batches=Count("pk"),
        batches_done=Count(
            "pk",
            filter=~Case(When(finished_at__isnull=True, then=Value(True)), default=Value(False)),
        ),
        sent=Sum("sent"),
        failed=Sum("failed"),
        suppressed=Sum("suppressed"),
    )
    progress = Progress(**{key: value or 0 for key, value in totals.items()})
    progress.finished = progress.sent + progress.failed + progress.suppressed
    return progress


@dataclass
class Counts:
    by_status: dict[str, int] = field(default_factory=dict)
    by_reason: dict[str, dict[str, int]] = field(default_factory=dict)  # status → reason → n
    by_channel: dict[str, dict[str, int]] = field(default_factory=dict)  # channel → status → n

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def campaign_counts(*, campaign: Campaign) -> Counts:
    """Deliveries by status, by reason and by channel: one GROUP BY on the campaign's rows."""
    counts = Counts()
    rows = (
        Delivery.objects.filter(campaign=campaign)
        .values_list("status", "reason", "channel")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for status, reason, channel, n in rows:
        counts.by_status[status] = counts.by_status.get(status, 0) + n
        if reason:
            bucket = counts.by_reason.setdefault(status, {})
            bucket[reason] = bucket.get(reason, 0) + n
        if channel:
            per = counts.by_channel.setdefault(channel, {})
            per[status] = per.get(status, 0) + n
    return counts


def audience_estimate(*, segment: Segment, channels: list[str]) -> dict[str, int]:
    """What a launch would do now: {channel: members it would go to, reason: members it would
    suppress}, in one query over the segment (the confirm step)."""
    whens = [When(reachable_q(channel), then=Value(channel)) for channel in channels] + [
        When(condition, then=Value(str(reason)))
        for reason, condition in unreachable_reasons(channels)
        if reason != DeliveryReason.NO_CHANNEL
    ]
    members = segment_queryset(segment.definition, now=timezone.now())
    rows = (
        members.annotate(
            outcome=Case(
                *whens, default=Value(DeliveryReason.NO_CHANNEL.value), output_field=CharField()
            )
        )
        .values_list("outcome")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return dict(rows)


def campaign_deliveries(
    *, campaign: Campaign, status: str = "", reason: str = "", channel: str = ""
) -> QuerySet[Delivery]:
    rows = Delivery.objects.filter(campaign=campaign).select_related("member")
    if status:
        rows = rows.filter(status=status)
    if reason:
        rows = rows.filter(reason=reason)
    if channel:
        rows = rows.filter(channel=channel)
    return rows.order_by("pk")


def campaigns_progress(*, campaign_ids: list[int]) -> dict[int, Progress]:
    """Progress of several campaigns (the list page): one GROUP BY over their batches."""
    rows = (
        SendBatch.objects.filter(campaign_id__in=campaign_ids)
        .values("campaign_id")
        .annotate(
            total=Sum("size"),
            batches=Count("pk"),
            sent=Sum("sent"),
            failed=Sum("failed"),
            suppressed=Sum("suppressed"),
        )
        .order_by()
    )
    found: dict[int, Progress] = {}
    for row in rows:
        campaign_id = row.pop("campaign_id")
        progress = Progress(**{key: value or 0 for key, value in row.items()})
        progress.finished = progress.sent + progress.failed + progress.suppressed
        found[campaign_id] = progress
    return found


def message_preview(*, channel: str, content: dict, member_id: int | None, unmask: bool) -> dict:
    """The content as one member would get it (the fields it uses filled, one query each), or
    with sample values without a member. A field that is personal data is masked for a viewer
    without crm.unmask_personal_data: the preview never shows them a member's name."""
    names = content_fields(channel=channel, content=content)
    fields = {field.name: field for field in PERSONALISATION_FIELDS.all()}
    if member_id is None:
        values = {name: fields[name].sample for name in names if name in fields}
    else:
        values = personalisation_values(member_ids=[member_id], names=names).get(member_id, {})
        if not unmask:
            values = {
                name: mask_text(value) if fields.get(name) and fields[name].masked else value
                for name, value in values.items()
            }
    return content_render(channel=channel, content=content, substitute=substitute_with(values))


@dataclass
class ReportFigures:
    """What a campaign's report is built on: its kept figures, never its deliveries."""

    arms: list[CampaignFigures]  # one per (arm, variant, channel)
    daily: list[CampaignFiguresDaily]  # by day, then arm and variant


def campaign_report_figures(campaign_id: int) -> ReportFigures:
    """The campaign's CampaignFigures rows and its per-day rows: two reads of a handful of rows
    however large the campaign."""
    return ReportFigures(
        arms=list(
            CampaignFigures.objects.filter(campaign_id=campaign_id).order_by(
                "arm", "variant", "channel"
            )
        ),
        daily=list(
            CampaignFiguresDaily.objects.filter(campaign_id=campaign_id).order_by(
                "day", "arm", "variant"
            )
        ),
    )
