"""The campaign report's shapes: the funnel of each (variant, channel), the arms, the tests.

Built from the kept figures only (CampaignFigures: a handful of rows per campaign), never from
deliveries or orders, so the report costs the same for ten members or ten million.
`campaigns.selectors.campaign_report` reads the rows; this module adds them up, prices them and
asks campaigns.stats for the tests.

Cost: each message sent is charged CAMPAIGN_MESSAGE_PRICE_CENTS of its channel (the figures
keep messages, not SMS segments, so an SMS is charged a per-SMS price). One rule for the page,
the CSV and the list's SQL sort (`cost_cents_expression`), so the three always agree.
ROI = (revenue − cost) / cost, on the revenue credited to the sent group; None without cost.
"""

from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.db.models import Case, F, IntegerField, Q, Sum, Value, When
from django.db.models.expressions import Combinable
from django.utils.translation import gettext

from campaigns.models import VARIANT_DEFAULT, CampaignFigures, DeliveryReason
from campaigns.stats import (
    Comparison,
    Metric,
    holm_adjusted,
    mean_comparison,
    metric_label,
    proportion_comparison,
)
from omnichannel.channels import MessagingChannel

ARMS_HELD_OUT = (
    CampaignFigures.Arm.HOLDOUT,
    CampaignFigures.Arm.STORE_HOLDOUT,
    CampaignFigures.Arm.CONTROL_GROUP,
)


def message_price_cents(channel: str) -> int:
    """What one message sent on `channel` costs, in hundredths of NT$ (0 for no channel)."""
    return int(settings.CAMPAIGN_MESSAGE_PRICE_CENTS.get(channel, 0))


def cost_cents_expression(prefix: str = "") -> Combinable:
    """The cost of the figures rows in SQL (Σ sent × the channel's price), for a queryset of
    CampaignFigures (prefix "") or one that reaches them through a relation ("figures__")."""
    return Sum(
        Case(
            *[
                When(
                    **{f"{prefix}channel": channel},
                    then=F(f"{prefix}sent") * Value(message_price_cents(channel)),
                )
                for channel in MessagingChannel.values
            ],
            default=Value(0),
            output_field=IntegerField(),
        ),
        filter=Q(**{f"{prefix}arm": CampaignFigures.Arm.SENT}),
    )


@dataclass
class Figures:
    """One funnel: a figures row, or the sum of several."""

    variant: str = ""
    channel: str = ""
    members: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)
    opened: int = 0
    opened_machine: int = 0
    clicked: int = 0
    clicks: int = 0
    converted: int = 0
    orders: int = 0
    revenue_online_twd: int = 0
    revenue_store_twd: int = 0
    revenue_sumsq: int = 0
    revenue_store_sumsq: int = 0
    unsubscribed: int = 0
    line_blocked: int = 0
    cost_cents: int = 0

    COUNTED = (
        "members",
        "sent",
        "delivered",
        "failed",
        "opened",
        "opened_machine",
        "clicked",
        "clicks",
        "converted",
        "orders",
        "revenue_online_twd",
        "revenue_store_twd",
        "revenue_sumsq",
        "revenue_store_sumsq",
        "unsubscribed",
        "line_blocked",
        "cost_cents",
    )

    @classmethod
    def from_row(cls, row: CampaignFigures) -> "Figures":
        figures = cls(variant=row.variant, channel=row.channel)
        for name in cls.COUNTED:
            if name != "cost_cents":
                setattr(figures, name, int(getattr(row, name) or 0))
        suppressed = row.suppressed if isinstance(row.suppressed, dict) else {}
        figures.suppressed = {
            str(reason): int(n) for reason, n in suppressed.items() if isinstance(n, int) and n
        }
        figures.cost_cents = figures.sent * message_price_cents(row.channel)
        return figures

    def add(self, other: "Figures") -> "Figures":
        for name in self.COUNTED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, n in other.suppressed.items():
            self.suppressed[reason] = self.suppressed.get(reason, 0) + n
        return self

    @classmethod
    def total(cls, rows: list["Figures"], *, variant: str = "", channel: str = "") -> "Figures":
        result = cls(variant=variant, channel=channel)
        for row in rows:
            result.add(row)
        return result

    @property
    def suppressed_total(self) -> int:
        return sum(self.suppressed.values())

    @property
    def revenue_twd(self) -> int:
        return self.revenue_online_twd + self.revenue_store_twd

    @property
    def cost_twd(self) -> int:
        return -(-self.cost_cents // 100)  # rounded up to whole NT$, as the SMS estimate is

    @property
    def roi(self) -> float | None:
        if self.cost_cents <= 0:
            return None
        return (self.revenue_twd * 100 - self.cost_cents) / self.cost_cents

    def _rate(self, part: int, whole: int) -> float | None:
        return part / whole if whole > 0 else None

    @property
    def delivery_rate(self) -> float | None:
        """Messages the provider took of those we tried to send (sent of sent + failed)."""
        return self._rate(self.sent, self.sent + self.failed)

    @property
    def open_rate(self) -> float | None:
        return self._rate(self.opened, self.sent)

    @property
    def click_rate(self) -> float | None:
        return self._rate(self.clicked, self.sent)

    @property
    def conversion_rate(self) -> float | None:
        return self._rate(self.converted, self.members)

    @property
    def unsubscribe_rate(self) -> float | None:
        """Unsubscribes put down to the messages, of those sent."""
        return self._rate(self.unsubscribed, self.sent)

    @property
    def line_block_rate(self) -> float | None:
        """LINE blocks put down to the messages, of those sent (LINE's rows only have any)."""
        return self._rate(self.line_blocked, self.sent)

    @property
    def revenue_per_member(self) -> float | None:
        return self.revenue_twd / self.members if self.members > 0 else None


@dataclass
class DailyPoint:
    day: date
    arm: str
    variant: str
    orders: int
    revenue_twd: int


@dataclass
class CampaignReport:
    campaign_id: int
    variant: str  # the variant shown; "" = all
    variants: list[str]  # the variants the sent group has
    rows: list[Figures]  # the sent group per (variant, channel)
    arms: dict[str, Figures]  # held-out arms (holdout, store_holdout, control_group)
    daily: list[DailyPoint]
    variant_tests: dict[str, list[Comparison]] = field(default_factory=dict)
    lift: list[Comparison] = field(default_factory=list)  # sent vs holdout / control group
    store_lift: list[Comparison] = field(default_factory=list)  # sent vs store holdout

    @property
    def is_empty(self) -> bool:
        return not self.rows and not self.arms

    @property
    def shown_rows(self) -> list[Figures]:
        if not self.variant:
            return self.rows
        return [row for row in self.rows if row.variant == self.variant]

    @property
    def by_channel(self) -> list[Figures]:
        """The shown variant's (or all variants') funnel per channel."""
        channels = sorted({row.channel for row in self.shown_rows}, key=_channel_order)
        return [
            Figures.total(
                [row for row in self.shown_rows if row.channel == channel], channel=channel
            )
            for channel in channels
        ]

    @property
    def by_variant(self) -> list[Figures]:
        return [
            Figures.total([row for row in self.rows if row.variant == variant], variant=variant)
            for variant in self.variants
        ]

    @property
    def total(self) -> Figures:
        return Figures.total(self.shown_rows, variant=self.variant)

    @property
    def sent_group(self) -> Figures:
        """The whole sent group, every variant: the side of the holdout comparisons."""
        return Figures.total(self.rows)

    @property
    def held_out(self) -> int:
        return sum(arm.members for arm in self.arms.values())

    @property
    def all_lift(self) -> list[Comparison]:
        return self.lift + self.store_lift

    @property
    def has_variant_test(self) -> bool:
        return len(self.variants) > 1


def _channel_order(channel: str) -> int:
    values = MessagingChannel.values
    return values.index(channel) if channel in values else len(values)


def variant_label(variant: str) -> str:
    return gettext("Variant %(variant)s") % {"variant": variant}


def _variant_tests(by_variant: list[Figures]) -> dict[str, list[Comparison]]:
    """Every variant against the first (A): click rate, conversion rate, revenue per member;
    Holm-corrected per metric when more than two variants are tested."""
    if len(by_variant) < 2:
        return {}
    reference, others = by_variant[0], by_variant[1:]
    label_a = variant_label(reference.variant)
    tests: dict[str, list[Comparison]] = {}
    for metric, count in ((Metric.CLICK_RATE, "clicked"), (Metric.CONVERSION_RATE, "converted")):
        tests[metric] = holm_adjusted(
            [
                proportion_comparison(
                    metric=metric,
                    label_a=label_a,
                    x_a=getattr(reference, count),
                    n_a=reference.members,
                    label_b=variant_label(other.variant),
                    x_b=getattr(other, count),
                    n_b=other.members,
                )
                for other in others
            ]
        )
    tests[Metric.REVENUE] = holm_adjusted(
        [
            mean_comparison(
                metric=Metric.REVENUE,
                label_a=label_a,
                n_a=reference.members,
                sum_a=reference.revenue_twd,
                sumsq_a=reference.revenue_sumsq,
                label_b=variant_label(other.variant),
                n_b=other.members,
                sum_b=other.revenue_twd,
                sumsq_b=other.revenue_sumsq,
            )
            for other in others
        ]
    )
    return tests


def _lift(sent: Figures, control: Figures, control_label: str) -> list[Comparison]:
    """The sent group against a held-out arm (intent-to-treat): conversion rate and revenue per
    member, absolute and relative."""
    sent_label = gettext("The sent group")
    return [
        proportion_comparison(
            metric=Metric.CONVERSION_RATE,
            label_a=control_label,
            x_a=control.converted,
            n_a=control.members,
            label_b=sent_label,
            x_b=sent.converted,
            n_b=sent.members,
        ),
        mean_comparison(
            metric=Metric.REVENUE,
            label_a=control_label,
            n_a=control.members,
            sum_a=control.revenue_twd,
            sumsq_a=control.revenue_sumsq,
            label_b=sent_label,
            n_b=sent.members,
            sum_b=sent.revenue_twd,
            sumsq_b=sent.revenue_sumsq,
        ),
    ]


def _store_lift(sent: Figures, store_holdout: Figures) -> list[Comparison]:
    return [
        mean_comparison(
            metric=Metric.STORE_REVENUE,
            label_a=gettext("the held-out stores"),
            n_a=store_holdout.members,
            sum_a=store_holdout.revenue_store_twd,
            sumsq_a=store_holdout.revenue_store_sumsq,
            label_b=gettext("The sent group"),
            n_b=sent.members,
            sum_b=sent.revenue_store_twd,
            sumsq_b=sent.revenue_store_sumsq,
        )
    ]


def report_build(
    *,
    campaign_id: int,
    rows: list[CampaignFigures],
    daily: list[DailyPoint],
    variant: str = "",
) -> CampaignReport:
    """The report from a campaign's figures rows (any order); `variant` picks the funnel shown
    ("" or an unknown variant: all)."""
    sent_rows: list[Figures] = []
    arms: dict[str, Figures] = {}
    for row in rows:
        figures = Figures.from_row(row)
        if row.arm == CampaignFigures.Arm.SENT:
            figures.variant = figures.variant or VARIANT_DEFAULT
            sent_rows.append(figures)
        elif row.arm in ARMS_HELD_OUT:
            arms.setdefault(row.arm, Figures()).add(figures)
    sent_rows.sort(key=lambda f: (f.variant, _channel_order(f.channel)))
    variants = sorted({row.variant for row in sent_rows})
    report = CampaignReport(
        campaign_id=campaign_id,
        variant=variant if variant in variants and len(variants) > 1 else "",
        variants=variants,
        rows=sent_rows,
        arms=arms,
        daily=daily,
    )
    report.variant_tests = _variant_tests(report.by_variant)
    sent = report.sent_group
    if CampaignFigures.Arm.HOLDOUT in arms:
        report.lift += _lift(sent, arms[CampaignFigures.Arm.HOLDOUT], gettext("the holdout"))
    if CampaignFigures.Arm.CONTROL_GROUP in arms:
        report.lift += _lift(
            sent, arms[CampaignFigures.Arm.CONTROL_GROUP], gettext("the global control group")
        )
    if CampaignFigures.Arm.STORE_HOLDOUT in arms:
        report.store_lift = _store_lift(sent, arms[CampaignFigures.Arm.STORE_HOLDOUT])
    return report


# --- The funnel as lines of a table (the page and the CSV read the same lines) ----------------


@dataclass(frozen=True)
class FunnelLine:
    key: str
    label: str
    kind: str  # "count", "twd", "rate", "roi"
    values: list
    indent: bool = False


def _funnel_steps() -> list[tuple[str, str, str, bool]]:
    return [
        ("members", gettext("Members meant to be sent"), "count", False),
        ("suppressed_total", gettext("Suppressed"), "count", False),
        ("sent", gettext("Sent"), "count", False),
        ("failed", gettext("Failed"), "count", True),
        ("delivered", gettext("Delivered"), "count", False),
        ("opened", gettext("Opened"), "count", False),
        ("open_rate", gettext("Open rate (of sent)"), "rate", True),
        ("opened_machine", gettext("Machine opens (not counted as opened)"), "count", True),
        ("clicked", gettext("Clicked (members)"), "count", False),
        ("click_rate", gettext("Click rate (of sent)"), "rate", True),
        ("converted", gettext("Converted (members)"), "count", False),
        ("conversion_rate", gettext("Conversion rate (of members)"), "rate", True),
        ("orders", gettext("Orders"), "count", True),
        ("revenue_online_twd", gettext("Revenue online"), "twd", False),
        ("revenue_store_twd", gettext("Revenue in store"), "twd", False),
        ("revenue_twd", gettext("Revenue"), "twd", False),
        ("cost_twd", gettext("Cost"), "twd", False),
        ("roi", gettext("ROI"), "roi", False),
        ("unsubscribed", gettext("Unsubscribes"), "count", False),
        ("line_blocked", gettext("LINE blocks caused"), "count", False),
    ]


def funnel_lines(columns: list[Figures]) -> list[FunnelLine]:
    """The funnel's steps, one value per column; the suppressed by reason right under
    "Suppressed" (only reasons some column has)."""
    reasons = sorted({reason for column in columns for reason in column.suppressed})
    lines = []
    for key, label, kind, indent in _funnel_steps():
        lines.append(FunnelLine(key, label, kind, [getattr(c, key) for c in columns], indent))
        if key == "suppressed_total":
            for reason in reasons:
                name = DeliveryReason(reason).label if reason in DeliveryReason.values else reason
                lines.append(
                    FunnelLine(
                        f"suppressed:{reason}",
                        str(name),
                        "count",
                        [c.suppressed.get(reason, 0) for c in columns],
                        True,
                    )
                )
    return lines


def report_csv_rows(report: CampaignReport) -> tuple[list[str], list[list]]:
    """The CSV of the report: the figures of each (variant, channel), each variant, the sent
    group and each held-out arm; then, under their own header, the tests. Counts and NT$ only:
    nothing about any one member."""
    reasons = sorted(
        {reason for row in report.rows for reason in row.suppressed}
        | {reason for arm in report.arms.values() for reason in arm.suppressed}
    )
    steps = [step for step in _funnel_steps() if step[0] != "suppressed_total"]
    headers = [gettext("Group"), gettext("Variant"), gettext("Channel")]
    headers += [gettext("Suppressed")]
    headers += [
        gettext("Suppressed: %(reason)s")
        % {"reason": DeliveryReason(r).label if r in DeliveryReason.values else r}
        for r in reasons
    ]
    headers += [label for _, label, _, _ in steps]
    all_label = gettext("All")

    def line(group: str, figures: Figures, variant: str, channel: str) -> list:
        values = [group, variant, channel, figures.suppressed_total]
        values += [figures.suppressed.get(reason, 0) for reason in reasons]
        for key, _, kind, _ in steps:
            value = getattr(figures, key)
            if kind in ("rate", "roi") and value is not None:
                value = round(value, 4)
            values.append(value)
        return values

    sent_label = str(CampaignFigures.Arm.SENT.label)
    rows = [line(sent_label, row, row.variant, row.channel) for row in report.rows]
    if report.has_variant_test:
        rows += [line(sent_label, f, f.variant, all_label) for f in report.by_variant]
    rows.append(line(sent_label, report.sent_group, all_label, all_label))
    for arm, figures in report.arms.items():
        rows.append(line(str(CampaignFigures.Arm(arm).label), figures, "", ""))

    comparisons = [c for tests in report.variant_tests.values() for c in tests]
    comparisons += report.lift + report.store_lift
    if comparisons:
        rows.append([])
        rows.append(
            [
                gettext("Test"),
                gettext("Group A"),
                gettext("Group B"),
                gettext("Members A"),
                gettext("Members B"),
                gettext("Value A"),
                gettext("Value B"),
                gettext("Difference (B − A)"),
                gettext("95 % CI low"),
                gettext("95 % CI high"),
                gettext("Relative lift"),
                gettext("p-value"),
                gettext("p-value (Holm)"),
                gettext("Significant at 95 %"),
                gettext("In words"),
            ]
        )
        for c in comparisons:
            rows.append(
                [
                    metric_label(c.metric),
                    c.label_a,
                    c.label_b,
                    c.n_a,
                    c.n_b,
                    _rounded(c.value_a),
                    _rounded(c.value_b),
                    _rounded(c.diff),
                    _rounded(c.ci_low),
                    _rounded(c.ci_high),
                    _rounded(c.relative),
                    _rounded(c.p_value),
                    _rounded(c.p_adjusted) if c.comparisons > 1 else None,
                    c.significant if c.enough else None,
                    c.sentence(),
                ]
            )
    return headers, rows


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
