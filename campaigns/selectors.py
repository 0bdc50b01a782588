"""Reads the campaign pages, the API and the confirm step share."""

from dataclasses import dataclass, field, replace

from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    FloatField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Cast, NullIf, RowNumber
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
    TrackedLink,
)
from campaigns.personalise import PERSONALISATION_FIELDS, personalisation_values, substitute_with
from campaigns.reachability import reachable_q, unreachable_reasons
from campaigns.report import CampaignReport, DailyPoint, cost_cents_expression, report_build
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
    held_out: int = 0  # never sent by design (holdouts, control group): done from the launch
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

    @property
    def held_out_percent(self) -> str:
        return self._share(self.held_out)

    def with_audience(self, audience: int, *, held_out: int = 0) -> "Progress":
        """The same progress over the whole audience: members suppressed at launch are in no
        batch, and count here as suppressed and finished; `held_out` members (in no batch
        either) count as held out and finished."""
        outside = max(audience - self.total - held_out, 0)
        return replace(
            self,
            total=self.total + outside + held_out,
            suppressed=self.suppressed + outside,
            held_out=held_out,
            finished=self.finished + outside + held_out,
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


def campaign_held_out_count(*, campaign_id: int) -> int:
    """Members held out of the campaign, from its kept figures (a handful of rows)."""
    return (
        CampaignFigures.objects.filter(campaign_id=campaign_id)
        .exclude(arm=CampaignFigures.Arm.SENT)
        .aggregate(n=Sum("members"))["n"]
        or 0
    )


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


def campaign_tracked_links(*, campaign_id: int):
    """The campaign's links for the builder's links panel, with their tags (two queries)."""
    return (
        TrackedLink.objects.filter(campaign_id=campaign_id)
        .prefetch_related("tags")
        .order_by("channel", "variant", "number")
    )


# --- The report (campaigns/report.py shapes it; campaigns/stats.py tests it) --------------------

# The list's sort keys: the query parameter `sort` (with "-" for descending) → the annotation.
LIST_SORTS = ("sent", "open_rate", "click_rate", "conversions", "revenue", "roi")


def campaign_report(*, campaign_id: int, variant: str = "") -> CampaignReport:
    """A campaign's report from its kept figures: two queries (the figures rows, the days)."""
    rows = list(CampaignFigures.objects.filter(campaign_id=campaign_id))
    daily = [
        DailyPoint(day=day, arm=arm, variant=variant_, orders=orders, revenue_twd=revenue)
        for day, arm, variant_, orders, revenue in CampaignFiguresDaily.objects.filter(
            campaign_id=campaign_id
        )
        .order_by("day", "arm", "variant")
        .values_list("day", "arm", "variant", "orders", "revenue_twd")
    ]
    return report_build(campaign_id=campaign_id, rows=rows, daily=daily, variant=variant)


def campaigns_with_figures(*, sort: str = "") -> QuerySet[Campaign]:
    """campaigns_list() with the sent group's figures summed per campaign (one aggregate join in
    the page's query) and sorted by `sort` (LIST_SORTS, "-" first for descending; anything else:
    newest first). Campaigns without figures sort last either way."""
    sent = Q(figures__arm=CampaignFigures.Arm.SENT)
    campaigns = campaigns_list().annotate(
        f_sent=Sum("figures__sent", filter=sent),
        f_opened=Sum("figures__opened", filter=sent),
        f_clicked=Sum("figures__clicked", filter=sent),
        f_converted=Sum("figures__converted", filter=sent),
        f_held_out=Sum("figures__members", filter=~sent),
        f_revenue=Sum(
            F("figures__revenue_online_twd") + F("figures__revenue_store_twd"), filter=sent
        ),
        f_cost_cents=cost_cents_expression("figures__"),
    )
    campaigns = campaigns.annotate(
        f_open_rate=Cast("f_opened", FloatField()) / NullIf("f_sent", 0),
        f_click_rate=Cast("f_clicked", FloatField()) / NullIf("f_sent", 0),
        f_roi=Cast(F("f_revenue") * 100 - F("f_cost_cents"), FloatField())
        / NullIf("f_cost_cents", 0),
    )
    key = sort.removeprefix("-")
    if key not in LIST_SORTS:
        return campaigns
    column = {
        "sent": "f_sent",
        "open_rate": "f_open_rate",
        "click_rate": "f_click_rate",
        "conversions": "f_converted",
        "revenue": "f_revenue",
        "roi": "f_roi",
    }[key]
    order = (
        F(column).desc(nulls_last=True) if sort.startswith("-") else F(column).asc(nulls_last=True)
    )
    return campaigns.order_by(order, "-created_at", "-pk")


# How many runs of each automated message the campaigns list shows under it (newest first).
AUTOMATED_RECENT_RUNS = 5


@dataclass
class AutomatedMessage:
    """An automated message's template with its runs' figures (the campaigns list's section)."""

    template: Campaign
    runs: list[Campaign]  # the newest AUTOMATED_RECENT_RUNS, with their figures (f_*)


def automated_messages() -> list[AutomatedMessage]:
    """Every automated message (a handful: one per trigger) with its runs' totals (run_count,
    r_members, r_sent, r_converted) and its newest runs with their figures: three queries."""
    sent = Q(runs__figures__arm=CampaignFigures.Arm.SENT)
    templates = list(
        Campaign.objects.exclude(trigger="")
        .select_related("segment")
        .annotate(
            run_count=Count("runs", distinct=True),
            r_sent=Sum("runs__figures__sent", filter=sent),
            r_converted=Sum("runs__figures__converted", filter=sent),
        )
        .order_by("name", "pk")
    )
    if not templates:
        return []
    recent = (
        Campaign.objects.filter(template__in=[t.pk for t in templates])
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=F("template_id"),
                order_by=[F("created_at").desc(), F("pk").desc()],
            )
        )
        .filter(rank__lte=AUTOMATED_RECENT_RUNS)
        .values_list("pk", flat=True)
    )
    runs: dict[int, list[Campaign]] = {t.pk: [] for t in templates}
    for run in campaigns_with_figures().filter(pk__in=list(recent)):
        runs[run.template_id].append(run)
    return [AutomatedMessage(template=t, runs=runs[t.pk]) for t in templates]
