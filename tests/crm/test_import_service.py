"""The import service end to end on the formats/README.md examples."""

import io
from itertools import permutations
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from crm.models import Consent, Identity, Member, Order
from crm.services.imports import import_file_run

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
PRESETS = ("pos_orders", "web_orders", "marketplace_orders", "members")

pytestmark = pytest.mark.django_db


def run(preset: str, **kwargs):
    return import_file_run(
        source=FIXTURES / f"{preset}.csv", filename=f"{preset}.csv", preset_name=preset, **kwargs
    )


def member_of(channel: str, external_no: str) -> Member | None:
    return Order.objects.get(channel=channel, external_no=external_no).member


@pytest.mark.parametrize("order", list(permutations(PRESETS)))
def test_all_files_in_any_order_give_one_member_per_real_person(order):
    for preset in order:
        run(preset)

    # 陳美玲 (card, phone in three spellings, email, LINE via the member list), 林志豪 (email
    # and phone on the web, the same phone on momo) and the Shopee buyer whose phone is masked.
    assert Member.objects.filter(status="active").count() == 3
    mei = member_of("store", "TPE01-20250312-0042")
    assert member_of("store", "TPE01-20250320-0101") == mei
    assert member_of("web", "W2025031200017") == mei
    assert member_of("store", "TPE01-20250315-0007") is None  # anonymous sale
    hao = member_of("web", "W2025031300002")
    assert member_of("marketplace", "momo:20250313000123") == hao
    shopee = member_of("marketplace", "shopee:250312ABCDEF12")
    assert len({mei.pk, hao.pk, shopee.pk}) == 3
    assert set(mei.identities.values_list("kind", flat=True)) >= {
        "phone",
        "email",
        "pos_card",
        "line_user_id",
        "einvoice_carrier",
        "web_customer_id",
    }


def test_member_list_row_creates_member_with_its_number_and_consents():
    run("members")

    member = Member.objects.get()
    assert (member.member_no, member.name, member.gender) == ("M000123", "王小明", "male")
    states = dict(Consent.objects.values_list("channel", "state"))
    assert states == {"sms": "opted_in", "email": "opted_out", "line": "opted_in"}


def test_importing_the_same_files_again_changes_nothing():
    for preset in PRESETS:
        run(preset)
    snapshot = (
        list(Member.objects.order_by("pk").values_list("pk", "member_no", "status")),
        list(Identity.objects.order_by("pk").values_list("pk", "member_id", "value")),
        list(Order.objects.order_by("pk").values_list("pk", "member_id", "status", "amount_twd")),
        Consent.objects.count(),
    )

    for preset in PRESETS:
        again = run(preset)
        assert again.members_created == again.merges == again.consents_written == 0

    assert snapshot == (
        list(Member.objects.order_by("pk").values_list("pk", "member_no", "status")),
        list(Identity.objects.order_by("pk").values_list("pk", "member_id", "value")),
        list(Order.objects.order_by("pk").values_list("pk", "member_id", "status", "amount_twd")),
        Consent.objects.count(),
    )


BAD_POS = (
    "門市代碼,門市名稱,交易序號,交易時間,會員卡號,會員手機,發票號碼,載具號碼,銷售金額,交易類型,原交易序號\n"
    'TPE01,台北信義店,T-1,2025/03/12 14:05:33,A1,0912-345-678,,,"1,280",銷售,\n'
    "TPE01,台北信義店,T-2,2025/13/45 99:00:00,A2,,,,350,銷售,\n"
    "TPE01,台北信義店,T-3,2025/03/15 11:20:00,,09******78,,,abc,銷售,\n"
    "TPE01,台北信義店,T-4,2025/03/15 11:20:00,,09******78,,,500,銷售,\n"
)


def run_text(text: str, **kwargs):
    return import_file_run(
        source=io.BytesIO(text.encode()), filename="pos.csv", preset_name="pos_orders", **kwargs
    )


def test_good_rows_land_and_bad_rows_are_reported_with_line_and_column():
    report = io.StringIO()

    result = run_text(BAD_POS, report=report)

    assert (result.rows, result.imported, result.failed, result.warnings) == (4, 2, 2, 1)
    assert set(Order.objects.values_list("external_no", flat=True)) == {"T-1", "T-4"}
    lines = report.getvalue().splitlines()
    assert lines[0] == "行,欄位,值,嚴重程度,原因"  # in zh-Hant, for Excel next to the file
    assert any(line.startswith("3,交易時間,") and ",錯誤," in line for line in lines)
    assert any(line.startswith("4,銷售金額,abc,錯誤,") for line in lines)
    assert any(line.startswith("5,會員手機,09******78,警告,") for line in lines)


def test_strict_lands_nothing_when_a_row_is_bad():
    result = run_text(BAD_POS, strict=True)

    assert result.rejected
    assert result.failed == 2
    assert not Order.objects.exists()
    assert not Member.objects.exists()


def test_strict_lands_a_clean_file():
    result = run("pos_orders", strict=True)

    assert not result.rejected
    assert Order.objects.count() == 3


def test_dry_run_counts_everything_and_writes_nothing():
    result = run("web_orders", dry_run=True)

    assert (result.imported, result.members_created, result.orders_written) == (2, 2, 2)
    assert not Order.objects.exists()
    assert not Member.objects.exists()


def test_command_prints_counts_and_fails_a_strict_rejection(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(BAD_POS, encoding="utf-8")
    report = tmp_path / "report.csv"
    out = io.StringIO()

    call_command("import_file", str(FIXTURES / "pos_orders.csv"), preset="pos_orders", stdout=out)
    assert "3 rows: 3 imported, 0 failed" in out.getvalue()

    with pytest.raises(CommandError, match="strict import rejected"):
        call_command(
            "import_file",
            str(bad),
            preset="pos_orders",
            strict=True,
            report=str(report),
            stdout=io.StringIO(),
        )
    assert "銷售金額" in report.read_text(encoding="utf-8-sig")


def test_command_refuses_a_file_with_missing_columns(tmp_path):
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("foo,bar\n1,2\n", encoding="utf-8")

    with pytest.raises(CommandError, match="交易序號"):
        call_command("import_file", str(wrong), preset="pos_orders", stdout=io.StringIO())


def test_an_import_refreshes_each_members_figures_once_at_the_end(tmp_path, monkeypatch):
    from crm.models import MemberStats
    from crm.services import imports, stats

    calls: list[int] = []
    refresh = stats.member_stats_refresh

    def counted(*, member_ids, at=None):
        calls.append(len(set(member_ids)))
        return refresh(member_ids=member_ids, at=at)

    monkeypatch.setattr(imports, "member_stats_refresh", counted)
    path = tmp_path / "pos.csv"
    path.write_text(
        "門市代碼,門市名稱,交易序號,交易時間,會員卡號,會員手機,發票號碼,載具號碼,銷售金額,交易類型,原交易序號\n"
        + "".join(
            f"TPE01,台北信義店,TPE01-20250312-{n:04d},2025/03/12 14:05:33,A0001234{n % 2},,"
            f"AB-1234{n:04d},,100,銷售,\n"
            for n in range(6)
        ),
        encoding="utf-8",
    )

    imports.import_file_run(source=path, filename="pos.csv", preset_name="pos_orders", batch_size=2)

    assert calls == [2]  # two members, three batches, one refresh
    assert sorted(MemberStats.objects.values_list("orders_count", flat=True)) == [3, 3]


def test_a_member_first_met_in_orders_joined_at_the_first_purchase(tmp_path):
    path = tmp_path / "pos.csv"
    path.write_text(
        "門市代碼,門市名稱,交易序號,交易時間,會員卡號,會員手機,發票號碼,載具號碼,銷售金額,交易類型,原交易序號\n"
        "TPE01,台北信義店,TPE01-20250312-0001,2025/03/12 14:05:33,A00012345,,"
        "AB-12340001,,100,銷售,\n"
        "TPE01,台北信義店,TPE01-20250301-0001,2025/03/01 10:00:00,A00012345,,"
        "AB-12340002,,100,銷售,\n",
        encoding="utf-8",
    )

    import_file_run(source=path, filename="pos.csv", preset_name="pos_orders")

    joined = timezone.localtime(Member.objects.get().joined_at)
    assert (joined.date().isoformat(), joined.hour) == ("2025-03-01", 10)
