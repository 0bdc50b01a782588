"""The KPI records in the admin: read only, bounded, and a run's page shows what it did."""

import pytest
from django.contrib import admin

from omnichannel.admin_tools import LargeTablePaginator
from omnichannel.kpis.models import RollupRun, RollupWatermark
from omnichannel.kpis.services import kpis_rebuild

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", [RollupRun, RollupWatermark], ids=lambda m: m.__name__)
def test_the_kpi_records_are_read_only_and_bounded(model, rf, alice):
    model_admin = admin.site._registry[model]
    request = rf.get("/")
    request.user = alice

    assert model_admin.paginator is LargeTablePaginator
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert "delete_selected" not in model_admin.get_actions(request)


def test_a_run_shows_its_rows_and_what_each_rollup_did(login_as):
    kpis_rebuild()
    run = RollupRun.objects.get()
    client = login_as("alice")

    listing = client.get("/admin/kpis/rolluprun/")
    detail = client.get(f"/admin/kpis/rolluprun/{run.pk}/change/")

    assert listing.status_code == 200 and detail.status_code == 200
    assert run.counts and all(name in detail.content.decode() for name in run.counts)
    assert client.get("/admin/kpis/rollupwatermark/").status_code == 200


def test_a_marketer_cannot_reach_the_admin(login_as):
    assert login_as("bob").get("/admin/kpis/rolluprun/").status_code == 302
