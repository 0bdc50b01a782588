"""The Django admin of campaigns: operators look at the outbox here and change nothing that
would break it.

Deliveries and send batches are the record of what was sent: fully read-only, no add, no
delete. A campaign's status, audience and content move only through campaigns.services (the
pause / resume / cancel actions here call them); a campaign can be deleted only as a draft (a
launched one's deliveries are proof). Suppressions are lifted through suppression_lift, never
edited. Members show as their number to viewers without crm.unmask_personal_data, on the lists
and on the pages of single rows; big tables page without counting (crm's bounded list admin).
"""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from campaigns.models import (
    Campaign,
    ControlGroupFigures,
    Delivery,
    LineInsight,
    Message,
    SendBatch,
    Suppression,
    WebhookEvent,
    WebPushSubscription,
)
from campaigns.services import (
    CampaignStateError,
    campaign_cancel,
    campaign_pause,
    campaign_resume,
)
from campaigns.services.suppressions import suppression_lift
from crm import pii
from crm.admin.base import BoundedListAdmin
from crm.admin.search import MemberSearchMixin
from omnichannel.admin_tools import can_unmask


class ReadOnlyMixin:
    """Every field shown, none changed; no add, no delete."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class MaskedFieldsMixin:
    """Personal data on the page of one row, as the viewer may see it: `masked_fields` maps a
    field to (the column shown in full, the column shown masked), chosen per request (the admin
    object is shared by every request, so nothing about the viewer is kept on it)."""

    masked_fields: dict[str, tuple[str, str]] = {"member": ("member_full", "member_masked")}

    @admin.display(description=_("member"))
    def member_full(self, obj) -> str:
        return str(obj.member)

    @admin.display(description=_("member"))
    def member_masked(self, obj) -> str:
        member = obj.member
        return f"{member.member_no} {pii.mask_text(member.name)}".strip()

    def get_fields(self, request, obj=None):
        which = 0 if can_unmask(self, request) else 1
        fields = super().get_fields(request, obj)
        return [self.masked_fields[f][which] if f in self.masked_fields else f for f in fields]

    def get_readonly_fields(self, request, obj=None):
        shown = [name for pair in self.masked_fields.values() for name in pair]
        return (*super().get_readonly_fields(request, obj), *shown)


class MessageInline(admin.StackedInline):
    """A campaign's content: read-only here (the builder validates what a provider takes)."""

    model = Message
    extra = 0
    can_delete = False
    fields = ("channel", "variant", "content")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Campaign)
class CampaignAdmin(BoundedListAdmin):
    list_display = (
        "name",
        "status",
        "channels",
        "segment",
        "audience_count",
        "created_at",
        "launched_at",
        "finished_at",
    )
    list_filter = ("status", "is_marketing", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("segment",)
    search_fields = ("name",)
    search_help_text = _("The beginning of a campaign's name.")
    ordering = ("-pk",)
    inlines = (MessageInline,)
    readonly_fields = (
        "status",
        "segment",
        "channels",
        "send_at",
        "is_marketing",
        "quiet_hours",
        "frequency_cap_messages",
        "frequency_cap_days",
        "audience_count",
        "error",
        "created_by",
        "created_at",
        "launched_at",
        "finished_at",
    )
    actions = ("pause_campaigns", "resume_campaigns", "cancel_campaigns")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(name__startswith=term), False

    def has_add_permission(self, request) -> bool:
        return False  # the builder (/campaigns/new/) checks the content a provider takes

    def has_delete_permission(self, request, obj=None) -> bool:
        # A launched campaign's deliveries are the record of what was sent.
        return (
            obj is not None
            and obj.status == Campaign.Status.DRAFT
            and super().has_delete_permission(request, obj)
        )

    def has_launch_permission(self, request) -> bool:
        return request.user.has_perm("campaigns.launch_campaign")

    def _each(self, request, queryset, verb, done) -> None:
        for campaign in queryset.order_by("pk"):
            try:
                verb(campaign=campaign, actor=request.user)
            except CampaignStateError as error:
                self.message_user(request, f"{campaign.name}: {error}", messages.ERROR)
            else:
                self.message_user(request, done % {"name": campaign.name})

    @admin.action(description=_("Pause the selected campaigns"), permissions=["launch"])
    def pause_campaigns(self, request, queryset):
        self._each(request, queryset, campaign_pause, _("Paused %(name)s."))

    @admin.action(description=_("Resume the selected campaigns"), permissions=["launch"])
    def resume_campaigns(self, request, queryset):
        self._each(request, queryset, campaign_resume, _("Resumed %(name)s."))

    @admin.action(description=_("Cancel the selected campaigns"), permissions=["launch"])
    def cancel_campaigns(self, request, queryset):
        self._each(request, queryset, campaign_cancel, _("Cancelled %(name)s."))


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyMixin, MaskedFieldsMixin, MemberSearchMixin, BoundedListAdmin):
    masked_list_display = {"member": "member_number", "error": "error_hidden"}
    list_display = ("campaign", "member", "channel", "status", "reason", "error", "sent_at")
    list_filter = ("status", "reason", "channel", "campaign")
    list_select_related = ("campaign", "member")
    sortable_by = ()
    ordering = ("-pk",)
    fields = (
        "campaign",
        "member",
        "channel",
        "variant",
        "status",
        "reason",
        "error",
        "provider_id",
        "batch",
        "is_marketing",
        "created_at",
        "sent_at",
    )
    masked_fields = {
        **MaskedFieldsMixin.masked_fields,
        "error": ("error_full", "error_hidden"),
    }

    @admin.display(description=_("provider's answer"))
    def error_full(self, delivery: Delivery) -> str:
        return delivery.error

    @admin.display(description=_("provider's answer"))
    def error_hidden(self, delivery: Delivery) -> str:
        # A provider's words may repeat the address it refused.
        return "…" if delivery.error else ""


@admin.register(SendBatch)
class SendBatchAdmin(ReadOnlyMixin, BoundedListAdmin):
    list_display = (
        "campaign",
        "channel",
        "seq",
        "status",
        "size",
        "sent",
        "failed",
        "suppressed",
        "not_before",
        "finished_at",
    )
    list_filter = ("status", "channel", "campaign")
    list_select_related = ("campaign",)
    sortable_by = ()
    ordering = ("-pk",)


@admin.register(Suppression)
class SuppressionAdmin(ReadOnlyMixin, MaskedFieldsMixin, MemberSearchMixin, BoundedListAdmin):
    masked_list_display = {"member": "member_number"}
    list_display = ("member", "channel", "reason", "source", "at", "lifted_at")
    list_filter = ("channel", "reason", ("lifted_at", admin.EmptyFieldListFilter))
    list_select_related = ("member",)
    sortable_by = ()
    ordering = ("-pk",)
    fields = ("member", "channel", "reason", "source", "detail", "at", "lifted_at")
    actions = ("lift_suppressions",)

    @admin.action(description=_("Lift the selected suppressions"), permissions=["lift"])
    def lift_suppressions(self, request, queryset):
        # One statement per (channel, reason) among the selection, not one per row.
        groups: dict[tuple[str, str], list[int]] = {}
        rows = queryset.filter(lifted_at__isnull=True).values_list("member_id", "channel", "reason")
        for member_id, channel, reason in rows:
            groups.setdefault((channel, reason), []).append(member_id)
        lifted = sum(
            suppression_lift(member_ids=ids, channel=channel, reason=reason)
            for (channel, reason), ids in groups.items()
        )
        self.message_user(request, _("Lifted %(n)s suppressions.") % {"n": lifted})

    def has_lift_permission(self, request) -> bool:
        return request.user.has_perm("campaigns.change_suppression")


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyMixin, BoundedListAdmin):
    list_display = ("provider", "event_id", "received_at")
    list_filter = ("provider", ("received_at", admin.DateFieldListFilter))
    search_fields = ("=event_id",)
    sortable_by = ()
    ordering = ("-pk",)


@admin.register(WebPushSubscription)
class WebPushSubscriptionAdmin(MaskedFieldsMixin, MemberSearchMixin, BoundedListAdmin):
    masked_list_display = {"member": "member_number", "endpoint": "endpoint_masked"}
    list_display = ("member", "endpoint", "created_at")
    list_select_related = ("member",)
    sortable_by = ()
    ordering = ("-pk",)
    fields = ("member", "endpoint", "created_at")
    masked_fields = {
        **MaskedFieldsMixin.masked_fields,
        "endpoint": ("endpoint_full", "endpoint_masked"),
    }

    @admin.display(description=_("endpoint"))
    def endpoint_full(self, subscription: WebPushSubscription) -> str:
        return subscription.endpoint

    @admin.display(description=_("endpoint"))
    def endpoint_masked(self, subscription: WebPushSubscription) -> str:
        return pii.mask_token(subscription.endpoint)

    def has_add_permission(self, request) -> bool:
        return False  # browsers subscribe through the push endpoint

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a deleted subscription is re-made by the browser; an edited one is wrong


@admin.register(LineInsight)
class LineInsightAdmin(ReadOnlyMixin, BoundedListAdmin):
    """LINE's figures per aggregation unit (the LINE Insight job writes them); read-only."""

    list_display = (
        "campaign",
        "unit",
        "variant",
        "sent_at",
        "recipients",
        "fetched_at",
        "delivered",
        "unique_impression",
        "unique_click",
        "error",
    )
    list_filter = ("campaign",)
    list_select_related = ("campaign",)
    search_fields = ("=unit", "=request_id")
    sortable_by = ()
    ordering = ("-pk",)


@admin.register(ControlGroupFigures)
class ControlGroupFiguresAdmin(ReadOnlyMixin, BoundedListAdmin):
    """The nightly control-group figures; read-only."""

    list_display = (
        "day",
        "window_days",
        "percent",
        "control_members",
        "control_buyers",
        "control_revenue_twd",
        "rest_members",
        "rest_buyers",
        "rest_revenue_twd",
        "computed_at",
    )
    sortable_by = ()
    ordering = ("-day",)
