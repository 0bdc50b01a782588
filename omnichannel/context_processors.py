from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from omnichannel.roles import ROLE_LABELS, user_role


@dataclass(frozen=True)
class NavItem:
    url_name: str
    label: Promise
    icon: str
    permission: str | None = None
    staff_only: bool = False


NAVIGATION = (
    NavItem("dashboard", _("Dashboard"), "speedometer2"),
    NavItem("crm:member_list", _("Members"), "people", "crm.view_member"),
    NavItem("segments:index", _("Segments"), "diagram-3", "crm.view_segment"),
    NavItem("campaigns:index", _("Campaigns"), "megaphone", "campaigns.view_campaign"),
    NavItem("loyalty:index", _("Loyalty"), "award", "loyalty.view_pointsaccount"),
    NavItem("kpis:index", _("KPIs"), "bar-chart-line", "kpis.view_kpis"),
    NavItem("imports:job_list", _("Imports"), "cloud-upload", "crm.import_data"),
    NavItem("audit", _("Audit trail"), "journal-check", "omnichannel.read_audit"),
    NavItem("admin:index", _("Admin"), "gear", staff_only=True),
)


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    current = request.resolver_match.view_name if request.resolver_match else ""
    items = [
        {
            "item": item,
            "active": current == item.url_name
            or (
                item.url_name != "dashboard"
                and current.startswith(item.url_name.split(":")[0] + ":")
            ),
        }
        for item in NAVIGATION
        if (item.permission is None or user.has_perm(item.permission))
        and (not item.staff_only or user.is_staff)
    ]
    role = user_role(user)
    return {
        "nav_items": items,
        "user_role": role,
        "user_role_label": ROLE_LABELS.get(role, ""),
        "can_unmask": user.has_perm("crm.unmask_personal_data"),
    }
