"""Members, their identities and their consent; merging and erasing members by hand."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from crm import pii, resources
from crm.admin.base import BoundedAdmin, SourceFilter, source_column
from crm.admin.confirm import confirm_with_reason
from crm.admin.preset_import import PresetImportMixin
from crm.admin.search import MemberSearchMixin
from crm.imports import PRESETS
from crm.models import Consent, Identity, Member
from crm.selectors import name_prefix_q
from crm.services import ErasureError, MergeError, member_forget, member_merge_by_hand


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ("kind", "value", "source", "first_seen_at", "last_seen_at")


@admin.register(Member)
class MemberAdmin(PresetImportMixin, MemberSearchMixin, BoundedAdmin):
    resource_classes = (resources.MemberResource,)
    import_presets = tuple(name for name, preset in PRESETS.items() if not preset.channel)
    actions = ("merge_members", "forget_members")
    list_display = ("member_no", "name", "status", "acquisition_channel", "home_store", "joined_at")
    list_filter = (
        "status",
        "acquisition_channel",
        "gender",
        "home_store",  # stores are few
        ("joined_at", admin.DateFieldListFilter),
    )
    list_select_related = ("home_store",)
    sortable_by = ("member_no", "joined_at")  # the indexed ones
    search_help_text = _(
        "A member number, an identifier (phone, email, LINE ID, card, carrier) in any spelling, "
        "or the beginning of a name."
    )
    raw_id_fields = ("home_store", "merged_into")
    inlines = (IdentityInline,)

    masked_list_display = {"name": "masked_name"}

    @admin.display(description=_("name"))
    def masked_name(self, member: Member) -> str:
        return pii.mask_text(member.name)

    search_fields = ("=member_no", "^name")
    member_search_fields = ("pk",)

    def extra_search_q(self, term: str) -> Q:
        return name_prefix_q(term)

    @admin.action(description=_("Merge the two selected members"), permissions=["merge"])
    def merge_members(self, request, queryset):
        members = list(queryset.order_by("pk")[:3])
        if len(members) != 2:
            self.message_user(request, _("Select exactly two members to merge."), messages.ERROR)
            return None

        def apply(reason: str) -> None:
            try:
                log = member_merge_by_hand(
                    first=members[0], second=members[1], reason=reason, actor=request.user
                )
            except MergeError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("Merged %(merged)s into %(survivor)s.")
                    % {"merged": log.merged.member_no, "survivor": log.survivor.member_no},
                )

        return confirm_with_reason(
            self,
            request,
            queryset,
            action="merge_members",
            title=_("Merge these members into the older one?"),
            apply=apply,
        )

    @admin.action(description=_("Erase personal data (PDPA request)"), permissions=["forget"])
    def forget_members(self, request, queryset):
        def apply(reason: str) -> None:
            erased = 0
            for member in queryset.order_by("pk"):
                try:
                    member_forget(member=member, actor=request.user, reason=reason)
                    erased += 1
                except (ErasureError, PermissionDenied) as exc:
                    self.message_user(request, f"{member.member_no}: {exc}", messages.ERROR)
            self.message_user(
                request,
                ngettext("Erased %d member.", "Erased %d members.", erased) % erased,
            )

        return confirm_with_reason(
            self,
            request,
            queryset,
            action="forget_members",
            title=_("Erase these members' personal data? This cannot be undone."),
            apply=apply,
        )

    def has_merge_permission(self, request) -> bool:
        return request.user.has_perm("crm.merge_member")

    def has_forget_permission(self, request) -> bool:
        return request.user.has_perm("crm.forget_member")

    def has_delete_permission(self, request, obj=None) -> bool:
        # Erase instead (PDPA): a delete would drop the consent proof and the merge history,
        # and skip the hooks through which other apps anonymise their rows.
        return False


@admin.register(Identity)
class IdentityAdmin(MemberSearchMixin, BoundedAdmin):
    resource_classes = (resources.IdentityResource,)
    list_display = ("kind", "value", "member", source_column, "last_seen_at")
    list_filter = ("kind", SourceFilter)
    list_select_related = ("member",)
    sortable_by = ()
    raw_id_fields = ("member",)

    masked_list_display = {"value": "masked_value", "member": "member_number"}

    @admin.display(description=_("value"))
    def masked_value(self, identity: Identity) -> str:
        return resources.mask_identifier(identity.kind, identity.value)


@admin.register(Consent)
class ConsentAdmin(MemberSearchMixin, BoundedAdmin):
    resource_classes = (resources.ConsentResource,)
    masked_list_display = {"member": "member_number"}
    list_display = ("member", "channel", "state", source_column, "at")
    list_filter = ("channel", "state", ("at", admin.DateFieldListFilter))
    list_select_related = ("member",)
    sortable_by = ()
    raw_id_fields = ("member",)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # every decision is proof of what the member allowed, and when
