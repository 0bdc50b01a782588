"""Imports from the page: upload, check in a worker, confirm, import in a worker, report."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from crm.models import ImportJob, Order
from crm.services.import_jobs import ImportJobError, import_job_confirm, import_job_create
from tests.conftest import wait_for

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
pytestmark = pytest.mark.xdist_group("celery-worker")


def upload(name: str = "pos_orders.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, (FIXTURES / name).read_bytes(), content_type="text/csv")


def status_is(job: ImportJob, status: str):
    return lambda: ImportJob.objects.filter(pk=job.pk, status=status).first()


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_upload_is_checked_then_imported_after_confirmation(celery_worker, bob):
    job = import_job_create(upload=upload(), preset_name="pos_orders", strict=False, actor=bob)

    checked = wait_for(status_is(job, "previewed"))
    assert checked.preview["rows"] == 3
    assert not Order.objects.exists()  # nothing lands before the confirmation

    import_job_confirm(job=checked, actor=bob)
    done = wait_for(status_is(job, "done"))

    assert (done.rows, done.imported, done.failed, done.orders_written) == (3, 3, 0, 3)
    assert Order.objects.count() == 3
    assert done.report.read().startswith("\ufeff行,欄位,值,嚴重程度,原因".encode())


def test_confirming_twice_imports_once(celery_worker, bob):
    job = import_job_create(upload=upload(), preset_name="pos_orders", strict=False, actor=bob)
    checked = wait_for(status_is(job, "previewed"))
    import_job_confirm(job=checked, actor=bob)

    with pytest.raises(ImportJobError):
        import_job_confirm(job=checked, actor=bob)


def test_unreadable_upload_fails_with_the_reason(celery_worker, bob):
    bad = SimpleUploadedFile("pos.csv", b"foo,bar\n1,2\n", content_type="text/csv")

    job = import_job_create(upload=bad, preset_name="pos_orders", strict=False, actor=bob)

    failed = wait_for(status_is(job, "failed"))
    assert "交易序號" in failed.error


def test_upload_page_keeps_the_choice_on_a_bad_file(login_as):
    client = login_as("bob")
    wrong = SimpleUploadedFile("orders.pdf", b"%PDF", content_type="application/pdf")

    response = client.post("/imports/", {"file": wrong, "preset": "web_orders", "strict": "on"})

    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="web_orders" selected' in html
    assert "checked" in html
    assert not ImportJob.objects.exists()


def test_analysts_cannot_import(login_as):
    assert login_as("carol").get("/imports/").status_code == 403
