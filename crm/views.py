"""The member list (/members/): search, filters, keyset paging, export and bulk tag actions.

Everything the list shows is in the URL (a GET form), so a search or a filtered list can be
bookmarked and shared; the export and the bulk actions take the same query string, so they
act on exactly the members the page lists.
"""

from dataclasses import replace
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.http import FileResponse, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from crm.forms import BulkTagForm, ExportForm, MemberFilterForm
from crm.list_filters import member_list_filters
from crm.models import ExportJob, Member, Segment, Store, Tag
from crm.resources import MemberListResource
from crm.search_policy import may_search_personal_data, search_rate_check, search_refusal
from crm.selectors import (
    DEFAULT_MEMBER_SORT,
    MEMBER_SORTS,
    InvalidCursor,
    MemberListFilters,
    MemberListPage,
    member_list_page,
    member_list_queryset,
    members_tag_change_count,
)
from crm.services.exports import ExportError, export_job_create
from crm.services.tags import members_tag_add, members_tag_remove
from omnichannel.htmx import htmx_partial, wants_partial
from omnichannel.http import HtmxHttpRequest
from omnichannel.permissions import permission_required

EXPORT_PERMISSION = "crm.export_members"
UNMASK_PERMISSION = "crm.unmask_personal_data"
BULK_TAG_PERMISSION = "crm.change_tag"
RECENT_EXPORTS = 3
RECENT_EXPORTS_DAYS = 7
ERROR_BROKEN_PAGE_LINK = gettext_lazy("That page link no longer works: here is the first page.")
MEMBER_LABEL = Member._meta.label_lower

# Query-string keys that choose members (not the page or the order): exports and bulk
# actions carry these.
FILTER_KEYS = (
    "q",
    "segment",
    "channel",
    "bought",
    "tag",
    "consent_channel",
    "consent",
    "store",
)


def _filter_keys() -> tuple[str, ...]:
    """crm's filter keys and those of the filters other apps registered (crm.list_filters)."""
    return (*FILTER_KEYS, *(list_filter.key for list_filter in member_list_filters()))


def _filters_from(query: QueryDict, tags: list[Tag]) -> tuple[MemberFilterForm, MemberListFilters]:
    stores = list(Store.objects.only("pk", "name"))
    segments = list(Segment.objects.only("pk", "name", "ready_made", "definition").order_by("name"))
    form = MemberFilterForm(query, tags=tags, stores=stores, segments=segments)
    form.is_valid()  # errors show beside their fields; valid fields still filter
    return form, form.filters()


def _viewer_filters(request: HtmxHttpRequest, tags: list[Tag]):
    """The list's filters as this viewer may apply them: q finds member numbers only for a
    viewer without crm.unmask_personal_data (crm/search_policy.py)."""
    form, filters = _filters_from(request.GET, tags)
    return form, replace(filters, personal_search=may_search_personal_data(request.user))


def _tags() -> list[Tag]:
    return list(Tag.objects.only("pk", "name").order_by("name"))


def _filter_query(query: QueryDict) -> str:
    """The query string of the list's filters alone (for export, bulk actions, going back)."""
    return urlencode([(k, v) for k in _filter_keys() for v in query.getlist(k) if v])


def _recent_exports(user) -> list[ExportJob]:
    since = timezone.now() - timedelta(days=RECENT_EXPORTS_DAYS)
    jobs = ExportJob.objects.defer("query").filter(
        created_by=user, model_label=MEMBER_LABEL, created_at__gte=since
    )
    return list(jobs.order_by("-pk")[:RECENT_EXPORTS])


@require_GET
@vary_on_headers("HX-Request")
@permission_required("crm.view_member", raise_exception=True)
def member_list(request: HtmxHttpRequest) -> HttpResponse:
    tags = _tags()
    form, filters = _viewer_filters(request, tags)
    after = request.GET.get("after", "")
    term = filters.q.strip()
    # A new search counts against the person's limit; "load more" of the same one does not.
    search_error = search_rate_check(user=request.user) if term and not after else None
    status = 429 if search_error else 200
    search_error = search_error or search_refusal(user=request.user, term=term)
    if search_error:
        page = MemberListPage(members=[], next_cursor=None, sort=MEMBER_SORTS[DEFAULT_MEMBER_SORT])
    else:
        try:
            # "Load more" only appends rows: the count stays as the page first showed it.
            page = member_list_page(
                filters=filters, sort_key=form.sort_key, after=after, with_count=not after
            )
        except InvalidCursor:
            messages.warning(request, ERROR_BROKEN_PAGE_LINK)
            after = ""
            page = member_list_page(filters=filters, sort_key=form.sort_key, with_count=True)
    # "Load more" appends rows; a search, a filter or a new order swaps the results.
    template = htmx_partial(
        request, "crm/member_list.html", "member-rows" if after else "member-results"
    )
    filter_query = _filter_query(request.GET)
    context = {
        "count": page.count,
        "form": form,
        "page": page,
        "members": page.members,
        "filtered": any(request.GET.get(k) for k in _filter_keys()),
        "filter_query": filter_query,
        "sort": page.sort.key,
        "can_export": request.user.has_perm(EXPORT_PERMISSION),
        "can_bulk_tag": request.user.has_perm(BULK_TAG_PERMISSION),
        "search_error": search_error,
        "can_sort_by_name": may_search_personal_data(request.user),
    }
    context["bulk_form"] = BulkTagForm(tags=tags) if context["can_bulk_tag"] else None
    if not wants_partial(request):
        context["exports"] = _recent_exports(request.user) if context["can_export"] else []
    return render(request, template, context, status=status)


def _list_url(filter_query: str) -> str:
    url = reverse("crm:member_list")
    return f"{url}?{filter_query}" if filter_query else url


# --- Export -----------------------------------------------------------------------------------


@require_POST
@permission_required(EXPORT_PERMISSION, raise_exception=True)
def member_export(request: HtmxHttpRequest) -> HttpResponse:
    """Queue an export of the filtered list (the filters are this request's query string)."""
    _form, filters = _viewer_filters(request, _tags())
    if refusal := search_refusal(user=request.user, term=filters.q):
        messages.error(request, refusal)
        return redirect(reverse("crm:member_list"))
    export_form = ExportForm(request.POST)
    filter_query = _filter_query(request.GET)
    if not export_form.is_valid():
        messages.error(request, _("Choose CSV or XLSX."))
        return redirect(_list_url(filter_query))
    members = member_list_queryset(filters=filters).order_by("pk")
    try:
        job = export_job_create(
            queryset=members,
            resource_class=MemberListResource,
            fields=None,
            file_format=export_form.cleaned_data["file_format"],
            unmask=request.user.has_perm(UNMASK_PERMISSION),
            total=members.count(),
            actor=request.user,
            raw=export_form.cleaned_data["raw"] and request.user.is_superuser,
        )
    except ExportError as exc:
        messages.error(request, str(exc))
        return redirect(_list_url(filter_query))
    if request.htmx:
        return render(request, "crm/member_list.html#export-job", {"job": job})
    return redirect(_list_url(filter_query))


def _own_export(request: HtmxHttpRequest, pk: int, **extra) -> ExportJob:
    # The file holds what its asker could see (unmasked or not): only they fetch it.
    jobs = ExportJob.objects.defer("query").filter(
        created_by=request.user, model_label=MEMBER_LABEL
    )
    return get_object_or_404(jobs, pk=pk, **extra)


@require_GET
@permission_required(EXPORT_PERMISSION, raise_exception=True)
def member_export_status(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """One export's progress (htmx polls it every second until it is done)."""
    job = _own_export(request, pk)
    if not request.htmx:
        return redirect("crm:member_list")
    return render(request, "crm/member_list.html#export-job", {"job": job})


@require_GET
@permission_required(EXPORT_PERMISSION, raise_exception=True)
def member_export_download(request: HtmxHttpRequest, pk: int) -> FileResponse:
    job = _own_export(request, pk, status=ExportJob.Status.DONE)
    return FileResponse(
        job.file.open("rb"), as_attachment=True, filename=job.file.name.rsplit("/", 1)[-1]
    )


# --- Bulk tag actions -------------------------------------------------------------------------


@require_POST
@permission_required(BULK_TAG_PERMISSION, raise_exception=True)
def member_bulk_tag(request: HtmxHttpRequest) -> HttpResponse:
    """Add or remove a tag on every member of the filtered list, after a confirmation.

    The first POST counts the members it would change and asks; the second (confirm=1)
    changes them with one statement and goes back to the list.
    """
    tags = _tags()
    _form, filters = _viewer_filters(request, tags)
    filter_query = _filter_query(request.GET)
    form = BulkTagForm(request.POST, tags=tags)
    if not form.is_valid():
        messages.error(request, _("Choose a tag and whether to add or remove it."))
        return redirect(_list_url(filter_query))
    tag, adding = form.chosen_tag, form.cleaned_data["action"] == BulkTagForm.ADD
    members = member_list_queryset(filters=filters)
    if not form.cleaned_data["confirm"]:
        context = {
            "form": form,
            "tag": tag,
            "adding": adding,
            "count": members_tag_change_count(members=members, tag=tag, add=adding),
            "filter_query": filter_query,
            "list_url": _list_url(filter_query),
        }
        # A POST is never a history restore: htmx gets the confirmation's partial.
        template = htmx_partial(request, "crm/member_bulk_confirm.html", "bulk-confirm")
        return render(request, template, context)
    if adding:
        changed = members_tag_add(members=members, tag=tag, actor=request.user)
        text = ngettext(
            "Tag “%(tag)s” added to %(count)s member.",
            "Tag “%(tag)s” added to %(count)s members.",
            changed,
        )
    else:
        changed = members_tag_remove(members=members, tag=tag, actor=request.user)
        text = ngettext(
            "Tag “%(tag)s” removed from %(count)s member.",
            "Tag “%(tag)s” removed from %(count)s members.",
            changed,
        )
    messages.success(request, text % {"tag": tag.name, "count": f"{changed:,}"})
    return redirect(_list_url(filter_query))
