"""The role matrix: three Django groups and the permissions each one holds.

Roles are declared as rules over permission codenames rather than lists, so a model that a later
migration adds joins the right roles when `migrate` runs (see OmnichannelConfig.ready).
"""

from collections.abc import Iterable

from django.utils.translation import pgettext_lazy

ADMIN = "Admin"
MARKETER = "Marketer"
ANALYST = "Analyst"
ROLES = (ADMIN, MARKETER, ANALYST)
ROLE_LABELS = {
    ADMIN: pgettext_lazy("role", "Admin"),
    MARKETER: pgettext_lazy("role", "Marketer"),
    ANALYST: pgettext_lazy("role", "Analyst"),
}

PRODUCT_APPS = ("crm", "loyalty", "campaigns", "omnichannel", "kpis")
# Custom permissions (declared in the apps' Meta.permissions) that Marketers hold and Analysts
# do not. Analysts see personal data masked and change nothing.
MARKETER_EXTRA = {
    "crm.unmask_personal_data",
    "crm.merge_member",
    "crm.forget_member",
    "crm.import_data",
    "crm.export_members",
    "crm.delete_segment",  # segments are the marketer's own work: they may remove them too
    "campaigns.launch_campaign",  # sends messages: Marketers may, Analysts only look
    "loyalty.adjust_points",  # with a mandatory reason, audited
    "loyalty.redeem_coupon",
    "loyalty.export_points",
}
ANALYST_EXTRA = {"crm.export_members", "loyalty.export_points"}


def role_allows(role: str, *, app_label: str, codename: str) -> bool:
    """Whether a role holds the permission `app_label.codename`."""
    if role == ADMIN:
        return True
    if app_label not in PRODUCT_APPS:
        return False
    full = f"{app_label}.{codename}"
    if role == MARKETER:
        return full in MARKETER_EXTRA or codename.split("_", 1)[0] in {"view", "add", "change"}
    if role == ANALYST:
        return full in ANALYST_EXTRA or codename.startswith("view_")
    return False


def sync_roles(*, group_model, permission_model) -> None:
    """Create the three groups and give each exactly the permissions the matrix allows.

    Takes the models as arguments so the data migration can pass its historical ones.
    """
    permissions = list(permission_model.objects.select_related("content_type"))
    for role in ROLES:
        group, _created = group_model.objects.get_or_create(name=role)
        allowed = [
            p.pk
            for p in permissions
            if role_allows(role, app_label=p.content_type.app_label, codename=p.codename)
        ]
        group.permissions.set(allowed)


def sync_roles_after_migrate(*, apps=None, using: str = "default", **kwargs) -> None:
    from django.contrib.auth.models import Group, Permission

    sync_roles(group_model=Group, permission_model=Permission)


def user_role(user) -> str | None:
    """The role a user holds, the strongest first; None for a user with none."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return ADMIN
    names = _group_names(user)
    return next((role for role in ROLES if role in names), None)


def _group_names(user) -> Iterable[str]:
    cached = getattr(user, "_role_group_names", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._role_group_names = cached
    return cached
