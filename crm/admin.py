"""The Django admin of crm: operators fix data here, at a million members.

Every list page is bounded: no COUNT(*) of the whole table (LargeTablePaginator), no filter
whose choices come from scanning the table (fixed-choice filters instead of all-values ones),
searches that hit indexes (exact member numbers and identifiers in any spelling, a name prefix
as an index range), and only indexed columns sortable.

Exports (django-import-export resources, crm/resources.py) mask personal data for viewers
without crm.unmask_personal_data; a short list is answered at once (CSV streamed row by row), a
long one is written by a Celery worker (ExportJob, crm/services/exports.py).

Stores and tags import through a plain resource; members and orders import through the preset
import (ImportJob), so every row goes through identity resolution (docs/design-notes.md).
"""

import tempfile
from collections.abc import Iterable
from contextvars import ContextVar
from functools import cached_property, reduce
from operator import or_

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from import_export.admin import ExportMixin, ImportExportMixin
from import_export.formats import base_formats
from import_export.forms import SelectableFieldsExportForm
from import_export.signals import post_export

from crm import pii, resources
from crm.forms import ImportUploadForm
from crm.imports import PRESETS
from crm.labels import (
    IMPORT_SOURCE_PREFIX,
    MANUAL_SOURCE,
    source_label,
    touchpoint_kind_label,
)
from crm.models import (
    ApiKey,
    Consent,
    ErasureLog,
    ExportJob,
    Identity,
    ImportJob,
    Member,
    MemberNote,
    MergeLog,
    Order,
    Store,
    Tag,
    Touchpoint,
)
from crm.search_policy import search_rate_check, search_refusal
from crm.selectors import member_ids_for_term, name_prefix_q
from crm.services import (
    ErasureError,
    MergeError,
    member_forget,
    member_merge_by_hand,
    member_unmerge,
)
from crm.services.api_keys import api_key_create, api_key_revoke
from crm.services.exports import (
    EXPORT_INLINE_MAX_ROWS,
    export_audit_record,
    export_job_create,
)
from crm.services.import_jobs import import_job_create
from crm.services.touchpoints import KNOWN_KINDS
from omnichannel.channels import Channel, SalesChannel
from omnichannel.counting import EXACT_COUNT_LIMIT, rows_count
from omnichannel.exports import export_csv_chunks, export_xlsx_write

UNMASK_PERMISSION = "crm.unmask_personal_data"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_MEMBERS_PERMISSION = "crm.export_members"
IMPORT_PERMISSION = "crm.import_data"
# Sources the services write: the channels, hand merges, and imports (on consents).
SOURCE_CHOICES = [
    (code, lazy(source_label, str)(code))
    for code in (
        *Channel.values,
        MANUAL_SOURCE,
        *(f"{IMPORT_SOURCE_PREFIX}{name}" for name in PRESETS),
    )
]


@admin.display(description=_("source"), ordering="source")
def source_column(obj) -> str:
    """A list column showing a row's source code as the user reads it."""
    return source_label(obj.source)


@admin.display(description=_("channel"), ordering="channel")
def channel_column(obj) -> str:
    """A free-text channel column (touchpoints) shown as the channel's label."""
    return str(Channel(obj.channel).label) if obj.channel in Channel.values else obj.channel


@admin.display(description=_("kind"), ordering="kind")
def touchpoint_kind_column(touchpoint: Touchpoint) -> str:
    return touchpoint_kind_label(touchpoint.kind)


# --- Paging and counting ----------------------------------------------------------------------


class LargeTablePaginator(Paginator):
    """A paginator whose count never scans a big table (omnichannel.counting.rows_count).

    `estimated` says when the count is the planner's estimate; the pagination template prints
    "about".
    """

    exact_limit = EXACT_COUNT_LIMIT
    estimated = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        counted = rows_count(queryset, exact_limit=self.exact_limit)
        self.estimated = counted.estimated
        return counted.value


# --- Searching --------------------------------------------------------------------------------


class MemberSearchMixin:
    """Search by the member a row belongs to (member number or identifier), never a LIKE scan.

    `member_search_fields` are the foreign keys to Member to match; `extra_search_q` may add
    an indexed condition of the model's own.
    """

    member_search_fields: tuple[str, ...] = ("member",)
    # What Django's own search would do; get_search_results below replaces it.
    search_fields: tuple[str, ...] = ("=member__member_no",)
    search_help_text = _(
        "A member number or an identifier (phone, email, LINE ID, card, carrier) in any spelling."
    )

    def extra_search_q(self, term: str) -> Q | None:
        return None

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        # The same rules as the member list (crm/search_policy.py): a per-person rate limit,
        # and member numbers only for a viewer who may not see personal data.
        refusal = search_rate_check(user=request.user) or search_refusal(
            user=request.user, term=term
        )
        if refusal:
            messages.warning(request, refusal)
            return queryset.none(), False
        ids = member_ids_for_term(term)
        conditions = [Q(**{f"{field}__in": ids}) for field in self.member_search_fields if ids]
        if (extra := self.extra_search_q(term)) is not None:
            conditions.append(extra)
        if not conditions:
            return queryset.none(), False
        return queryset.filter(reduce(or_, conditions)), False


# --- Filters with fixed choices (no SELECT DISTINCT over a big table) -------------------------


def choices_filter(field: str, title, choices) -> type[admin.SimpleListFilter]:
    """A list filter on a free-text column offering a fixed list of values."""

    class ChoicesFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request, model_admin):
            return list(choices)

        def queryset(self, request, queryset):
            if self.value():
                return queryset.filter(**{field: self.value()})
            return queryset

    ChoicesFilter.title = title
    ChoicesFilter.__name__ = f"{field.title()}Filter"
    return ChoicesFilter


SourceFilter = choices_filter("source", _("source"), SOURCE_CHOICES)


# --- Exports ----------------------------------------------------------------------------------


# Whether the export form being built may offer raw values (set per request: the library builds
# the form without the request). A ContextVar, so concurrent requests never see each other's.
_RAW_EXPORT_ALLOWED: ContextVar[bool] = ContextVar("raw_export_allowed", default=False)


class RawChoiceExportForm(SelectableFieldsExportForm):
    """django-import-export's export form with "raw values" (codes, UTC) for admins only."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if _RAW_EXPORT_ALLOWED.get():
            self.fields["raw"] = forms.BooleanField(
                label=_("Raw values"),
                required=False,
                help_text=_("Codes and UTC times, for developers"),
            )


class StreamingExportMixin(ExportMixin):
    """django-import-export's export page (format, columns), without building a whole Dataset.

    The library builds a tablib Dataset of every row before it answers; at a million rows that
    is gigabytes and minutes. Here a list of up to EXPORT_INLINE_MAX_ROWS rows is answered at
    once (CSV streamed row by row, XLSX written by openpyxl's write-only mode), and a larger one
    becomes an ExportJob that a worker writes while its page shows the progress
    (crm/services/exports.py).
    """

    formats = (base_formats.CSV, base_formats.XLSX)
    export_form_class = RawChoiceExportForm
    # Member data (the lists a marketer could take away) need crm.export_members as well.
    export_permission: str | None = EXPORT_MEMBERS_PERMISSION

    def has_export_permission(self, request: HttpRequest) -> bool:
        if not self.has_view_permission(request):
            return False
        return self.export_permission is None or request.user.has_perm(self.export_permission)

    def get_export_resource_kwargs(self, request: HttpRequest, **kwargs):
        kwargs = super().get_export_resource_kwargs(request, **kwargs)
        return {**kwargs, "unmask": request.user.has_perm(UNMASK_PERMISSION)}

    def export_action(self, request: HttpRequest):
        allowed = _RAW_EXPORT_ALLOWED.set(request.user.is_superuser)
        try:
            return super().export_action(request)
        finally:
            _RAW_EXPORT_ALLOWED.reset(allowed)

    # Overrides django-import-export's (4.x) file step, the one place that builds the Dataset;
    # the export form, the permission check and the queryset (the list's filters and search)
    # stay the library's.
    def _do_file_export(self, file_format, request, queryset, export_form=None):
        resource_class = self.choose_export_resource_class(export_form, request)
        raw = (
            bool(export_form and export_form.cleaned_data.get("raw")) and request.user.is_superuser
        )
        resource = resource_class(**self.get_export_resource_kwargs(request), raw=raw)
        fields = self.get_export_resource_fields_from_form(export_form)
        if queryset[: EXPORT_INLINE_MAX_ROWS + 1].count() > EXPORT_INLINE_MAX_ROWS:
            job = export_job_create(
                queryset=queryset,
                resource_class=resource_class,
                fields=fields,
                file_format=file_format.get_extension(),
                unmask=resource.unmask,
                total=LargeTablePaginator(queryset, 1).count,
                actor=request.user,
                raw=raw,
            )
            self.message_user(
                request,
                _("The list is long: a worker is writing the file. It is ready below when done."),
            )
            return redirect("admin:crm_exportjob_change", job.pk)
        filename = self.get_export_filename(request, queryset, file_format)
        export_audit_record(
            actor=request.user,
            model_label=queryset.model._meta.label_lower,
            file_format=file_format.get_extension(),
            unmask=resource.unmask,
            rows=None,
        )
        if isinstance(file_format, base_formats.XLSX):
            # FileResponse closes (and so deletes) the temporary file once it is sent.
            file = tempfile.TemporaryFile()  # noqa: SIM115
            export_xlsx_write(resource, queryset, fields, file)
            file.seek(0)
            response = FileResponse(
                file, as_attachment=True, filename=filename, content_type=XLSX_CONTENT_TYPE
            )
        else:
            response = StreamingHttpResponse(
                export_csv_chunks(resource, queryset, fields),
                content_type="text/csv; charset=utf-8",
            )
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
        post_export.send(sender=None, model=self.model)
        return response


class BoundedListAdmin(admin.ModelAdmin):
    """A list page that stays fast at a million rows.

    `masked_list_display` maps a column to the one shown instead to viewers without
    crm.unmask_personal_data (a member's number instead of "number and name", say).
    `bulk_delete` keeps Django's "delete selected" action; a big table drops it, because
    "select all" would load every row into memory to delete them one by one.
    """

    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 50
    list_max_show_all = 200
    masked_list_display: dict[str, str] = {}
    bulk_delete = False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self.bulk_delete:
            actions.pop("delete_selected", None)
        return actions

    def get_list_display(self, request):
        list_display = super().get_list_display(request)
        if not self.masked_list_display or _can_unmask(request):
            return list_display
        return tuple(self.masked_list_display.get(f, f) for f in list_display)

    @admin.display(description=_("member"))
    def member_number(self, obj) -> str:
        return obj.member.member_no if obj.member_id else "-"


class BoundedAdmin(StreamingExportMixin, BoundedListAdmin):
    """A bounded list page with django-import-export's export."""


# --- Imports ----------------------------------------------------------------------------------


class ReferenceImportMixin(ImportExportMixin):
    """django-import-export's own import (upload, dry-run diff, confirm) for small reference tables.

    The uploaded file waits between the steps in MEDIA storage, which every web machine shares.
    """

    tmp_storage_class = "import_export.tmp_storages.MediaStorage"

    def has_import_permission(self, request: HttpRequest) -> bool:
        return (
            request.user.has_perm(IMPORT_PERMISSION)
            and self.has_add_permission(request)
            and self.has_change_permission(request)
        )


class PresetImportForm(ImportUploadForm):
    def __init__(self, *args, presets: Iterable[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["preset"].choices = [(name, PRESETS[name].label) for name in presets]


class PresetImportMixin:
    """An "Import a file" button that hands the file to the preset import (an ImportJob).

    The job is the one the Imports page runs: checked in a worker, previewed with its errors and
    warnings, confirmed, imported with live progress, and ending with a report; the admin shows
    the same page for it.
    """

    import_export_change_list_template = "admin/crm/change_list_preset_import.html"
    import_presets: tuple[str, ...] = ()

    def get_urls(self):
        return [
            path(
                "import-file/",
                self.admin_site.admin_view(self.preset_import_view),
                name=f"{self.opts.app_label}_{self.opts.model_name}_import_file",
            ),
            *super().get_urls(),
        ]

    def has_preset_import_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(IMPORT_PERMISSION)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "has_preset_import_permission": self.has_preset_import_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def preset_import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_preset_import_permission(request):
            raise PermissionDenied
        form = PresetImportForm(
            request.POST or None, request.FILES or None, presets=self.import_presets
        )
        if request.method == "POST" and form.is_valid():
            job = import_job_create(
                upload=form.cleaned_data["file"],
                preset_name=form.cleaned_data["preset"],
                strict=form.cleaned_data["strict"],
                encoding=form.cleaned_data["encoding"],
                actor=request.user,
            )
            self.message_user(
                request,
                _("%(file)s is being checked; confirm the import when the preview is ready.")
                % {"file": job.original_name},
            )
            return redirect("imports:job_detail", pk=job.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import a file into %(model)s") % {"model": self.opts.verbose_name_plural},
            "opts": self.opts,
            "form": form,
            "recent_jobs": ImportJob.objects.filter(preset__in=self.import_presets)
            .select_related("created_by")
            .order_by("-pk")[:10],
        }
        return TemplateResponse(request, "admin/crm/preset_import.html", context)


# --- Merge / forget ---------------------------------------------------------------------------


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


def _can_unmask(request: HttpRequest) -> bool:
    return request.user.has_perm(UNMASK_PERMISSION)


# --- The models -------------------------------------------------------------------------------


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ("kind", "value", "source", "first_seen_at", "last_seen_at")


@admin.register(Store)
class StoreAdmin(ReferenceImportMixin, BoundedAdmin):
    bulk_delete = True
    resource_classes = (resources.StoreResource,)
    export_permission = None
    list_display = ("code", "name", "city", "opened_on")
    list_filter = ("city",)  # a few dozen stores: the distinct cities are cheap
    search_fields = ("code", "name", "city")


@admin.register(Tag)
class TagAdmin(ReferenceImportMixin, BoundedAdmin):
    bulk_delete = True
    resource_classes = (resources.TagResource,)
    export_permission = None
    list_display = ("name", "created_at")
    list_filter = (("created_at", admin.DateFieldListFilter),)
    search_fields = ("name",)
    # A tag can carry hundreds of thousands of members: too many for a form field.
    exclude = ("members",)


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


@admin.register(ImportJob)
class ImportJobAdmin(BoundedAdmin):
    """Every import, from the Imports page, the admin or anyone's upload; opened on its page."""

    bulk_delete = True
    resource_classes = (resources.ImportJobResource,)
    export_permission = None
    list_display = (
        "original_name",
        "preset",
        "status",
        "rows",
        "imported",
        "failed",
        "warnings",
        "created_by",
        "created_at",
        "job_page",
    )
    list_filter = (
        "status",
        choices_filter("preset", _("preset"), [(n, p.label) for n, p in PRESETS.items()]),
        ("created_at", admin.DateFieldListFilter),
    )
    list_select_related = ("created_by",)
    search_fields = ("original_name",)
    ordering = ("-pk",)
    fields = (
        "original_name",
        "preset",
        "strict",
        "status",
        "rows",
        "imported",
        "failed",
        "warnings",
        "members_created",
        "merges",
        "orders_written",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "job_page",
    )
    readonly_fields = fields

    @admin.display(description=_("preview, progress and report"))
    def job_page(self, job: ImportJob) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("imports:job_detail", args=[job.pk]), _("Open")
        )

    def has_add_permission(self, request) -> bool:
        return False  # files come in through "Import a file" on members and orders

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ExportJob)
class ExportJobAdmin(BoundedListAdmin):
    """Exports too long for one response: their progress, and the file for whoever asked."""

    bulk_delete = True
    list_display = (
        "__str__",
        "file_format",
        "status",
        "rows",
        "total",
        "created_by",
        "created_at",
        "finished_at",
    )
    list_filter = (
        "status",
        choices_filter("file_format", _("format"), [("csv", "CSV"), ("xlsx", "XLSX")]),
        ("created_at", admin.DateFieldListFilter),
    )
    list_select_related = ("created_by",)
    search_fields = ("=model_label",)
    ordering = ("-pk",)
    fields = (
        "model_label",
        "file_format",
        "unmask",
        "status",
        "rows",
        "total",
        "error",
        "created_by",
        "created_at",
        "finished_at",
    )
    readonly_fields = fields
    change_form_template = "admin/crm/exportjob/change_form.html"

    def get_queryset(self, request):
        # The file holds what its asker could see (unmasked or not): only they fetch it.
        queryset = super().get_queryset(request).defer("query")
        return queryset if request.user.is_superuser else queryset.filter(created_by=request.user)

    def get_urls(self):
        return [
            path(
                "<int:pk>/download/",
                self.admin_site.admin_view(self.download_view),
                name="crm_exportjob_download",
            ),
            *super().get_urls(),
        ]

    def download_view(self, request: HttpRequest, pk: int) -> FileResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(self.get_queryset(request), pk=pk, status=ExportJob.Status.DONE)
        return FileResponse(
            job.file.open("rb"), as_attachment=True, filename=job.file.name.rsplit("/", 1)[-1]
        )

    def has_add_permission(self, request) -> bool:
        return False  # made by the Export button of a long list

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(BoundedAdmin):
    """Keys of the brand's systems: made here (the key is shown once), listed, revoked."""

    bulk_delete = True
    resource_classes = (resources.ApiKeyResource,)
    export_permission = None
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


@admin.register(MemberNote)
class MemberNoteAdmin(MemberSearchMixin, BoundedListAdmin):
    """Notes written on the 360° profile; the body (free text, maybe personal) is not listed."""

    masked_list_display = {"member": "member_number"}
    list_display = ("member", "author", "at")
    list_filter = (("at", admin.DateFieldListFilter),)
    list_select_related = ("member", "author")
    sortable_by = ()
    raw_id_fields = ("member", "author")
