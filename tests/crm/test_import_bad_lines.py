"""Real exports end to end (issue 9): one bad line never refuses a file, through the service,
the command and the page's job; Big5 and UTF-16 files; first/last seen are the source's times;
any acquisition channel lands."""

import codecs
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from crm.imports import readers as r
from crm.models import Identity, ImportJob, Member, Order
from crm.services.api_keys import api_key_create
from crm.services.import_jobs import import_job_check, import_job_create, import_job_execute
from crm.services.imports import import_file_run
from crm.services.ingest import ProfileInput, event_record, member_upsert, order_record
from tests.crm.test_import_real_exports import HEADER, MEMBERS_BIG5, good

pytestmark = pytest.mark.django_db
TAIPEI = ZoneInfo("Asia/Taipei")

# Each kind of bad line, as the bytes of line 3 of a marketplace file; the reason it reports.
BAD_LINES = {
    "extra values": ((good(90) + ",extra,values").encode(), r.ERROR_TOO_MANY_FIELDS),
    "unclosed quote": (
        'shopee,B1,2025-03-12 10:22,完成,"mei_chen88,,,100'.encode(),
        r.ERROR_UNCLOSED_QUOTE,
    ),
    "non-UTF-8 byte": (b"shopee,B1,2025-03-12 10:22,\xff\xfe,buyer,,,100", r.ERROR_LINE_DECODE),
    "NUL byte": (good(91).replace("buyer91", "buy\x00er91").encode(), r.ERROR_LINE_NUL),
}


def file_with(bad: bytes) -> bytes:
    head = (HEADER + "\n" + good(1) + "\n").encode()
    tail = "".join(good(n) + "\n" for n in (2, 3, 4)).encode()
    return head + bad + b"\n" + tail


@pytest.mark.parametrize("kind", list(BAD_LINES))
def test_service_lands_the_good_rows_and_reports_the_bad_line(kind):
    bad, reason = BAD_LINES[kind]
    report = io.StringIO()

    result = import_file_run(
        source=io.BytesIO(file_with(bad)),
        filename="shopee.csv",
        preset_name="marketplace_orders",
        report=report,
    )

    assert (result.rows, result.imported, result.failed) == (5, 4, 1)
    assert set(Order.objects.values_list("external_no", flat=True)) == {
        "shopee:G1",
        "shopee:G2",
        "shopee:G3",
        "shopee:G4",
    }
    (issue,) = [issue for severity, issue in result.issues if severity == "error"]
    assert (issue.line, issue.reason) == (3, reason)
    assert report.getvalue().splitlines()[1].startswith("3,,")


@pytest.mark.parametrize("kind", list(BAD_LINES))
def test_service_strict_lands_nothing_for_a_bad_line(kind):
    result = import_file_run(
        source=io.BytesIO(file_with(BAD_LINES[kind][0])),
        filename="shopee.csv",
        preset_name="marketplace_orders",
        strict=True,
    )

    assert result.rejected and result.failed == 1
    assert not Order.objects.exists() and not Member.objects.exists()


@pytest.mark.parametrize("kind", list(BAD_LINES))
def test_command_lands_the_good_rows_and_strict_lands_nothing(kind, tmp_path):
    path = tmp_path / "shopee.csv"
    path.write_bytes(file_with(BAD_LINES[kind][0]))
    report = tmp_path / "report.csv"

    with pytest.raises(CommandError, match="strict import rejected"):
        call_command(
            "import_file", str(path), preset="marketplace_orders", strict=True, stdout=io.StringIO()
        )
    assert not Order.objects.exists()

    out = io.StringIO()
    call_command(
        "import_file", str(path), preset="marketplace_orders", report=str(report), stdout=out
    )
    assert "5 rows: 4 imported, 1 failed" in out.getvalue()
    assert Order.objects.count() == 4
    assert report.read_text(encoding="utf-8-sig").splitlines()[1].startswith("3,,")


# --- Encodings -----------------------------------------------------------------------------


def test_command_reads_big5_detected_and_chosen(tmp_path):
    path = tmp_path / "members.csv"
    path.write_bytes(MEMBERS_BIG5.encode("cp950"))  # as Excel on zh-Hant Windows saves CSV

    call_command("import_file", str(path), preset="members", stdout=io.StringIO())
    assert Member.objects.get().name == "王小明"

    with pytest.raises(CommandError, match="UTF-8"):
        call_command(
            "import_file", str(path), preset="members", encoding="utf-8", stdout=io.StringIO()
        )
    call_command("import_file", str(path), preset="members", encoding="big5", stdout=io.StringIO())
    assert Member.objects.get().member_no == "M000123"


def test_command_reads_unicode_text(tmp_path):
    path = tmp_path / "members.csv"
    text = MEMBERS_BIG5.replace(",", "\t").replace("\n", "\r\n")
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))

    call_command("import_file", str(path), preset="members", stdout=io.StringIO())

    member = Member.objects.get()
    assert (member.member_no, member.name, member.gender) == ("M000123", "王小明", "male")


def test_the_page_flow_keeps_the_chosen_encoding(settings, tmp_path, bob):
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("members.csv", MEMBERS_BIG5.encode("cp950"))

    job = import_job_create(
        upload=upload, preset_name="members", strict=False, actor=bob, encoding="big5"
    )
    import_job_check(job_id=job.pk)
    job.refresh_from_db()
    assert (job.encoding, job.status, job.preview["failed"]) == ("big5", "previewed", 0)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    import_job_execute(job_id=job.pk)

    assert Member.objects.get().name == "王小明"


def test_a_zip_uploaded_as_csv_fails_saying_what_it_looks_like(settings, tmp_path, bob):
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("members.csv", b"PK\x03\x04" + bytes(range(256)) * 8)

    job = import_job_create(upload=upload, preset_name="members", strict=False, actor=bob)
    import_job_check(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == "failed" and "ZIP" in job.error


def test_the_upload_form_offers_the_encodings(login_as):
    response = login_as("bob").get("/imports/")

    assert b'name="encoding"' in response.content
    assert b'value="big5"' in response.content and b'value="utf-16"' in response.content


# --- Acquisition channel -------------------------------------------------------------------


def test_a_member_list_row_joined_through_line_lands(tmp_path):
    path = tmp_path / "members.csv"
    header = MEMBERS_BIG5.splitlines()[0]
    path.write_text(header + "\nM1,,0912345678,,,,,,,,line,,,Y\n", encoding="utf-8")

    call_command("import_file", str(path), preset="members", stdout=io.StringIO())

    member = Member.objects.get()
    member.full_clean()  # the model's choices hold every channel
    assert member.acquisition_channel == "line"


def test_members_upsert_through_a_line_key_joined_through_line(alice):
    key, _ = api_key_create(name="LINE OA", channel="line", actor=alice)

    joined = member_upsert(api_key=key, identifiers={"phone": "0912345678"})
    chosen = member_upsert(
        api_key=key,
        identifiers={"phone": "0988123456"},
        profile=ProfileInput(acquisition_channel="email"),
    )

    assert joined.member.acquisition_channel == "line"
    assert chosen.member.acquisition_channel == "email"


def test_the_api_takes_any_channel_as_acquisition_channel(client, alice):
    _, secret = api_key_create(name="Web", channel="web", actor=alice)

    response = client.post(
        "/api/v1/members",
        {"identifiers": {"phone": "0912345678"}, "profile": {"acquisition_channel": "line"}},
        content_type="application/json",
        headers={"authorization": f"Bearer {secret}"},
    )

    assert response.status_code == 201, response.content
    assert Member.objects.get().acquisition_channel == "line"


# --- First and last seen -------------------------------------------------------------------


def taipei(*args: int) -> datetime:
    return datetime(*args, tzinfo=TAIPEI)


def marketplace_file(*rows: tuple[str, str]) -> io.BytesIO:
    lines = [HEADER] + [f"shopee,{no},{at},完成,mei_chen88,,,100" for no, at in rows]
    return io.BytesIO(("\n".join(lines) + "\n").encode())


def test_first_and_last_seen_are_the_orders_times_not_the_imports():
    import_file_run(
        source=marketplace_file(("A", "2025-03-12 10:22"), ("B", "2025-01-05 09:00")),
        filename="a.csv",
        preset_name="marketplace_orders",
    )
    buyer = Identity.objects.get(kind="marketplace_buyer")
    assert (buyer.first_seen_at, buyer.last_seen_at) == (
        taipei(2025, 1, 5, 9, 0),
        taipei(2025, 3, 12, 10, 22),
    )

    # A later file with an older and a newer order widens the span; one inside it changes nothing.
    import_file_run(
        source=marketplace_file(("C", "2024-12-24 20:00"), ("D", "2025-02-01 12:00")),
        filename="b.csv",
        preset_name="marketplace_orders",
    )
    import_file_run(
        source=marketplace_file(("E", "2025-06-30 23:59")),
        filename="c.csv",
        preset_name="marketplace_orders",
    )

    buyer.refresh_from_db()
    assert (buyer.first_seen_at, buyer.last_seen_at) == (
        taipei(2024, 12, 24, 20, 0),
        taipei(2025, 6, 30, 23, 59),
    )


def test_the_api_records_first_and_last_seen_at_the_orders_and_events_times(alice):
    key, _ = api_key_create(name="POS", channel="store", actor=alice)
    line_key, _ = api_key_create(name="LINE", channel="line", actor=alice)

    order_record(
        api_key=key,
        channel="store",
        external_no="S1",
        amount_twd=100,
        placed_at=taipei(2025, 3, 12, 14, 5),
        store_code="TPE01",
        identifiers={"phone": "0912345678"},
    )
    order_record(
        api_key=key,
        channel="store",
        external_no="S0",
        amount_twd=100,
        placed_at=taipei(2024, 11, 1, 10, 0),
        store_code="TPE01",
        identifiers={"phone": "0912345678"},
    )
    event_record(
        api_key=line_key,
        channel="line",
        kind="line_follow",
        at=taipei(2025, 4, 1, 8, 0),
        identifiers={"phone": "0912345678"},
    )

    phone = Identity.objects.get(kind="phone")
    assert (phone.first_seen_at, phone.last_seen_at) == (
        taipei(2024, 11, 1, 10, 0),
        taipei(2025, 4, 1, 8, 0),
    )
