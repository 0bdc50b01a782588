"""Reference tables (stores, tags): small, edited and imported through django-import-export."""

from django.contrib import admin

from crm import resources
from crm.admin.base import IMPORT_PERMISSION, BoundedAdmin
from crm.models import Store, Tag
from omnichannel.admin_tools import ReferenceImportMixin


@admin.register(Store)
class StoreAdmin(ReferenceImportMixin, BoundedAdmin):
    bulk_delete = True
    resource_classes = (resources.StoreResource,)
    import_permission = IMPORT_PERMISSION
    export_permission = None
    list_display = ("code", "name", "city", "opened_on")
    list_filter = ("city",)  # a few dozen stores: the distinct cities are cheap
    search_fields = ("code", "name", "city")


@admin.register(Tag)
class TagAdmin(ReferenceImportMixin, BoundedAdmin):
    bulk_delete = True
    resource_classes = (resources.TagResource,)
    import_permission = IMPORT_PERMISSION
    export_permission = None
    list_display = ("name", "created_at")
    list_filter = (("created_at", admin.DateFieldListFilter),)
    search_fields = ("name",)
    # A tag can carry hundreds of thousands of members: too many for a form field.
    exclude = ("members",)
