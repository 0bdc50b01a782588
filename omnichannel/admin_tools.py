"""Django admin tools for tables of a million rows, shared by every app's admin.

- `LargeTablePaginator`: no COUNT(*) of a whole table (exact up to a limit, then the planner's
  estimate on PostgreSQL; templates/admin/pagination.html says "about").
- `choices_filter`: a list filter on a free-text column offering a fixed list of values, instead
  of Django's SELECT DISTINCT over the table.
- `BoundedListAdmin`: a list page that stays fast (bounded paging, no "select all" delete, a
  column shown masked to viewers without the app's unmask permission).
- `StreamingExportMixin` (with `RawChoiceExportForm`): django-import-export's export page
  without building the whole Dataset in memory; a short list streams at once, a long one goes to
  the app's background export (`export_in_background`). `BoundedAdmin` is both together.
- `ReferenceImportMixin`: django-import-export's own import (upload, dry-run diff, confirm) for
  small reference tables.

Nothing here knows an app: what an app's admin is about (its permissions, its job tables, its
searches) comes in through class attributes and the `export_in_background` hook. crm's
configuration of these tools is crm/admin/base.py.
"""

import tempfile
from contextvars import ContextVar
from functools import cached_property

from django import forms
from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin, ImportExportMixin
from import_export.formats import base_formats
from import_export.forms import SelectableFieldsExportForm
from import_export.signals import post_export

from omnichannel.audit import export_audit_record
from omnichannel.counting import EXACT_COUNT_LIMIT, rows_count
from omnichannel.exports import EXPORT_INLINE_MAX_ROWS, export_csv_chunks, export_xlsx_write

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ERROR_LIST_TOO_LONG = _(
    "This list is too long to export at once: narrow it with the search or the filters."
)


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


# --- List pages -------------------------------------------------------------------------------


def can_unmask(model_admin, request: HttpRequest) -> bool:
    """Whether the viewer may see the admin's personal data unmasked (never without a permission
    to ask for: an admin with no `unmask_permission` shows and exports masked values)."""
    permission = getattr(model_admin, "unmask_permission", None)
    return permission is not None and request.user.has_perm(permission)


class BoundedListAdmin(admin.ModelAdmin):
    """A list page that stays fast at a million rows.

    `masked_list_display` maps a column to the one shown instead to viewers without
    `unmask_permission` (a member's number instead of "number and name", say).
    `bulk_delete` keeps Django's "delete selected" action; a big table drops it, because
    "select all" would load every row into memory to delete them one by one.
    """

    show_full_result_count = False
    paginator = LargeTablePaginator
    list_per_page = 50
    list_max_show_all = 200
    masked_list_display: dict[str, str] = {}
    unmask_permission: str | None = None
    bulk_delete = False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self.bulk_delete:
            actions.pop("delete_selected", None)
        return actions

    def get_list_display(self, request):
        list_display = super().get_list_display(request)
        if not self.masked_list_display or can_unmask(self, request):
            return list_display
        return tuple(self.masked_list_display.get(f, f) for f in list_display)


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
    is gigabytes and minutes. Here a list of up to `export_inline_max_rows` rows is answered at
    once (CSV streamed row by row, XLSX written by openpyxl's write-only mode) and audited; a
    larger one goes to `export_in_background`, the app's job that a worker writes (crm's
    ExportJob: crm/admin/base.py).

    The resources take `unmask` (the viewer has `unmask_permission`) and `raw` (codes and UTC,
    for superusers), as crm's CrmResource does. `export_permission`, when set, is needed on top
    of the view permission (crm's member data: crm.export_members).
    """

    formats = (base_formats.CSV, base_formats.XLSX)
    export_form_class = RawChoiceExportForm
    export_permission: str | None = None
    unmask_permission: str | None  # BoundedListAdmin's (None there); read through can_unmask
    export_inline_max_rows = EXPORT_INLINE_MAX_ROWS

    def has_export_permission(self, request: HttpRequest) -> bool:
        if not self.has_view_permission(request):
            return False
        return self.export_permission is None or request.user.has_perm(self.export_permission)

    def get_export_resource_kwargs(self, request: HttpRequest, **kwargs):
        kwargs = super().get_export_resource_kwargs(request, **kwargs)
        return {**kwargs, "unmask": can_unmask(self, request)}

    def export_action(self, request: HttpRequest):
        allowed = _RAW_EXPORT_ALLOWED.set(request.user.is_superuser)
        try:
            return super().export_action(request)
        finally:
            _RAW_EXPORT_ALLOWED.reset(allowed)

    def export_in_background(
        self,
        request: HttpRequest,
        *,
        queryset: QuerySet,
        resource_class: type,
        fields,
        file_format: str,
        unmask: bool,
        raw: bool,
    ) -> HttpResponse:
        """The answer to a list longer than `export_inline_max_rows`: an app queues its export
        job here and redirects to its page. Without one the list is refused, never built whole."""
        self.message_user(request, ERROR_LIST_TOO_LONG, level="error")
        return redirect(request.get_full_path())

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
        limit = self.export_inline_max_rows
        if queryset[: limit + 1].count() > limit:
            return self.export_in_background(
                request,
                queryset=queryset,
                resource_class=resource_class,
                fields=fields,
                file_format=file_format.get_extension(),
                unmask=resource.unmask,
                raw=raw,
            )
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


class BoundedAdmin(StreamingExportMixin, BoundedListAdmin):
    """A bounded list page with django-import-export's export."""


# --- Imports ----------------------------------------------------------------------------------


class ReferenceImportMixin(ImportExportMixin):
    """django-import-export's own import (upload, dry-run diff, confirm) for small reference tables.

    The uploaded file waits between the steps in MEDIA storage, which every web machine shares.
    Importing needs the model's add and change permissions, and `import_permission` when set.
    """

    tmp_storage_class = "import_export.tmp_storages.MediaStorage"
    import_permission: str | None = None

    def has_import_permission(self, request: HttpRequest) -> bool:
        return (
            (self.import_permission is None or request.user.has_perm(self.import_permission))
            and self.has_add_permission(request)
            and self.has_change_permission(request)
        )
