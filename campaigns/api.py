"""campaigns' operations on the project's API (/api/v1/): create, launch and follow a campaign.

Each operation maps its schema to one campaigns service call and its errors to 4xx (the API
object, keys, scopes, idempotency and error shapes are omnichannel/api/core.py's). Every one
needs the `campaigns` scope (reading a campaign: `campaigns` or `read`), so an ingest key
cannot launch a campaign. Answers carry counts and statuses, never a member's personal data.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field, StrictBool

from campaigns.models import VARIANTS, Campaign
from campaigns.selectors import Counts, Progress, campaign_counts, campaign_progress
from campaigns.services import (
    CampaignInvalid,
    CampaignStateError,
    campaign_launch,
    campaign_save,
)
from crm.api.schemas import ErrorOut, JsonObject, Moment, text_field
from crm.models import Segment
from omnichannel.api.auth import ApiKeyAuth
from omnichannel.api.core import IdempotencyKeyParam, api_error, field_error, idempotent
from omnichannel.api.scopes import Scope
from omnichannel.channels import MessagingChannel

router = Router(tags=["campaigns"])

CAMPAIGNS = ApiKeyAuth(Scope.CAMPAIGNS)
CAMPAIGNS_READ = ApiKeyAuth(Scope.CAMPAIGNS, Scope.READ)
NAME_MAX = Campaign._meta.get_field("name").max_length

ERROR_SEGMENT_UNKNOWN = _("No segment has the id %(id)s.")
ERROR_CAMPAIGN_UNKNOWN = _("No campaign has the id %(id)s.")

ERRORS = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    413: ErrorOut,
    422: ErrorOut,
    429: ErrorOut,
}


class CampaignNotFound(Exception):
    pass


# --- Bodies ------------------------------------------------------------------------------------


class CampaignIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: text_field(NAME_MAX) = Field(description="Shown to marketers, never to members.")
    segment_id: int = Field(ge=1, le=2**63 - 1, description="The audience (GET /segments).")
    channels: list[MessagingChannel] = Field(
        description="In fallback order: each member gets the first channel they are reachable "
        "on (an address, consent, no block).",
        examples=[["line", "email"]],
    )
    content: dict[MessagingChannel, JsonObject] = Field(
        description="Per channel: line {messages}, email {subject, text, html}, sms {text}, "
        "push {title, body, url}; texts may use {{name}} and {{member_no}}.",
        examples=[{"line": {"messages": [{"type": "text", "text": "{{name}}，週年慶開跑！"}]}}],
    )
    send_at: Moment | None = Field(
        None, description="When to send, with an offset; none: when it is launched."
    )
    is_marketing: StrictBool = Field(
        True, description="false for a service message (no frequency cap, not counted in it)."
    )
    variants: dict[Literal["B", "C", "D"], dict[MessagingChannel, JsonObject]] = Field(
        default_factory=dict,
        description="A/B/n: the content of variants B–D per channel, shaped as `content` (which "
        "is variant A's); a channel a variant leaves out says what A says.",
        examples=[{"B": {"line": {"messages": [{"type": "text", "text": "全館八折"}]}}}],
    )
    variant_split: dict[Literal["A", "B", "C", "D"], int] = Field(
        default_factory=dict,
        description="Percent of the sent audience per variant, each at least 1, summing to 100; "
        "empty: everyone gets A.",
        examples=[{"A": 50, "B": 50}],
    )
    holdout_percent: int = Field(
        0,
        description="0–50: a random share of the audience (deterministic from campaign and "
        "member) held out and never sent, to measure the lift.",
    )
    holdout_store_ids: list[int] = Field(
        default_factory=list,
        description="Home stores whose members are all held out (store-level holdout).",
    )
    winner_metric: Literal["", "clicks", "conversions", "revenue"] = Field(
        "",
        description="Winner mode: the variants go to winner_test_percent of the sent "
        "audience; after winner_after_hours the best on this metric goes to the rest.",
    )
    winner_test_percent: int = Field(20, description="1–90.")
    winner_after_hours: int = Field(4, description="1–168.")
    conversion_window_delivery_days: int = Field(
        3, description="1–60: an order this many days after a delivery is credited."
    )
    conversion_window_click_days: int = Field(
        7, description="1–60: an order this many days after a click is credited."
    )
    utm_campaign: str = Field(
        "", max_length=100, description="utm_campaign of tracked links; empty: the campaign id."
    )


class ProgressOut(Schema):
    total: int = Field(description="Deliveries in send batches.")
    finished: int
    sent: int
    failed: int
    suppressed: int
    percent: int


class CountsOut(Schema):
    total: int
    by_status: dict[str, int] = Field(description="pending, sending, sent, failed, suppressed.")
    by_reason: dict[str, dict[str, int]] = Field(
        description="status → reason → deliveries (why suppressed or failed)."
    )
    by_channel: dict[str, dict[str, int]] = Field(description="channel → status → deliveries.")


class CampaignOut(Schema):
    id: int
    name: str
    status: Campaign.Status
    segment_id: int | None
    channels: list[str]
    is_marketing: bool
    send_at: datetime | None
    launched_at: datetime | None
    finished_at: datetime | None
    variant_split: dict[str, int]
    holdout_percent: int
    winner_metric: str
    winner_variant: str
    winner_chosen_at: datetime | None
    progress: ProgressOut
    counts: CountsOut


def _campaign_out(campaign: Campaign, *, counted: bool = True) -> dict:
    """The campaign's answer (two queries); a campaign just made has nothing to count."""
    progress = campaign_progress(campaign=campaign) if counted else Progress()
    counts = campaign_counts(campaign=campaign) if counted else Counts()
    out = CampaignOut(
        id=campaign.pk,
        name=campaign.name,
        status=campaign.status,
        segment_id=campaign.segment_id,
        channels=list(campaign.channels or []),
        is_marketing=campaign.is_marketing,
        send_at=campaign.send_at,
        launched_at=campaign.launched_at,
        finished_at=campaign.finished_at,
        variant_split=campaign.variant_split or {"A": 100},
        holdout_percent=campaign.holdout_percent,
        winner_metric=campaign.winner_metric,
        winner_variant=campaign.winner_variant,
        winner_chosen_at=campaign.winner_chosen_at,
        progress=ProgressOut(
            total=progress.total,
            finished=progress.finished,
            sent=progress.sent,
            failed=progress.failed,
            suppressed=progress.suppressed,
            percent=progress.percent,
        ),
        counts=CountsOut(
            total=counts.total,
            by_status=counts.by_status,
            by_reason=counts.by_reason,
            by_channel=counts.by_channel,
        ),
    )
    return out.model_dump(mode="json")


def _campaign(campaign_id: int) -> Campaign:
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise CampaignNotFound(str(ERROR_CAMPAIGN_UNKNOWN % {"id": campaign_id}))
    return campaign


# --- Operations --------------------------------------------------------------------------------


@router.post(
    "/campaigns",
    response={201: CampaignOut, **ERRORS},
    summary="Create a campaign",
    description="A draft with its audience, channels and content, checked as a launch would "
    "check it: 422 names each field that a provider would refuse. Launch it next.",
    auth=CAMPAIGNS,
)
def campaigns_create(
    request: HttpRequest, payload: CampaignIn, idempotency_key: str | None = IdempotencyKeyParam
):
    def write() -> tuple[int, dict]:
        segment = Segment.objects.filter(pk=payload.segment_id).first()
        if segment is None:
            raise CampaignInvalid(
                {"segment_id": [str(ERROR_SEGMENT_UNKNOWN % {"id": payload.segment_id})]}
            )
        campaign = campaign_save(
            name=payload.name,
            segment=segment,
            channels=[channel.value for channel in payload.channels],
            contents={channel.value: content for channel, content in payload.content.items()},
            send_at=payload.send_at,
            is_marketing=payload.is_marketing,
            variant_split=dict(payload.variant_split),
            variant_contents={
                variant: {channel.value: content for channel, content in by_channel.items()}
                for variant, by_channel in payload.variants.items()
            },
            holdout_percent=payload.holdout_percent,
            holdout_store_ids=payload.holdout_store_ids,
            winner_metric=payload.winner_metric,
            winner_test_percent=payload.winner_test_percent,
            winner_after_hours=payload.winner_after_hours,
            conversion_windows=(
                payload.conversion_window_delivery_days,
                payload.conversion_window_click_days,
            ),
            utm_campaign=payload.utm_campaign,
        )
        return 201, _campaign_out(campaign, counted=False)

    return idempotent(request, idempotency_key, write)


@router.post(
    "/campaigns/{campaign_id}/launch",
    response={200: CampaignOut, 404: ErrorOut, 409: ErrorOut, **ERRORS},
    summary="Launch a campaign",
    description="Send now, or at its send_at when that is later (status scheduled). 409 when "
    "it was launched already; 422 when its content would be refused.",
    auth=CAMPAIGNS,
)
def campaigns_launch(
    request: HttpRequest,
    campaign_id: Annotated[int, Field(ge=1, le=2**63 - 1)],
    idempotency_key: str | None = IdempotencyKeyParam,
):
    def write() -> tuple[int, dict]:
        campaign = campaign_launch(campaign=_campaign(campaign_id), api_key=request.auth)
        return 200, _campaign_out(campaign)

    return idempotent(request, idempotency_key, write)


@router.get(
    "/campaigns/{campaign_id}",
    response={200: CampaignOut, 404: ErrorOut, **ERRORS},
    summary="A campaign's status and counts",
    description="Its status, its progress (from its send batches) and its deliveries counted "
    "by status, by reason and by channel. Cheap enough to poll.",
    auth=CAMPAIGNS_READ,
)
def campaigns_get(request: HttpRequest, campaign_id: Annotated[int, Field(ge=1, le=2**63 - 1)]):
    return Status(200, _campaign_out(_campaign(campaign_id)))


# --- campaigns' errors --------------------------------------------------------------------------


def _field_loc(field: str) -> list[Any]:
    """campaign_validate's field names as body locations: "segment" is the body's segment_id,
    "content.sms.text" is ["body", "content", "sms", "text"]."""
    if field == "segment":
        return ["body", "segment_id"]
    if field == "holdout_stores":
        return ["body", "holdout_store_ids"]
    parts = field.split(".")
    if parts[0] == "content" and len(parts) > 1 and parts[1] in VARIANTS:
        return ["body", "variants", *parts[1:]]  # content.B.sms.text: variant B's
    return ["body", *parts]


api_error(
    CampaignInvalid,
    422,
    lambda exc: [
        field_error(_field_loc(field), message, "value_error")
        for field, messages in exc.errors.items()
        for message in messages
    ],
)
api_error(CampaignStateError, 409, str)
api_error(CampaignNotFound, 404, str)
