"""The shared large-table admin tools (omnichannel/admin_tools.py) serve an app that is not crm.

They are tried on omnichannel's own AuditEvent with a plain resource, the way loyalty's and
campaigns' admins will use them for their tables: nothing here comes from crm.
"""

import ast
import csv
import io
from pathlib import Path

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from import_export import resources
from import_export.formats import base_formats

from omnichannel import admin_tools
from omnichannel.admin_tools import (
    BoundedAdmin,
    BoundedListAdmin,
    LargeTablePaginator,
    ReferenceImportMixin,
    choices_filter,
)
from omnichannel.audit import audit_record
from omnichannel.models import AuditEvent

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action


class AuditEventResource(resources.ModelResource):
    """A resource of another app: it takes the mixin's `unmask` and `raw` like crm's do."""

    def __init__(self, *, unmask: bool = False, raw: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.unmask = unmask
        self.raw = raw

    class Meta:
        model = AuditEvent
        fields = ("id", "action", "summary")


class EventAdmin(BoundedAdmin):
    resource_classes = (AuditEventResource,)
    list_display = ("action", "summary", "actor")
    masked_list_display = {"summary": "action"}
    list_filter = (choices_filter("action", "action", Action.choices),)


def admin_request(rf, user, method="get"):
    request = getattr(rf, method)("/admin/omnichannel/auditevent/export/")
    request.user = user
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    return request


def test_the_tools_import_no_app():
    """omnichannel knows no app: crm imports the tools, never the reverse (no cycle)."""
    source = Path(admin_tools.__file__).read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
    assert not imported & {"crm", "loyalty", "campaigns"}


def test_another_apps_short_list_streams_and_is_audited(rf, alice):
    audit_record(action=Action.MERGE, actor=alice, summary="=1+1")
    model_admin = EventAdmin(AuditEvent, admin.site)
    queryset = AuditEvent.objects.filter(action=Action.MERGE)

    response = model_admin._do_file_export(
        base_formats.CSV(), admin_request(rf, alice, "post"), queryset
    )

    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["summary"] for row in rows] == ["'=1+1"]  # the formula guard
    export = AuditEvent.objects.get(action=Action.EXPORT)
    # No unmask permission named: even a superuser's file is recorded as masked.
    assert export.object_type == "omnichannel.auditevent" and not export.with_personal_data


def test_another_apps_long_list_is_refused_without_a_background_export(rf, alice):
    for _ in range(3):
        audit_record(action=Action.MERGE, actor=alice)
    model_admin = EventAdmin(AuditEvent, admin.site)
    model_admin.export_inline_max_rows = 2
    request = admin_request(rf, alice, "post")

    response = model_admin._do_file_export(
        base_formats.CSV(), request, AuditEvent.objects.order_by("pk")
    )

    assert response.status_code == 302
    assert [str(m) for m in get_messages(request)] == [str(admin_tools.ERROR_LIST_TOO_LONG)]
    assert not AuditEvent.objects.filter(action=Action.EXPORT).exists()


def test_masked_columns_need_the_named_permission(rf, alice, bob):
    class UnmaskingEventAdmin(EventAdmin):
        unmask_permission = "omnichannel.read_audit"

    masked = EventAdmin(AuditEvent, admin.site)
    unmasking = UnmaskingEventAdmin(AuditEvent, admin.site)

    assert masked.get_list_display(admin_request(rf, alice)) == ("action", "action", "actor")
    assert unmasking.get_list_display(admin_request(rf, alice)) == EventAdmin.list_display
    assert unmasking.get_list_display(admin_request(rf, bob)) == ("action", "action", "actor")


def test_a_reference_import_needs_the_named_permission(rf, bob):
    class ReferenceAdmin(ReferenceImportMixin, BoundedListAdmin):
        resource_classes = (AuditEventResource,)

        def has_add_permission(self, request):
            return True

        def has_change_permission(self, request, obj=None):
            return True

    class GuardedReferenceAdmin(ReferenceAdmin):
        import_permission = "omnichannel.read_audit"

    request = admin_request(rf, bob)
    assert ReferenceAdmin(AuditEvent, admin.site).has_import_permission(request)
    assert not GuardedReferenceAdmin(AuditEvent, admin.site).has_import_permission(request)


def test_the_audit_trail_admin_is_bounded(login_as, alice):
    model_admin = admin.site._registry[AuditEvent]
    assert isinstance(model_admin, BoundedListAdmin)
    assert model_admin.paginator is LargeTablePaginator
    audit_record(action=Action.MERGE, actor=alice)

    html = login_as("alice").get("/admin/omnichannel/auditevent/").content.decode()

    assert '<span data-testid="result-count">' in html  # templates/admin/pagination.html
