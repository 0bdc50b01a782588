"""The programme overview (/loyalty/) and a member's points history, its export and the manual
adjustment form.

Thin views: each checks its permission, reads through loyalty.selectors_overview or calls one
service (points_adjust, crm's export_job_create) and renders the page or, for htmx, the part
it swaps. The period and the history's filters live in the URL (GET forms), so a view can be
bookmarked; a wrong value is shown beside its field and the page shows the default instead.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from crm.models import ExportJob, Member
from crm.selectors import member_by_number
from crm.services.exports import ExportError, export_job_create
from crm.services.identity import member_survivor
from loyalty.charts import overview_chart, series_labels
from loyalty.forms_overview import (
    AdjustForm,
    ExportFormatForm,
    HistoryFilterForm,
    PeriodForm,
    period_presets,
)
from loyalty.models import PointsTransaction
from loyalty.resources import PointsHistoryResource
from loyalty.selectors_overview import (
    InvalidHistoryCursor,
    points_account_of,
    points_history,
    points_history_page,
    programme_overview,
)
from loyalty.services.adjustments import AdjustmentInvalid, InsufficientPoints, points_adjust
from omnichannel.exports import csv_chunks
from omnichannel.htmx import htmx_partial, wants_partial
from omnichannel.http import HtmxHttpRequest
from omnichannel.permissions import MissingPermission, permission_required

VIEW_PERMISSION = "loyalty.view_pointsaccount"
ADJUST_PERMISSION = "loyalty.adjust_points"
EXPORT_PERMISSION = "loyalty.export_points"
UNMASK_PERMISSION = "crm.unmask_personal_data"
HISTORY_TEMPLATE = "loyalty/member_points.html"
HISTORY_LABEL = PointsTransaction._meta.label_lower
RECENT_EXPORTS = 3
FILTER_KEYS = ("kind", "start", "end")
ERROR_BROKEN_PAGE_LINK = gettext_lazy("That page link no longer works: here is the first page.")
ERROR_NO_MEMBER = gettext_lazy("No member has this number.")


# --- The overview -------------------------------------------------------------------------------


@require_GET
@vary_on_headers("HX-Request")
@permission_required(VIEW_PERMISSION)
def overview(request: HtmxHttpRequest) -> HttpResponse:
    """The programme at a glance for a period: points, liability and breakage, tiers, rewards."""
    form = PeriodForm(request.GET)
    form.is_valid()  # errors show beside their fields; the page shows the default period
    period = form.period()
    if not form.errors:
        # The inputs show the period the figures are for (the default one too).
        form = PeriodForm(initial={"start": period.start, "end": period.end})
    figures = programme_overview(period=period)
    context = {
        "form": form,
        "figures": figures,
        "chart": overview_chart(figures.series, unit=figures.series_unit),
        "presets": period_presets(),
        "period_query": urlencode({"start": period.start, "end": period.end}),
    }
    template = htmx_partial(request, "loyalty/overview.html", "overview-figures")
    return render(request, template, context)


@require_GET
@permission_required(VIEW_PERMISSION)
def overview_csv(request: HtmxHttpRequest) -> StreamingHttpResponse:
    """The chart's numbers as CSV (UI.md: every chart offers its numbers)."""
    form = PeriodForm(request.GET)
    form.is_valid()
    period = form.period()
    figures = programme_overview(period=period)
    labels = series_labels()
    headers = [_("Period starting"), labels["issued"], labels["redeemed"], labels["expired"]]
    rows = ([p.bucket, p.issued, p.redeemed, p.expired] for p in figures.series)
    response = StreamingHttpResponse(
        csv_chunks(headers, rows, raw=False), content_type="text/csv; charset=utf-8"
    )
    name = f"loyalty-points-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
@permission_required(VIEW_PERMISSION)
def member_find(request: HtmxHttpRequest) -> HttpResponse:
    """The overview's "a member's points" box: a member number → that member's history."""
    member_no = request.GET.get("member_no", "").strip()
    member = member_by_number(member_no=member_no) if member_no else None
    if member is None:
        messages.warning(request, ERROR_NO_MEMBER)
        return redirect("loyalty:index")
    return redirect("loyalty:member_points", member_no=member.member_no)


# --- A member's points history --------------------------------------------------------------------


def _member_or_404(member_no: str) -> Member:
    member = member_by_number(member_no=member_no)
    if member is None:
        raise Http404(ERROR_NO_MEMBER)
    return member


def _filter_query(request: HtmxHttpRequest) -> str:
    return urlencode([(key, request.GET[key]) for key in FILTER_KEYS if request.GET.get(key)])


def _recent_exports(user) -> list[ExportJob]:
    jobs = ExportJob.objects.defer("query").filter(created_by=user, model_label=HISTORY_LABEL)
    return list(jobs.order_by("-pk")[:RECENT_EXPORTS])


def _history_context(request: HtmxHttpRequest, member: Member, adjust_form=None) -> dict:
    filter_form = HistoryFilterForm(request.GET)
    filter_form.is_valid()
    account = points_account_of(member_id=member.pk)
    after = request.GET.get("after", "")
    page = None
    if account is not None:
        try:
            page = points_history_page(
                account_id=account.pk, filters=filter_form.filters(), after=after
            )
        except InvalidHistoryCursor:
            messages.warning(request, ERROR_BROKEN_PAGE_LINK)
            page = points_history_page(account_id=account.pk, filters=filter_form.filters())
    can_adjust = request.user.has_perm(ADJUST_PERMISSION) and member.status == Member.Status.ACTIVE
    can_export = request.user.has_perm(EXPORT_PERMISSION)
    if can_adjust and adjust_form is None:
        adjust_form = AdjustForm()
    return {
        "member": member,
        "account": account,
        "filter_form": filter_form,
        "page": page,
        "filter_query": _filter_query(request),
        "can_adjust": can_adjust,
        "adjust_form": adjust_form if can_adjust else None,
        "can_export": can_export,
        "exports": _recent_exports(request.user) if can_export else [],
    }


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@permission_required(VIEW_PERMISSION)
def member_points(request: HtmxHttpRequest, member_no: str) -> HttpResponse:
    """Every ledger entry of a member, newest first (filters in the URL, keyset paging); for a
    user with loyalty.adjust_points, the form that adjusts the points by hand (POST)."""
    member = _member_or_404(member_no)
    if request.method == "POST":
        # Before the merged member's redirect: a POST redirected would lose what was typed;
        # points_adjust refuses a merged member with a message beside the form.
        return _adjust(request, member)
    if member.status == Member.Status.MERGED:
        survivor = member_survivor(member_no=member.member_no)
        if survivor is not None:
            return redirect("loyalty:member_points", member_no=survivor.member_no)
    context = _history_context(request, member)
    if wants_partial(request):
        partial = "history-rows" if request.GET.get("after") else "history"
        return render(request, f"{HISTORY_TEMPLATE}#{partial}", context)
    return render(request, HISTORY_TEMPLATE, context)


def _adjust(request: HtmxHttpRequest, member: Member) -> HttpResponse:
    if not request.user.has_perm(ADJUST_PERMISSION):
        raise MissingPermission((ADJUST_PERMISSION,))
    form = AdjustForm(request.POST)
    if form.is_valid():
        try:
            entry = points_adjust(
                member=member,
                points=form.cleaned_data["points"],
                reason=form.cleaned_data["reason"],
                actor_id=request.user.pk,
                idempotency_key=form.cleaned_data["token"],
            )
        except InsufficientPoints as exc:
            form.add_error("points", str(exc))
        except AdjustmentInvalid as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                _("%(points)s points adjusted: the balance is now %(balance)s.")
                % {"points": f"{entry.points:+,}", "balance": f"{entry.balance_after:,}"},
            )
            url = reverse("loyalty:member_points", kwargs={"member_no": member.member_no})
            query = _filter_query(request)
            return redirect(f"{url}?{query}" if query else url)
    # What the user typed stays in the form, each error beside its field.
    context = _history_context(request, member, adjust_form=form)
    return render(request, HISTORY_TEMPLATE, context, status=400)


# --- Export ---------------------------------------------------------------------------------------


@require_POST
@permission_required(EXPORT_PERMISSION)
def member_points_export(request: HtmxHttpRequest, member_no: str) -> HttpResponse:
    """Queue the export of the member's history as filtered (the filters: the query string)."""
    member = _member_or_404(member_no)
    url = reverse("loyalty:member_points", kwargs={"member_no": member.member_no})
    query = _filter_query(request)
    back = f"{url}?{query}" if query else url
    account = points_account_of(member_id=member.pk)
    export_form = ExportFormatForm(request.POST)
    if account is None or not export_form.is_valid():
        messages.error(request, _("Choose CSV or XLSX.") if account else _("No points yet."))
        return redirect(back)
    filter_form = HistoryFilterForm(request.GET)
    filter_form.is_valid()
    entries = points_history(account_id=account.pk, filters=filter_form.filters())
    try:
        job = export_job_create(
            queryset=entries,
            resource_class=PointsHistoryResource,
            fields=None,
            file_format=export_form.cleaned_data["file_format"],
            unmask=request.user.has_perm(UNMASK_PERMISSION),
            total=entries.count(),
            actor=request.user,
        )
    except ExportError as exc:
        messages.error(request, str(exc))
        return redirect(back)
    if request.htmx:
        return render(request, f"{HISTORY_TEMPLATE}#export-job", {"job": job})
    return redirect(back)


def _own_export(request: HtmxHttpRequest, pk: int, **extra) -> ExportJob:
    # The file holds what its asker could see: only they fetch it.
    jobs = ExportJob.objects.defer("query").filter(
        created_by=request.user, model_label=HISTORY_LABEL
    )
    return get_object_or_404(jobs, pk=pk, **extra)


@require_GET
@permission_required(EXPORT_PERMISSION)
def points_export_status(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """One export's progress (htmx polls it every second until it is done)."""
    job = _own_export(request, pk)
    if not request.htmx:
        return redirect("loyalty:index")
    return render(request, f"{HISTORY_TEMPLATE}#export-job", {"job": job})


@require_GET
@permission_required(EXPORT_PERMISSION)
def points_export_download(request: HtmxHttpRequest, pk: int) -> FileResponse:
    job = _own_export(request, pk, status=ExportJob.Status.DONE)
    return FileResponse(
        job.file.open("rb"), as_attachment=True, filename=job.file.name.rsplit("/", 1)[-1]
    )
