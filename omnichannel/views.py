from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import requires_csrf_token
from django.views.decorators.http import require_GET

from omnichannel import health
from omnichannel.audit import InvalidAuditCursor, audit_events_page
from omnichannel.forms import AuditFilterForm
from omnichannel.kpis.headlines import headline_tiles, home_filters, revenue_split
from omnichannel.kpis.selectors import rollups_refreshed_at
from omnichannel.kpis.views import ERROR_SECTION_FAILED, VIEW_PERMISSION
from omnichannel.roles import ROLE_LABELS, ROLES, role_allows, user_role


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The KPI areas' headline figures, the last 30 days against the 30 before, each linking
    to its KPI page; a user who may not see the KPI pages sees none of their figures."""
    can_view_kpis = request.user.has_perm(VIEW_PERMISSION)
    context: dict = {"can_view_kpis": can_view_kpis}
    if can_view_kpis:
        filters = home_filters()
        context |= {
            "filters": filters,
            "query": filters.query(),
            "headlines": headline_tiles(filters),
            "split": revenue_split(filters),
            "refreshed_at": rollups_refreshed_at(),
            "section_failed": ERROR_SECTION_FAILED,
        }
    return render(request, "omnichannel/dashboard.html", context)


@require_GET
@permission_required("omnichannel.read_audit", raise_exception=True)
def audit_log(request: HttpRequest) -> HttpResponse:
    """Who exported, merged, undid, erased, changed consent or handled API keys, and when."""
    form = AuditFilterForm(request.GET)
    form.is_valid()  # errors show beside their fields; valid fields still filter
    after = request.GET.get("after", "")
    try:
        page = audit_events_page(filters=form.filters(), after=after)
    except InvalidAuditCursor:
        messages.warning(request, _("That page link no longer works: here is the first page."))
        after = ""
        page = audit_events_page(filters=form.filters())
    query = request.GET.copy()
    query.pop("after", None)
    context = {"form": form, "page": page, "filter_query": query.urlencode(), "after": after}
    return render(request, "omnichannel/audit.html", context)


@require_GET
@login_not_required
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": health.check_database(), "broker": health.check_broker()}
    failed = {name: reason for name, reason in checks.items() if reason}
    body = {
        "status": "fail" if failed else "ok",
        "checks": {name: reason or "ok" for name, reason in checks.items()},
    }
    return JsonResponse(body, status=503 if failed else 200)


# --- Error pages -----------------------------------------------------------------------------
# In the product's layout and language: what happened and what to do next. Wired in
# omnichannel/urls.py as handler403/404/500; they only show when DEBUG is off.


def _roles_holding(permissions: tuple[str, ...]) -> list[str]:
    """The labels of the roles that hold every one of these permissions."""
    return [
        str(ROLE_LABELS[role])
        for role in ROLES
        if all(
            role_allows(role, app_label=p.split(".", 1)[0], codename=p.split(".", 1)[1])
            for p in permissions
        )
    ]


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    permissions = getattr(exception, "permissions", ())
    context = {
        "permissions": permissions,
        "roles": _roles_holding(permissions) if permissions else [],
        "role": ROLE_LABELS.get(user_role(request.user), "") if request.user else "",
    }
    return render(request, "403.html", context, status=403)


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "404.html", {"path": request.path}, status=404)


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    # No RequestContext: the context processors read the user and the database, either of which
    # may be what failed. The template needs nothing but the active language.
    return HttpResponseServerError(loader.get_template("500.html").render())
