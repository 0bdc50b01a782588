"""Imports from the admin: reference tables through django-import-export, members and orders
through the preset import (ImportJob), so every row goes through identity resolution."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from crm.models import ImportJob, Member, Order, Store, Tag
from crm.services.import_jobs import import_job_confirm
from tests.conftest import wait_for
from tests.factories import StoreFactory

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
CSV = "0"


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def upload(name: str, content: bytes | None = None) -> SimpleUploadedFile:
    data = content if content is not None else (FIXTURES / name).read_bytes()
    return SimpleUploadedFile(name, data, content_type="text/csv")


def import_reference(client, model: str, content: str):
    """django-import-export's two steps: upload (a dry run shown as a diff), then confirm."""
    url = f"/admin/crm/{model}/import/"
    preview = client.post(
        url,
        {"resource": "0", "format": CSV, "import_file": upload("file.csv", content.encode())},
    )
    assert preview.status_code == 200
    result = preview.context["result"]
    confirm = preview.context.get("confirm_form")
    return result, confirm


@pytest.mark.django_db
def test_stores_import_after_a_dry_run(login_as):
    StoreFactory(code="TPE01", name="舊名", city="台北")
    client = login_as("alice")
    content = "code,name,city,opened_on\nTPE01,台北信義店,台北,2019-05-01\nKHH02,高雄店,高雄,\n"

    result, confirm = import_reference(client, "store", content)

    assert not result.has_errors()
    assert Store.objects.count() == 1  # the preview writes nothing
    client.post("/admin/crm/store/process_import/", confirm.initial)
    assert dict(Store.objects.values_list("code", "name")) == {
        "TPE01": "台北信義店",
        "KHH02": "高雄店",
    }


@pytest.mark.django_db
def test_a_bad_store_row_is_reported_and_nothing_lands(login_as):
    client = login_as("alice")
    content = "code,name,city,opened_on\nKHH02,高雄店,高雄,not-a-date\n"

    result, confirm = import_reference(client, "store", content)

    assert result.has_validation_errors() or result.has_errors()
    assert confirm is None
    assert not Store.objects.exists()


@pytest.mark.django_db
def test_tags_import_by_name(login_as):
    client = login_as("alice")

    _result, confirm = import_reference(client, "tag", "name\nVIP\n常客\n")
    client.post("/admin/crm/tag/process_import/", confirm.initial)

    assert sorted(Tag.objects.values_list("name", flat=True)) == ["VIP", "常客"]


@pytest.mark.django_db
def test_members_and_orders_have_no_plain_import():
    from django.urls import NoReverseMatch, reverse

    for model in ("member", "order"):
        with pytest.raises(NoReverseMatch):
            reverse(f"admin:crm_{model}_import")
        assert reverse(f"admin:crm_{model}_import_file")


@pytest.mark.django_db
def test_the_member_import_page_offers_only_member_presets(login_as):
    client = login_as("alice")

    members = client.get("/admin/crm/member/import-file/").context["form"]
    orders = client.get("/admin/crm/order/import-file/").context["form"]

    assert [name for name, _ in members.fields["preset"].choices] == ["members"]
    assert {name for name, _ in orders.fields["preset"].choices} == {
        "pos_orders",
        "web_orders",
        "marketplace_orders",
    }
    refused = client.post(
        "/admin/crm/member/import-file/", {"file": upload("pos_orders.csv"), "preset": "pos_orders"}
    )
    assert "preset" in refused.context["form"].errors
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_the_changelists_link_to_the_preset_import(login_as):
    html = login_as("alice").get("/admin/crm/order/").content.decode()

    assert 'href="/admin/crm/order/import-file/"' in html
    assert 'href="/admin/crm/order/export/' in html


@pytest.mark.django_db
def test_the_preset_import_needs_the_import_permission(client, carol):
    carol.is_staff = True
    carol.save(update_fields=["is_staff"])
    client.force_login(carol)

    assert client.get("/admin/crm/member/import-file/").status_code == 403
    assert "import-file" not in client.get("/admin/crm/member/").content.decode()


@pytest.mark.xdist_group("celery-worker")
def test_an_order_file_from_the_admin_goes_through_the_preset_pipeline(
    login_as, alice, celery_worker
):
    client = login_as("alice")

    # Upload: an ImportJob, checked in the worker, shown on the import page.
    response = client.post(
        "/admin/crm/order/import-file/",
        {"file": upload("web_orders.csv"), "preset": "web_orders"},
    )
    job = ImportJob.objects.get()
    assert (job.preset, job.created_by) == ("web_orders", alice)
    assert response["Location"] == f"/imports/{job.pk}/"
    checked = wait_for(lambda: ImportJob.objects.filter(pk=job.pk, status="previewed").first())
    assert checked.preview["rows"] == 2
    assert not Order.objects.exists()

    # Confirm: imported with identity resolution, one member per person.
    import_job_confirm(job=checked, actor=alice)
    done = wait_for(lambda: ImportJob.objects.filter(pk=job.pk, status="done").first())
    assert done.orders_written == 2
    assert Member.objects.filter(identities__value="+886912345678").count() == 1
    assert client.get("/admin/crm/importjob/").status_code == 200
