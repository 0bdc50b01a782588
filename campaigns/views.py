"""The marketer's campaign pages: the list, the builder, the confirm step, the campaign page.

Thin function views over campaigns.services (saving, launching, pausing, test sends) and
campaigns.selectors (progress, counts, estimates, previews). The builder is one form: without
JavaScript "Save" posts it whole and the page comes back with every error beside its field;
with htmx each change posts the same form to `campaign_check`, which answers with the live
panel (SMS segments and cost, the per-member preview) and the content errors swapped in beside
the fields, and a new segment asks `campaign_audience` for its live count and members.
LINE's messages are added, removed and moved by buttons named `line_action`: without
JavaScript they post the whole form and the page comes back changed (nothing saved); with htmx
they post it to `campaign_line`, which answers with the LINE messages alone.
"""

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from campaigns.charts import report_chart
from campaigns.content import content_validate
from campaigns.content.line import flex_summary
from campaigns.estimates import line_quota_left, sms_estimate
from campaigns.forms import (
    CONTENT_FIELDS,
    ERROR_STORE_SHARE,
    EXTRA_VARIANTS,
    CampaignForm,
    initial_from_campaign,
    line_action_variant,
    line_data_after,
    variant_data_after,
)
from campaigns.models import Campaign, Delivery, DeliveryReason
from campaigns.personalise import PERSONALISATION_FIELDS
from campaigns.report import funnel_lines, report_csv_rows
from campaigns.selectors import (
    LIST_SORTS,
    Progress,
    audience_estimate,
    automated_messages,
    campaign_counts,
    campaign_deliveries,
    campaign_held_out_count,
    campaign_progress,
    campaign_report,
    campaigns_progress,
    campaigns_with_figures,
    message_preview,
)
from campaigns.selectors_insight import control_group_card, line_insight_summary
from campaigns.services import (
    CampaignInvalid,
    CampaignStateError,
    campaign_cancel,
    campaign_contents,
    campaign_launch,
    campaign_pause,
    campaign_resume,
    campaign_save,
    campaign_split_estimate,
    campaign_split_validate,
    campaign_test_send,
    campaign_validate,
    campaign_variant_contents,
    holdout_stores_draw,
)
from campaigns.services.line_insight import line_insight_refresh_request
from campaigns.stats import metric_label
from crm.models import Member, Segment
from crm.segments import SegmentDefinitionError, segment_count
from crm.selectors import segment_preview_members
from omnichannel.channels import MessagingChannel
from omnichannel.exports import csv_chunks
from omnichannel.htmx import htmx_partial, redirect_htmx, wants_partial
from omnichannel.http import HtmxHttpRequest
from omnichannel.permissions import permission_required
from omnichannel.templatetags.ui import taipei

LIST_TEMPLATE = "campaigns/campaign_list.html"
BUILDER_TEMPLATE = "campaigns/campaign_builder.html"
DETAIL_TEMPLATE = "campaigns/campaign_detail.html"
CONFIRM_TEMPLATE = "campaigns/campaign_confirm.html"

VIEW = "campaigns.view_campaign"
ADD = "campaigns.add_campaign"
CHANGE = "campaigns.change_campaign"
LAUNCH = "campaigns.launch_campaign"
UNMASK = "crm.unmask_personal_data"

LIST_PAGE_SIZE = 25
DELIVERY_PAGE_SIZE = 50
PREVIEW_MEMBERS = 10
POLL_SECONDS = 3
# The content fields that take personalisation fields ({{name}}, …): the builder offers them.
INSERTABLE = {
    "line_text",
    "email_subject",
    "email_text",
    "email_html",
    "sms_text",
    "push_title",
    "push_body",
}
INSERTABLE |= {f"{variant}_{name}" for variant in EXTRA_VARIANTS for name in INSERTABLE}

SAVED = gettext_lazy("Draft “%(name)s” saved. Check it and launch it here.")
FIX_ERRORS = gettext_lazy("Fix the fields marked in red, then save again.")
LAUNCHED = gettext_lazy("“%(name)s” is being sent.")
SCHEDULED = gettext_lazy("“%(name)s” will be sent at %(send_at)s.")
PAUSED = gettext_lazy("“%(name)s” paused: nothing more is sent until you resume it.")
RESUMED = gettext_lazy("“%(name)s” resumed.")
CANCELLED = gettext_lazy("“%(name)s” cancelled: nothing more will be sent.")
NOT_LAUNCHABLE = gettext_lazy("The campaign cannot be launched yet:")
TEST_SENT = gettext_lazy("Test sent to %(address)s.")
TEST_FAILED = gettext_lazy("The test was not sent: %(error)s")
BROKEN_PAGE_LINK = gettext_lazy("That page link no longer works: here is the first page.")
LINE_INSIGHT_ASKED = gettext_lazy(
    "Asking LINE for the latest opens and clicks: reload the page in a minute to see them."
)


def _campaign_or_404(pk: int) -> Campaign:
    return get_object_or_404(Campaign.objects.select_related("segment", "created_by"), pk=pk)


def _can_unmask(request: HtmxHttpRequest) -> bool:
    return request.user.has_perm(UNMASK)


# --- The list ----------------------------------------------------------------------------------


@dataclass
class CampaignRow:
    campaign: Campaign
    progress: Progress | None


@require_GET
@vary_on_headers("HX-Request")
@permission_required(VIEW, raise_exception=True)
def campaign_list(request: HtmxHttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in Campaign.Status.values:
        status = ""
    sort = request.GET.get("sort", "")
    if sort.removeprefix("-") not in LIST_SORTS:
        sort = ""  # an unknown sort: the newest first, never an error
    # Automated messages and their runs have their own section (automated_messages below).
    campaigns = campaigns_with_figures(sort=sort).filter(trigger="", template__isnull=True)
    if status:
        campaigns = campaigns.filter(status=status)
    page = Paginator(campaigns, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    progress = campaigns_progress(campaign_ids=[campaign.pk for campaign in page])
    rows = [
        CampaignRow(
            campaign=campaign,
            progress=progress[campaign.pk].with_audience(
                campaign.audience_count, held_out=campaign.f_held_out or 0
            )
            if campaign.pk in progress
            else None,
        )
        for campaign in page
    ]
    context = {
        "page": page,
        "rows": rows,
        "status": status,
        "statuses": Campaign.Status.choices,
        "status_query": urlencode({"status": status}) if status else "",
        "sort": sort,
        "sort_query": urlencode({"sort": sort}) if sort else "",
        "sort_columns": _sort_columns(sort),
        "can_add": request.user.has_perm(ADD),
    }
    if not request.htmx:
        context["control_group"] = control_group_card()
        context["automated"] = automated_messages()
    return render(request, htmx_partial(request, LIST_TEMPLATE, "campaign-table"), context)


@dataclass(frozen=True)
class SortColumn:
    key: str
    label: str
    direction: str  # "asc" / "desc" when the list is sorted by it, else ""
    next_sort: str  # the sort its header's link asks for


def _sort_columns(sort: str) -> dict[str, SortColumn]:
    """The figures' column headers: a first click sorts descending (the best first), a second
    ascending."""
    labels = {
        "sent": _("Sent"),
        "open_rate": _("Open rate"),
        "click_rate": _("Click rate"),
        "conversions": _("Conversions"),
        "revenue": _("Revenue"),
        "roi": _("ROI"),
    }
    columns = {}
    for key in LIST_SORTS:
        direction = "desc" if sort == f"-{key}" else "asc" if sort == key else ""
        columns[key] = SortColumn(
            key, labels[key], direction, key if direction == "desc" else f"-{key}"
        )
    return columns


# --- The builder -------------------------------------------------------------------------------


def _preview_members(segment: Segment | None) -> list[Member]:
    if segment is None:
        return []
    try:
        return segment_preview_members(definition=segment.definition, size=PREVIEW_MEMBERS)
    except SegmentDefinitionError:
        return []


def _audience_count(segment: Segment | None) -> int | None:
    if segment is None:
        return None
    try:
        return segment_count(segment.definition)
    except SegmentDefinitionError:
        return None


@dataclass
class ChannelPreview:
    channel: str
    label: str
    content: dict
    errors: list[str]


def _previews(
    request: HtmxHttpRequest, contents: dict[str, dict], member_id: int | None
) -> list[ChannelPreview]:
    unmask = _can_unmask(request)
    previews = []
    for channel, content in contents.items():
        if channel not in MessagingChannel.values:
            continue
        errors = [error.message for error in content_validate(channel=channel, content=content)]
        try:
            rendered = message_preview(
                channel=channel, content=content, member_id=member_id, unmask=unmask
            )
        except ValueError:
            # Flex contents that are not JSON yet (the errors say so): shown as typed.
            rendered = content
        if channel == "line":
            rendered = _with_flex_summaries(rendered)
        previews.append(ChannelPreview(channel, MessagingChannel(channel).label, rendered, errors))
    return previews


def _with_flex_summaries(content: dict) -> dict:
    """The LINE content with a `summary` on each Flex message, for the preview to show."""
    messages = []
    for message in content.get("messages") or []:
        if isinstance(message, dict) and message.get("type") == "flex":
            message = {**message, "summary": flex_summary(message.get("contents"))}
        messages.append(message)
    return {**content, "messages": messages}


def _preview_member_id(request: HtmxHttpRequest, data) -> int | None:
    raw = str(data.get("preview_member", ""))
    return int(raw) if raw.isdigit() else None


def _live_context(request: HtmxHttpRequest, form: CampaignForm, *, member_id) -> dict:
    """The live panel: SMS segments and cost, the preview, the content errors per field."""
    contents = form.contents()
    sms = None
    if "sms" in contents:
        audience = request.POST.get("audience_count", "")
        sms = sms_estimate(
            text=contents["sms"].get("text", ""),
            recipients=int(audience) if audience.isdigit() else None,
        )
    return {
        "sms": sms,
        "has_sms": "sms" in contents,
        "previews": _previews(request, contents, member_id),
        "preview_member": member_id,
    }


def _builder(
    request: HtmxHttpRequest, *, campaign: Campaign | None, form: CampaignForm, status: int = 200
) -> HttpResponse:
    segment = form.segment_value()
    member_id = _preview_member_id(request, form.data) if form.is_bound else None
    members = _preview_members(segment)
    if member_id is None and members:
        member_id = members[0].pk
    context = {
        "campaign": campaign,
        "form": form,
        "form_url": reverse("campaigns:edit", args=[campaign.pk])
        if campaign
        else reverse("campaigns:new"),
        "segment": segment,
        "audience_count": _audience_count(segment),
        "preview_members": members,
        "fields": PERSONALISATION_FIELDS.all(),
        "insertable": INSERTABLE | form.line_insertable(),
        **_live_context(request, form, member_id=member_id),
    }
    form.widgets_mark()
    return render(request, BUILDER_TEMPLATE, context, status=status)


def _line_changed(request: HtmxHttpRequest) -> tuple[CampaignForm, str]:
    """The posted form with its `line_action` applied, and the reason when it could not be;
    and the variant whose messages changed."""
    action = request.POST.get("line_action", "")
    variant, verb = line_action_variant(action)
    data, error = line_data_after(request.POST, action)
    form = CampaignForm(data)
    prefix = "" if variant == "A" else f"{variant}_"
    if error:
        form.is_valid()
        form.add_error(f"{prefix}line_count", error)
    elif verb.startswith("add_"):
        form.line_focus(len(form.variant_line_drafts[variant]) - 1, variant)
    return form, variant


def _stores_drawn(request: HtmxHttpRequest, campaign: Campaign | None) -> CampaignForm:
    """The posted form with its held-out stores drawn (balanced on last 90 days' sales)."""
    data = request.POST.copy()
    raw = data.get("holdout_store_share", "").strip()
    share = int(raw) if raw.isdigit() else 0
    if 1 <= share <= 50:
        data.setlist(
            "holdout_stores",
            [
                str(pk)
                for pk in holdout_stores_draw(campaign=campaign or Campaign(), share_percent=share)
            ],
        )
    form = CampaignForm(data)
    if not 1 <= share <= 50:
        form.is_valid()
        form.add_error("holdout_store_share", ERROR_STORE_SHARE)
    return form


def _builder_post(request: HtmxHttpRequest, campaign: Campaign | None) -> HttpResponse:
    if request.POST.get("line_action"):
        # A LINE message added, removed or moved without JavaScript: the page again, unsaved.
        return _builder(request, campaign=campaign, form=_line_changed(request)[0])
    if request.POST.get("variant_action"):
        # A variant added or removed: the page again with all that was typed, unsaved.
        data = variant_data_after(request.POST, request.POST["variant_action"])
        return _builder(request, campaign=campaign, form=CampaignForm(data))
    if request.POST.get("stores_action"):
        return _builder(request, campaign=campaign, form=_stores_drawn(request, campaign))
    form = CampaignForm(request.POST)
    valid = form.is_valid()
    # Every problem at once: the service's rules run on what was typed even when a field of
    # the form itself (a malformed date) is wrong.
    form.add_service_errors(
        campaign_validate(
            name=form.typed("name"),
            segment=form.segment_value(),
            channels=form.channels(),
            contents=form.contents(),
            send_at=form.send_at_value(),
            automated=campaign is not None and bool(campaign.trigger),
        )
    )
    form.add_service_errors(
        campaign_split_validate(channels=form.channels(), **form.split_settings())
    )
    if valid and not form.errors:
        try:
            campaign = campaign_save(
                campaign=campaign,
                name=form.cleaned_data["name"],
                segment=form.cleaned_data["segment"],
                channels=form.channels(),
                contents=form.contents(),
                send_at=form.send_at_value(),
                is_marketing=form.cleaned_data["is_marketing"],
                holdout_store_ids=form.holdout_store_ids(),
                actor=request.user,
                **form.split_settings(),
            )
        except CampaignInvalid as error:
            form.add_service_errors(error.errors)
        except CampaignStateError as error:
            messages.error(request, str(error))
            return redirect_htmx(request, reverse("campaigns:detail", args=[campaign.pk]))
        else:
            messages.success(request, SAVED % {"name": campaign.name})
            return redirect_htmx(request, reverse("campaigns:confirm", args=[campaign.pk]))
    messages.error(request, FIX_ERRORS)
    return _builder(request, campaign=campaign, form=form)


@require_http_methods(["GET", "POST"])
@permission_required(ADD, raise_exception=True)
def campaign_new(request: HtmxHttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _builder_post(request, None)
    initial = {}
    segment = request.GET.get("segment", "")
    if segment.isdigit():
        initial["segment"] = int(segment)
    form = CampaignForm(initial=initial)
    return _builder(request, campaign=None, form=form)


@require_http_methods(["GET", "POST"])
@permission_required(CHANGE, raise_exception=True)
def campaign_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(pk)
    if campaign.status != Campaign.Status.DRAFT:
        messages.error(request, _("A campaign can be changed only before it is launched."))
        return redirect("campaigns:detail", pk=campaign.pk)
    if request.method == "POST":
        return _builder_post(request, campaign)
    form = CampaignForm(
        initial=initial_from_campaign(
            campaign, campaign_contents(campaign), campaign_variant_contents(campaign)
        )
    )
    return _builder(request, campaign=campaign, form=form)


@require_POST
@permission_required(ADD, raise_exception=True)
def campaign_check(request: HtmxHttpRequest) -> HttpResponse:
    """The builder's live panel for the posted form, and its content errors beside the fields
    (out-of-band swaps), while the marketer types."""
    form = CampaignForm(request.POST)
    form.is_valid()
    errors: dict[str, list[str]] = {}
    by_variant = {"": form.contents()}
    for variant, contents in form.variant_contents().items():
        by_variant[f"{variant}."] = contents
    for variant_key, contents in by_variant.items():
        for channel, content in contents.items():
            for error in content_validate(channel=channel, content=content):
                key = f"content.{variant_key}{channel}.{error.field}".rstrip(".")
                errors.setdefault(key, []).append(error.message)
    form.add_service_errors(errors, only_content=True)
    prefixes = ["", *(f"{variant}_" for variant in form.variants_used()[1:])]
    context = {
        "error_fields": [
            form[f"{prefix}{name}"]
            for prefix in prefixes
            for names in CONTENT_FIELDS.values()
            for name in names
        ]
        + [
            form[name]
            for variant in form.variants_used()
            for name in form.line_field_names(variant)
        ],
        **_live_context(request, form, member_id=_preview_member_id(request, request.POST)),
    }
    return render(request, f"{BUILDER_TEMPLATE}#check-response", context)


@require_POST
@permission_required(ADD, raise_exception=True)
def campaign_line(request: HtmxHttpRequest) -> HttpResponse:
    """The LINE messages after adding, removing or moving one (htmx), all typed text kept."""
    form, variant = _line_changed(request)
    form.widgets_mark()
    context = {
        "form": form,
        "ed": form.editor(variant),
        "fields": PERSONALISATION_FIELDS.all(),
        "insertable": INSERTABLE | form.line_insertable(),
    }
    response = render(request, f"{BUILDER_TEMPLATE}#line-messages", context)
    # After the swap: the preview and the errors then follow the new list.
    response["HX-Trigger-After-Settle"] = "campaign-check"
    return response


@require_POST
@permission_required(ADD, raise_exception=True)
def campaign_audience(request: HtmxHttpRequest) -> HttpResponse:
    """The chosen segment's live count and the members the preview can be shown for."""
    form = CampaignForm(request.POST)
    segment = form.segment_value()
    members = _preview_members(segment)
    context = {
        "segment": segment,
        "audience_count": _audience_count(segment),
        "preview_members": members,
        "preview_member": members[0].pk if members else None,
    }
    response = render(request, f"{BUILDER_TEMPLATE}#audience", context)
    # After the swap: the preview then reads the new members (sooner, it would cancel this one).
    response["HX-Trigger-After-Settle"] = "campaign-check"
    return response


# --- The confirm step --------------------------------------------------------------------------


@dataclass
class Estimate:
    total: int
    by_channel: list[tuple[str, str, int]]  # (channel, label, members)
    suppressed: list[tuple[str, str, int]]  # (reason, label, members)

    @property
    def reachable(self) -> int:
        return sum(n for _c, _l, n in self.by_channel)


def _estimate(campaign: Campaign) -> Estimate | None:
    if campaign.segment is None or not campaign.channels:
        return None
    try:
        counts = audience_estimate(segment=campaign.segment, channels=list(campaign.channels))
    except SegmentDefinitionError:
        return None
    by_channel = [
        (channel, MessagingChannel(channel).label, counts.get(channel, 0))
        for channel in campaign.channels
        if channel in MessagingChannel.values
    ]
    suppressed = [
        (reason, DeliveryReason(reason).label, n)
        for reason, n in sorted(counts.items(), key=lambda item: -item[1])
        if reason in DeliveryReason.values and reason not in campaign.channels and n
    ]
    return Estimate(total=sum(counts.values()), by_channel=by_channel, suppressed=suppressed)


def _split_estimate(campaign: Campaign):
    """Held-out counts and variant sizes a launch now would give (None: nothing to count)."""
    if campaign.segment is None:
        return None
    try:
        return campaign_split_estimate(campaign=campaign)
    except SegmentDefinitionError:
        return None


def _test_channels(campaign: Campaign) -> list[tuple[str, str]]:
    return [
        (c, MessagingChannel(c).label) for c in campaign.channels if c in MessagingChannel.values
    ]


def _confirm(request: HtmxHttpRequest, campaign: Campaign, *, errors=None, status=200):
    contents = campaign_contents(campaign)
    estimate = _estimate(campaign)
    reach = {c: n for c, _l, n in estimate.by_channel} if estimate else {}
    context = {
        "campaign": campaign,
        "estimate": estimate,
        "split": _split_estimate(campaign),
        "has_line": "line" in campaign.channels,
        "has_sms": "sms" in campaign.channels,
        "line_quota": line_quota_left(needed=reach.get("line", 0))
        if "line" in campaign.channels
        else None,
        "sms": sms_estimate(
            text=(contents.get("sms") or {}).get("text", ""), recipients=reach.get("sms", 0)
        )
        if "sms" in campaign.channels
        else None,
        "previews": _previews(request, contents, None),
        "launch_errors": errors or {},
        "can_launch": request.user.has_perm(LAUNCH)
        and campaign.status == Campaign.Status.DRAFT
        and not campaign.trigger,
        "may_launch": request.user.has_perm(LAUNCH),
        "can_test": request.user.has_perm(CHANGE) and campaign.is_editable,
        "can_edit": request.user.has_perm(CHANGE) and campaign.status == Campaign.Status.DRAFT,
        "test_address": request.user.email,
        "test_channels": _test_channels(campaign),
    }
    return render(request, CONFIRM_TEMPLATE, context, status=status)


@require_http_methods(["GET", "POST"])
@permission_required(VIEW, raise_exception=True)
def campaign_confirm(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """What a launch would do now (audience, suppressions by reason, LINE quota, SMS cost);
    POST launches (now, or at its send time)."""
    campaign = _campaign_or_404(pk)
    if request.method == "GET":
        return _confirm(request, campaign)
    if not request.user.has_perm(LAUNCH):
        raise PermissionDenied
    try:
        campaign = campaign_launch(campaign=campaign, actor=request.user)
    except CampaignInvalid as error:
        messages.error(request, NOT_LAUNCHABLE)
        return _confirm(request, campaign, errors=error.errors, status=400)
    except CampaignStateError as error:
        messages.error(request, str(error))
    else:
        if campaign.status == Campaign.Status.SCHEDULED:
            messages.success(
                request, SCHEDULED % {"name": campaign.name, "send_at": taipei(campaign.send_at)}
            )
        else:
            messages.success(request, LAUNCHED % {"name": campaign.name})
    return redirect_htmx(request, reverse("campaigns:detail", args=[campaign.pk]))


@require_POST
@permission_required(CHANGE, raise_exception=True)
def campaign_test(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Send the message on one channel to the marketer's own address, phone or LINE id."""
    campaign = _campaign_or_404(pk)
    channel = request.POST.get("channel", "")
    address = request.POST.get("address", "").strip()
    result = None
    error = ""
    if channel not in campaign.channels:
        error = _("Choose one of the campaign's channels.")
    else:
        try:
            result = campaign_test_send(
                campaign=campaign, channel=channel, address=address, actor=request.user
            )
        except CampaignInvalid as invalid:
            error = " ".join(m for ms in invalid.errors.values() for m in ms)
        else:
            if result.status != "sent":
                error = result.error or _("The provider refused the message.")
    context = {
        "campaign": campaign,
        "test_ok": result is not None and not error,
        "test_error": TEST_FAILED % {"error": error} if error else "",
        "test_message": TEST_SENT % {"address": address} if not error else "",
        "test_channel": channel,
        "test_address": address,
        "test_channels": _test_channels(campaign),
    }
    if wants_partial(request):
        return render(request, f"{CONFIRM_TEMPLATE}#test-send", context)
    if error:
        messages.error(request, context["test_error"])
    else:
        messages.success(request, context["test_message"])
    return redirect("campaigns:confirm", pk=campaign.pk)


# --- The campaign page -------------------------------------------------------------------------


@dataclass
class DeliveryFilters:
    status: str = ""
    reason: str = ""
    channel: str = ""

    @classmethod
    def from_query(cls, query) -> "DeliveryFilters":
        def pick(key, allowed):
            value = query.get(key, "")
            return value if value in allowed else ""

        return cls(
            status=pick("status", Delivery.Status.values),
            reason=pick("reason", DeliveryReason.values),
            channel=pick("channel", MessagingChannel.values),
        )

    def query(self) -> str:
        return urlencode({k: v for k, v in vars(self).items() if v})


def _progress_for(campaign: Campaign, counts=None) -> Progress:
    """Progress over the whole audience (members suppressed at launch count as done); an ended
    campaign's from its deliveries (exact: a cancel ends waiting rows outside any batch)."""
    if counts is not None and campaign.status in Campaign.FINAL:
        by = counts.by_status
        sent, failed, suppressed, held_out = (
            by.get(Delivery.Status.SENT, 0),
            by.get(Delivery.Status.FAILED, 0),
            by.get(Delivery.Status.SUPPRESSED, 0),
            by.get(Delivery.Status.HELD_OUT, 0),
        )
        return Progress(
            total=counts.total,
            finished=sent + failed + suppressed + held_out,
            sent=sent,
            failed=failed,
            suppressed=suppressed,
            held_out=held_out,
        )
    return campaign_progress(campaign=campaign).with_audience(
        campaign.audience_count, held_out=campaign_held_out_count(campaign_id=campaign.pk)
    )


def _deliveries_page(campaign: Campaign, filters: DeliveryFilters, after: str):
    rows = campaign_deliveries(campaign=campaign, **vars(filters))
    if after.isdigit():
        rows = rows.filter(pk__gt=int(after))
    rows = list(rows[: DELIVERY_PAGE_SIZE + 1])
    more = len(rows) > DELIVERY_PAGE_SIZE
    rows = rows[:DELIVERY_PAGE_SIZE]
    return rows, (rows[-1].pk if more else None)


@require_GET
@vary_on_headers("HX-Request")
@permission_required(VIEW, raise_exception=True)
def campaign_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign_or_404(pk)
    filters = DeliveryFilters.from_query(request.GET)
    after = request.GET.get("after", "")
    deliveries, next_after = _deliveries_page(campaign, filters, after)
    context = {
        "campaign": campaign,
        "filters": filters,
        "filter_query": filters.query(),
        "deliveries": deliveries,
        "next_after": next_after,
        "after": after,
        "statuses": Delivery.Status.choices,
        "reasons": DeliveryReason.choices,
        "channels": MessagingChannel.choices,
    }
    if wants_partial(request):
        partial = "delivery-rows" if after else "deliveries"
        return render(request, f"{DETAIL_TEMPLATE}#{partial}", context)
    counts = campaign_counts(campaign=campaign)
    member_id = _preview_member_id(request, request.GET)
    context.update(
        counts=counts,
        status_rows=[
            (value, label, counts.by_status.get(value, 0))
            for value, label in Delivery.Status.choices
        ],
        reason_rows=[
            (status, Delivery.Status(status).label, reason, DeliveryReason(reason).label, n)
            for status, reasons in counts.by_reason.items()
            for reason, n in sorted(reasons.items(), key=lambda item: -item[1])
            if reason in DeliveryReason.values
        ],
        channel_rows=[
            (
                channel,
                [counts.by_channel[channel].get(value, 0) for value in Delivery.Status.values],
            )
            for channel in MessagingChannel.values
            if channel in counts.by_channel
        ],
        progress=_progress_for(campaign, counts),
        poll_seconds=POLL_SECONDS,
        previews=_previews(request, campaign_contents(campaign), member_id),
        preview_members=_preview_members(campaign.segment) if campaign.is_editable else [],
        preview_member=member_id,
        can_launch=request.user.has_perm(LAUNCH),
        can_edit=request.user.has_perm(CHANGE) and campaign.status == Campaign.Status.DRAFT,
        line_insight=line_insight_summary(campaign=campaign),
        can_refresh_insight=request.user.has_perm(CHANGE),
        **_report_context(campaign, request.GET.get("variant", "")),
    )
    return render(request, DETAIL_TEMPLATE, context)


@require_POST
@permission_required(CHANGE, raise_exception=True)
def campaign_line_insight_refresh_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A marketer's "refresh" of LINE's figures: the asking runs in a worker (it may take a
    call per LINE request, under the rate limit); the page says so."""
    campaign = _campaign_or_404(pk)
    line_insight_refresh_request(campaign_id=campaign.pk)
    messages.info(request, LINE_INSIGHT_ASKED)
    return redirect_htmx(request, reverse("campaigns:detail", args=[campaign.pk]))


# --- The report (campaigns/report.py, campaigns/stats.py; figures only, nothing personal) ------


def _report_context(campaign: Campaign, variant: str) -> dict:
    report = campaign_report(campaign_id=campaign.pk, variant=variant)
    by_channel = report.by_channel
    channel_columns = [*by_channel, report.total] if len(by_channel) > 1 else by_channel
    variant_columns = [*report.by_variant, report.sent_group] if report.has_variant_test else []
    return {
        "report": report,
        # "-": the members no channel reaches (suppressed with channel ""); "": the total.
        "report_channel_headers": [column.channel or "-" for column in by_channel]
        + ([""] if len(channel_columns) > len(by_channel) else []),
        "report_channel_lines": funnel_lines(channel_columns),
        "report_variant_headers": [column.variant for column in variant_columns],
        "report_variant_lines": funnel_lines(variant_columns),
        "report_variant_tests": [
            (metric_label(metric), comparisons)
            for metric, comparisons in report.variant_tests.items()
        ],
        "report_chart": report_chart(report),
    }


@require_GET
@vary_on_headers("HX-Request")
@permission_required(VIEW, raise_exception=True)
def campaign_report_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The report card alone, for the variant switcher's htmx swap; without htmx, the page."""
    campaign = _campaign_or_404(pk)
    variant = request.GET.get("variant", "")
    if not wants_partial(request):
        query = f"?{urlencode({'variant': variant})}" if variant else ""
        return redirect(reverse("campaigns:detail", args=[campaign.pk]) + query + "#report")
    context = {"campaign": campaign, **_report_context(campaign, variant)}
    return render(request, f"{DETAIL_TEMPLATE}#report", context)


@require_GET
@permission_required(VIEW, raise_exception=True)
def campaign_report_csv(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The report as CSV (UTF-8 with a BOM, omnichannel/exports.py): figures, never members."""
    campaign = _campaign_or_404(pk)
    report = campaign_report(campaign_id=campaign.pk)
    headers, rows = report_csv_rows(report)
    response = StreamingHttpResponse(
        csv_chunks(headers, rows, raw=False), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-report.csv"'
    return response


@require_GET
@permission_required(VIEW, raise_exception=True)
def campaign_progress_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The progress card, polled every few seconds while the campaign sends. When the status
    has changed since the page was drawn, the page reloads (new buttons, final counts)."""
    campaign = _campaign_or_404(pk)
    if not request.htmx:
        return redirect("campaigns:detail", pk=campaign.pk)
    context = {
        "campaign": campaign,
        "progress": _progress_for(campaign),
        "poll_seconds": POLL_SECONDS,
    }
    response = render(request, f"{DETAIL_TEMPLATE}#progress", context)
    if request.GET.get("seen") and request.GET["seen"] != campaign.status:
        response["HX-Refresh"] = "true"
    return response


def _status_action(request: HtmxHttpRequest, pk: int, verb, done_message) -> HttpResponse:
    campaign = _campaign_or_404(pk)
    try:
        campaign = verb(campaign=campaign, actor=request.user)
    except CampaignStateError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, done_message % {"name": campaign.name})
    return redirect_htmx(request, reverse("campaigns:detail", args=[campaign.pk]))


@require_POST
@permission_required(LAUNCH, raise_exception=True)
def campaign_pause_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _status_action(request, pk, campaign_pause, PAUSED)


@require_POST
@permission_required(LAUNCH, raise_exception=True)
def campaign_resume_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _status_action(request, pk, campaign_resume, RESUMED)


@require_POST
@permission_required(LAUNCH, raise_exception=True)
def campaign_cancel_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _status_action(request, pk, campaign_cancel, CANCELLED)
