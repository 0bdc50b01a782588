"""The records of merges (undone here) and erasures (read only)."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from crm import resources
from crm.admin.base import BoundedAdmin, SourceFilter, source_column
from crm.admin.search import MemberSearchMixin
from crm.models import ErasureLog, MergeLog
from crm.services import MergeError, member_unmerge


@admin.register(MergeLog)
class MergeLogAdmin(MemberSearchMixin, BoundedAdmin):
    resource_classes = (resources.MergeLogResource,)
    masked_list_display = {"merged": "merged_number", "survivor": "survivor_number"}
    list_display = ("at", "merged", "survivor", source_column, "actor", "reason", "undone_at")
    list_filter = (
        SourceFilter,
        ("undone_at", admin.EmptyFieldListFilter),
        ("at", admin.DateFieldListFilter),
    )
    list_select_related = ("merged", "survivor", "actor")
    search_fields = ("=merged__member_no", "=survivor__member_no")
    member_search_fields = ("merged", "survivor")
    ordering = ("-pk",)  # newest first through the primary key, not a sort of every merge
    sortable_by = ()
    raw_id_fields = ("merged", "survivor", "actor", "undone_by")
    readonly_fields = ("matched_keys", "snapshot")
    actions = ("undo_merges",)

    @admin.display(description=_("merged"))
    def merged_number(self, log: MergeLog) -> str:
        return log.merged.member_no

    @admin.display(description=_("survivor"))
    def survivor_number(self, log: MergeLog) -> str:
        return log.survivor.member_no

    @admin.action(description=_("Undo the selected merges"), permissions=["merge"])
    def undo_merges(self, request, queryset):
        # Newest first, so a later merge that depends on an earlier one is undone before it.
        for log in queryset.filter(undone_at__isnull=True).order_by("-pk"):
            try:
                member_unmerge(merge_log=log, actor=request.user)
            except MergeError as exc:
                self.message_user(request, f"#{log.pk}: {exc}", messages.ERROR)
            else:
                self.message_user(request, _("Undid merge #%(pk)s.") % {"pk": log.pk})

    def has_merge_permission(self, request) -> bool:
        return request.user.has_perm("crm.merge_member")

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # undo instead: later undos read the chain of merges


@admin.register(ErasureLog)
class ErasureLogAdmin(MemberSearchMixin, BoundedAdmin):
    resource_classes = (resources.ErasureLogResource,)
    masked_list_display = {"member": "member_number"}
    list_display = ("at", "member", "actor", "reason")
    list_filter = (("at", admin.DateFieldListFilter),)
    list_select_related = ("member", "actor")
    search_fields = ("=member__member_no",)
    ordering = ("-pk",)
    sortable_by = ()
    readonly_fields = ("member", "actor", "reason", "at", "counts")

    def get_search_results(self, request, queryset, search_term):
        # An erased member has no identifiers left: only its number finds it.
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(member__member_no__in={term, term.upper()}), False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the record of who erased whom
