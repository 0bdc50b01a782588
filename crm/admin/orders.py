"""Orders and touchpoints: what members bought and did, found by order or member."""

from django.contrib import admin
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm import resources
from crm.admin.base import BoundedAdmin
from crm.admin.preset_import import PresetImportMixin
from crm.admin.search import MemberSearchMixin
from crm.imports import PRESETS
from crm.labels import touchpoint_kind_label
from crm.models import Order, Touchpoint
from crm.services.touchpoints import KNOWN_KINDS
from omnichannel.admin_tools import choices_filter
from omnichannel.channels import Channel, SalesChannel


@admin.display(description=_("channel"), ordering="channel")
def channel_column(obj) -> str:
    """A free-text channel column (touchpoints) shown as the channel's label."""
    return str(Channel(obj.channel).label) if obj.channel in Channel.values else obj.channel


@admin.display(description=_("kind"), ordering="kind")
def touchpoint_kind_column(touchpoint: Touchpoint) -> str:
    return touchpoint_kind_label(touchpoint.kind)


@admin.register(Order)
class OrderAdmin(PresetImportMixin, MemberSearchMixin, BoundedAdmin):
    resource_classes = (resources.OrderResource,)
    import_presets = tuple(name for name, preset in PRESETS.items() if preset.channel)
    masked_list_display = {"member": "member_number"}
    list_display = (
        "external_no",
        "channel",
        "member",
        "store",
        "amount_twd",
        "status",
        "placed_at",
    )
    list_filter = ("channel", "status", "store", ("placed_at", admin.DateFieldListFilter))
    list_select_related = ("member", "store")
    sortable_by = ("placed_at",)
    search_help_text = _("An order number, a member number or a member's identifier.")
    raw_id_fields = ("member", "store", "returns_order")

    def extra_search_q(self, term: str) -> Q:
        # The unique index is (channel, external_no): naming every channel lets it serve.
        return Q(channel__in=SalesChannel.values, external_no=term.strip())


@admin.register(Touchpoint)
class TouchpointAdmin(MemberSearchMixin, BoundedAdmin):
    resource_classes = (resources.TouchpointResource,)
    masked_list_display = {"member": "member_number"}
    list_display = ("member", channel_column, touchpoint_kind_column, "at")
    list_filter = (
        choices_filter("channel", _("channel"), Channel.choices),
        choices_filter(
            "kind", _("kind"), [(kind, touchpoint_kind_label(kind)) for kind in KNOWN_KINDS]
        ),
        ("at", admin.DateFieldListFilter),
    )
    list_select_related = ("member",)
    sortable_by = ()
    raw_id_fields = ("member",)
