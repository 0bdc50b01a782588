"""crm's admin is a package split by concern (crm/admin/); importing it registers every admin."""

from django.contrib import admin

from crm.admin.base import EXPORT_MEMBERS_PERMISSION, UNMASK_PERMISSION
from omnichannel.admin_tools import BoundedListAdmin

# Each model's admin and the module of its concern.
CRM_ADMINS = {
    "Member": "members",
    "Identity": "members",
    "Consent": "members",
    "Order": "orders",
    "Touchpoint": "orders",
    "MergeLog": "merges",
    "ErasureLog": "merges",
    "ImportJob": "jobs",
    "ExportJob": "jobs",
    "ApiKey": "api_keys",
    "Store": "reference",
    "Tag": "reference",
    "MemberNote": "notes",
}


def crm_admins() -> dict[str, admin.ModelAdmin]:
    return {
        model.__name__: model_admin
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label == "crm"
    }


def test_every_crm_admin_is_registered_from_its_concern():
    registered = crm_admins()

    assert {name: type(a).__module__ for name, a in registered.items()} == {
        name: f"crm.admin.{module}" for name, module in CRM_ADMINS.items()
    }


def test_every_crm_admin_is_bounded_and_masks_for_those_who_may_not_unmask():
    for name, model_admin in crm_admins().items():
        assert isinstance(model_admin, BoundedListAdmin), name
        assert model_admin.unmask_permission == UNMASK_PERMISSION, name


def test_member_data_exports_need_the_member_export_permission():
    without = {"ImportJob", "ApiKey", "Store", "Tag"}  # no member data; ExportJob has no export
    for name, model_admin in crm_admins().items():
        if not hasattr(model_admin, "export_permission"):
            continue
        expected = None if name in without else EXPORT_MEMBERS_PERMISSION
        assert model_admin.export_permission == expected, name
