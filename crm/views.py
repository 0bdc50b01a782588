from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from crm.selectors import member_page
from omnichannel.http import HtmxHttpRequest


@require_GET
@vary_on_headers("HX-Request")
@permission_required("crm.view_member", raise_exception=True)
def member_list(request: HtmxHttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    try:
        before = int(request.GET["before"]) if request.GET.get("before") else None
    except ValueError:
        before = None
    members, next_before = member_page(query=query, before=before)
    template = "crm/member_list.html"
    # A history restore asks for the whole page again, so it gets the whole page.
    if request.htmx and not request.htmx.history_restore_request:
        # "Load more" appends rows; a search swaps the whole result table.
        template += "#member-rows" if before is not None else "#member-results"
    context = {"members": members, "next_before": next_before, "query": query}
    return render(request, template, context)
