"""Exports from the admin (django-import-export): streamed, masked for those who may not unmask."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.http import StreamingHttpResponse
from openpyxl import load_workbook

from crm.models import ExportJob, Member
from crm.resources import IdentityResource, MemberResource, OrderResource, StoreResource
from omnichannel.admin_tools import StreamingExportMixin
from tests.conftest import wait_for
from tests.factories import IdentityFactory, MemberFactory, OrderFactory, StoreFactory

pytestmark = pytest.mark.django_db
CSV, XLSX = "0", "1"  # the positions of the formats on the export form


def export_form(resource, *, file_format: str = CSV, **fields: bool) -> dict:
    """The export page's form with every column of the resource ticked."""
    prefix = resource.__name__.lower()
    data = {"format": file_format, "resource": "0"}
    for name in resource().get_export_order():
        if fields.get(name, True):
            data[f"{prefix}_{name}"] = "on"
    return data


def codes(resource) -> dict[str, str]:
    """The resource's headers as marketers read them (會員編號) → its column codes (member_no)."""
    marketers, raw = resource().get_export_headers(), resource(raw=True).get_export_headers()
    return dict(zip(marketers, raw, strict=True))


def read_csv(response, resource) -> list[dict[str, str]]:
    """The rows of a streamed CSV, keyed by column code."""
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")  # Excel reads the Chinese as UTF-8
    names = codes(resource)
    rows = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    return [{names[k]: v for k, v in row.items()} for row in rows]


@pytest.fixture
def staff_analyst(carol):
    """Carol the Analyst, let into the admin: view and export, no unmasking."""
    carol.is_staff = True
    carol.save(update_fields=["is_staff"])
    return carol


@pytest.fixture
def mei():
    member = MemberFactory(name="陳美玲", member_no="M0000123")
    IdentityFactory(member=member, raw="0912-345-678")
    IdentityFactory(member=member, email=True, raw="meiling.chen@example.com")
    return member


def test_member_export_is_masked_for_an_analyst(client, staff_analyst, mei):
    client.force_login(staff_analyst)

    rows = read_csv(
        client.post("/admin/crm/member/export/", export_form(MemberResource)), MemberResource
    )

    assert rows[0]["member_no"] == "M0000123"
    assert rows[0]["name"] == "陳**"
    assert rows[0]["birthday"].endswith("/**/**")


def test_identity_export_is_masked_for_an_analyst(client, staff_analyst, mei):
    client.force_login(staff_analyst)

    rows = read_csv(
        client.post("/admin/crm/identity/export/", export_form(IdentityResource)), IdentityResource
    )

    values = {row["kind"]: row["value"] for row in rows}
    assert values == {"手機": "0912-***-678", "Email": "me***@example.com"}  # kinds as labels


def test_admin_export_is_unmasked(login_as, mei):
    client = login_as("alice")

    members = read_csv(
        client.post("/admin/crm/member/export/", export_form(MemberResource)), MemberResource
    )
    identities = read_csv(
        client.post("/admin/crm/identity/export/", export_form(IdentityResource)), IdentityResource
    )

    assert members[0]["name"] == "陳美玲"
    assert members[0]["birthday"] == mei.birthday.isoformat()
    # A Taiwanese phone as people write it (it starts with 0: no formula guard needed).
    assert {row["value"] for row in identities} == {"0912-345-678", "meiling.chen@example.com"}


def test_export_keeps_the_list_search_and_the_chosen_columns(login_as, mei):
    MemberFactory.create_batch(3)
    client = login_as("alice")

    response = client.post(
        "/admin/crm/member/export/?q=0912345678",
        export_form(MemberResource, birthday=False, home_store=False),
    )

    rows = read_csv(response, MemberResource)
    assert [row["member_no"] for row in rows] == ["M0000123"]
    assert "birthday" not in rows[0]


def test_order_export_streams_every_row_with_its_member_and_store(
    login_as, django_assert_max_num_queries
):
    orders = OrderFactory.create_batch(30)
    client = login_as("alice")

    response = client.post("/admin/crm/order/export/", export_form(OrderResource))
    # The queries do not grow with the rows: member and store come in the same SELECT.
    with django_assert_max_num_queries(3):
        rows = read_csv(response, OrderResource)

    assert len(rows) == 30
    assert {row["member_no"] for row in rows} == {o.member.member_no for o in orders}
    assert {row["store"] for row in rows} == {o.store.code for o in orders}


def test_xlsx_export(login_as, mei):
    response = login_as("alice").post(
        "/admin/crm/member/export/", export_form(MemberResource, file_format=XLSX)
    )

    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    header, row = list(sheet.values)
    assert header[:2] == ("會員編號", "姓名")
    assert row[:2] == ("M0000123", "陳美玲")


@pytest.fixture
def export_job_after(monkeypatch):
    """Lists longer than 2 rows export through an ExportJob."""
    monkeypatch.setattr(StreamingExportMixin, "export_inline_max_rows", 2)


def job_done(job: ExportJob):
    return lambda: ExportJob.objects.filter(pk=job.pk, status__in=["done", "failed"]).first()


@pytest.mark.xdist_group("celery-worker")
def test_a_long_list_is_exported_by_a_worker(
    login_as, alice, export_job_after, celery_worker, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    MemberFactory.create_batch(4)
    client = login_as("alice")

    response = client.post("/admin/crm/member/export/?q=", export_form(MemberResource))

    job = ExportJob.objects.get()
    assert response["Location"] == f"/admin/crm/exportjob/{job.pk}/change/"
    assert (job.created_by, job.unmask, job.file_format) == (alice, True, "csv")
    done = wait_for(job_done(job))
    assert (done.status, done.rows) == ("done", 4)
    page = client.get(response["Location"]).content.decode()
    assert 'data-status="done"' in page
    download = client.get(f"/admin/crm/exportjob/{job.pk}/download/")
    text = b"".join(download.streaming_content).decode("utf-8-sig")
    assert len(list(csv.DictReader(io.StringIO(text)))) == 4


@pytest.mark.xdist_group("celery-worker")
def test_a_worker_export_is_masked_and_only_for_who_asked(
    client, staff_analyst, bob, mei, export_job_after, celery_worker, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    MemberFactory.create_batch(3)
    client.force_login(staff_analyst)

    client.post("/admin/crm/member/export/", export_form(MemberResource))
    job = wait_for(job_done(ExportJob.objects.get()))

    text = b"".join(client.get(f"/admin/crm/exportjob/{job.pk}/download/").streaming_content)
    names = codes(MemberResource)
    rows = [
        {names[k]: v for k, v in row.items()}
        for row in csv.DictReader(io.StringIO(text.decode("utf-8-sig")))
    ]
    assert "陳美玲" not in text.decode("utf-8-sig")
    assert {r["name"] for r in rows if r["member_no"] == "M0000123"} == {"陳**"}
    bob.is_staff = True
    bob.save(update_fields=["is_staff"])
    client.force_login(bob)
    assert client.get(f"/admin/crm/exportjob/{job.pk}/download/").status_code == 404


def test_xlsx_past_the_sheet_limit_fails_with_the_reason(monkeypatch, alice, settings, tmp_path):
    from crm.services import exports
    from omnichannel import exports as shared_exports

    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(shared_exports, "XLSX_MAX_ROWS", 2)
    monkeypatch.setattr(exports, "_enqueue", lambda job_id: None)
    MemberFactory.create_batch(3)
    job = exports.export_job_create(
        queryset=Member.objects.order_by("-pk"),
        resource_class=MemberResource,
        fields=None,
        file_format="xlsx",
        unmask=False,
        total=3,
        actor=alice,
    )

    exports.export_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == "failed"
    assert "Excel" in job.error


def test_member_export_needs_the_export_permission(client, staff_analyst, mei):
    staff_analyst.groups.clear()
    staff_analyst.user_permissions.add(
        Permission.objects.get(codename="view_member", content_type__app_label="crm")
    )
    client.force_login(staff_analyst)

    assert client.get("/admin/crm/member/").status_code == 200
    assert client.get("/admin/crm/member/export/").status_code == 403


def test_reference_tables_export_without_the_member_export_permission(client, staff_analyst):
    StoreFactory(code="TPE01", name="台北信義店")
    staff_analyst.groups.clear()
    staff_analyst.user_permissions.add(
        Permission.objects.get(codename="view_store", content_type__app_label="crm")
    )
    client.force_login(staff_analyst)

    rows = read_csv(
        client.post("/admin/crm/store/export/", export_form(StoreResource)), StoreResource
    )

    assert [(row["code"], row["name"]) for row in rows] == [("TPE01", "台北信義店")]
