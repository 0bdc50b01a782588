"""The KPI pages: one shell (filters, tiles, charts, CSV) for every registered page."""

import logging

from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from omnichannel.exports import csv_chunks
from omnichannel.htmx import htmx_partial
from omnichannel.http import HtmxHttpRequest
from omnichannel.kpis.filters import KpiFilterForm, KpiFilters, period_presets
from omnichannel.kpis.registry import PAGES, Chart, KpiContent, KpiPage, pages_in_order
from omnichannel.kpis.selectors import rollups_refreshed_at
from omnichannel.permissions import permission_required

logger = logging.getLogger(__name__)
VIEW_PERMISSION = "kpis.view_kpis"
ERROR_SECTION_FAILED = _("This part of the page could not be computed; the error is logged.")


def _page(slug: str) -> KpiPage:
    page = PAGES.get(slug)
    if page is None:
        raise Http404(slug)
    return page


def page_content(page: KpiPage, filters: KpiFilters) -> tuple[KpiContent, list[str]]:
    """Every section of the page, each on its own: a section that raises is logged and named
    in the returned errors, the others still show."""
    tiles, charts, notes, errors = [], [], [], []
    for section in page.sections:
        try:
            content = section(filters)
        except Exception:
            logger.exception("KPI page %s: section %s failed", page.slug, section.__name__)
            errors.append(section.__name__)
            continue
        tiles += content.tiles
        charts += content.charts
        notes += content.notes
    return KpiContent(tiles=tiles, charts=charts, notes=notes), errors


def section_chart(page: KpiPage, filters: KpiFilters, key: str) -> Chart | None:
    """One chart of the page: its sections built one by one, stopping at the one that has
    `key` (a CSV download computes only what it needs); a section that raises is logged and
    skipped, as on the page."""
    for section in page.sections:
        try:
            content = section(filters)
        except Exception:
            logger.exception("KPI page %s: section %s failed", page.slug, section.__name__)
            continue
        chart = content.chart(key)
        if chart is not None:
            return chart
    return None


@require_GET
@permission_required(VIEW_PERMISSION)
def index(request: HtmxHttpRequest) -> HttpResponse:
    """/kpis/: the first page, with the filters the link carried."""
    pages = pages_in_order()
    if not pages:
        raise Http404("no KPI page is registered")
    url = reverse("kpis:page", args=[pages[0].slug])
    query = request.GET.urlencode()
    return redirect(f"{url}?{query}" if query else url)


@require_GET
@vary_on_headers("HX-Request")
@permission_required(VIEW_PERMISSION)
def page(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    kpi_page = _page(slug)
    form = KpiFilterForm(request.GET or None, channels=kpi_page.channels)
    filters = form.filters()
    content, errors = page_content(kpi_page, filters)
    context = {
        "page": kpi_page,
        "pages": pages_in_order(),
        "form": form,
        "filters": filters,
        "query": filters.query(),
        "presets": period_presets(filters),
        "content": content,
        "section_errors": errors,
        "section_failed": ERROR_SECTION_FAILED,
        "refreshed_at": rollups_refreshed_at(),
    }
    return render(request, htmx_partial(request, "kpis/page.html", "kpi-body"), context)


@require_GET
@permission_required(VIEW_PERMISSION)
def chart_csv(request: HtmxHttpRequest, slug: str, key: str) -> StreamingHttpResponse:
    """A chart's numbers as CSV, for the same filters (UTF-8 with a BOM, for Excel)."""
    kpi_page = _page(slug)
    filters = KpiFilterForm(request.GET or None, channels=kpi_page.channels).filters()
    chart = section_chart(kpi_page, filters, key)
    if chart is None:
        raise Http404(key)
    response = StreamingHttpResponse(
        csv_chunks([str(header) for header in chart.headers], chart.rows, raw=False),
        content_type="text/csv; charset=utf-8",
    )
    name = f"kpis-{slug}-{key}-{filters.start:%Y%m%d}-{filters.end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
