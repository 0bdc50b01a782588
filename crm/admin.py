from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from crm.models import (
    ApiKey,
    Consent,
    ErasureLog,
    Identity,
    Member,
    MergeLog,
    Order,
    Store,
    Tag,
    Touchpoint,
)
from crm.services import (
    ErasureError,
    MergeError,
    member_forget,
    member_merge_by_hand,
    member_unmerge,
)
from crm.services.api_keys import api_key_create, api_key_revoke


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200)


def _confirm_with_reason(modeladmin, request, queryset, *, action: str, title, apply) -> object:
    """An intermediate page asking for a reason; on a valid POST, `apply(reason)` runs.

    What the operator typed comes back on the page with the error when it does not validate.
    """
    form = ReasonForm(request.POST if "confirm" in request.POST else None)
    if form.is_valid():
        apply(form.cleaned_data["reason"])
        return None
    return TemplateResponse(
        request,
        "admin/crm/confirm_with_reason.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "objects": queryset,
            "form": form,
            "action": action,
            "opts": modeladmin.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        },
    )


class BoundedAdmin(admin.ModelAdmin):
    # No COUNT(*) over a million rows on every list page.
    show_full_result_count = False
    list_per_page = 50


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ("kind", "value", "source", "first_seen_at", "last_seen_at")


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "city", "opened_on")
    search_fields = ("code", "name", "city")


@admin.register(Member)
class MemberAdmin(BoundedAdmin):
    actions = ("merge_members", "forget_members")
    list_display = ("member_no", "name", "status", "acquisition_channel", "home_store", "joined_at")
    list_filter = ("status", "acquisition_channel", "gender")
    list_select_related = ("home_store",)
    search_fields = ("=member_no", "^name", "=identities__value")
    raw_id_fields = ("home_store", "merged_into")
    inlines = (IdentityInline,)
    date_hierarchy = "joined_at"

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

        return _confirm_with_reason(
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

        return _confirm_with_reason(
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


@admin.register(Identity)
class IdentityAdmin(BoundedAdmin):
    list_display = ("kind", "value", "member", "source", "last_seen_at")
    list_filter = ("kind", "source")
    list_select_related = ("member",)
    search_fields = ("=value", "=member__member_no")
    raw_id_fields = ("member",)


@admin.register(Consent)
class ConsentAdmin(BoundedAdmin):
    list_display = ("member", "channel", "state", "source", "at")
    list_filter = ("channel", "state")
    list_select_related = ("member",)
    search_fields = ("=member__member_no",)
    raw_id_fields = ("member",)


@admin.register(Order)
class OrderAdmin(BoundedAdmin):
    list_display = (
        "external_no",
        "channel",
        "member",
        "store",
        "amount_twd",
        "status",
        "placed_at",
    )
    list_filter = ("channel", "status")
    list_select_related = ("member", "store")
    search_fields = ("=external_no", "=member__member_no")
    raw_id_fields = ("member", "store", "returns_order")


@admin.register(Touchpoint)
class TouchpointAdmin(BoundedAdmin):
    list_display = ("member", "channel", "kind", "at")
    list_filter = ("channel", "kind")
    list_select_related = ("member",)
    raw_id_fields = ("member",)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)
    filter_horizontal = ()
    raw_id_fields = ("members",)


@admin.register(MergeLog)
class MergeLogAdmin(BoundedAdmin):
    list_display = ("at", "merged", "survivor", "source", "actor", "reason", "undone_at")
    list_filter = ("source",)
    list_select_related = ("merged", "survivor", "actor")
    search_fields = ("=merged__member_no", "=survivor__member_no")
    raw_id_fields = ("merged", "survivor", "actor", "undone_by")
    readonly_fields = ("matched_keys", "snapshot")
    actions = ("undo_merges",)

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


@admin.register(ErasureLog)
class ErasureLogAdmin(BoundedAdmin):
    list_display = ("at", "member", "actor", "reason")
    list_select_related = ("member", "actor")
    search_fields = ("=member__member_no",)
    readonly_fields = ("member", "actor", "reason", "at", "counts")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys of the brand's systems: made here (the key is shown once), listed, revoked."""

    list_display = (
        "name",
        "channel",
        "key_prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("channel", ("revoked_at", admin.EmptyFieldListFilter))
    list_select_related = ("created_by",)
    search_fields = ("name", "=prefix")
    actions = ("revoke_keys",)

    @admin.display(description=_("key starts with"), ordering="prefix")
    def key_prefix(self, obj: ApiKey) -> str:
        return f"{obj.prefix}…"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "channel")
        return (
            "name",
            "channel",
            "key_prefix",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
            "revoked_by",
        )

    def get_readonly_fields(self, request, obj=None):
        # A key is never edited: to change its channel, make a new key and revoke this one.
        return () if obj is None else self.get_fields(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return
        api_key, key = api_key_create(name=obj.name, channel=obj.channel, actor=request.user)
        obj.pk = api_key.pk
        for name in ("prefix", "secret_hash", "created_by", "created_at"):
            setattr(obj, name, getattr(api_key, name))
        self.message_user(
            request,
            _("Copy the key for %(name)s now; it is shown only this once: %(key)s")
            % {"name": api_key.name, "key": key},
            messages.WARNING,
        )

    @admin.action(description=_("Revoke the selected keys"), permissions=["change"])
    def revoke_keys(self, request, queryset):
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True).order_by("pk"):
            api_key_revoke(api_key=api_key, actor=request.user)
            revoked += 1
        self.message_user(
            request, ngettext("Revoked %d key.", "Revoked %d keys.", revoked) % revoked
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        # Revoke instead: the row is the record of which system could write, and since when.
        return False
