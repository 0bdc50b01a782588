"""Every example and spelling of formats/README.md parses to the right values; no database."""

import csv
import inspect
import io
import re
from datetime import date, datetime
from pathlib import Path

import pytest
from django.utils import translation
from openpyxl import Workbook

from crm.imports import (
    PRESETS,
    HeaderError,
    ImportFileError,
    ParsedRow,
    RowIssue,
    UnknownPresetError,
    get_preset,
    parse_file,
    read_rows,
)
from crm.imports import presets as p
from crm.imports.presets import TAIPEI
from crm.services import Identifier

# The examples of formats/README.md, verbatim.
FIXTURES = Path(__file__).parent / "fixtures" / "imports"
SPEC = {
    name: (FIXTURES / f"{name}.csv").read_text(encoding="utf-8")
    for name in ("pos_orders", "web_orders", "marketplace_orders", "members")
}
POS_CSV, WEB_CSV = SPEC["pos_orders"], SPEC["web_orders"]
MARKETPLACE_CSV, MEMBERS_CSV = SPEC["marketplace_orders"], SPEC["members"]
POS_HEADER = POS_CSV.splitlines()[0]
WEB_HEADER = WEB_CSV.splitlines()[0]
MEMBERS_HEADER = MEMBERS_CSV.splitlines()[0]


def parse_csv(preset: str, text: str, *, bom: bool = False) -> list[ParsedRow]:
    data = ("\ufeff" if bom else "").encode() + text.encode()
    return list(parse_file(io.BytesIO(data), filename="export.csv", preset=get_preset(preset)))


def parse_one(preset: str, header: str, line: str) -> ParsedRow:
    (row,) = parse_csv(preset, f"{header}\n{line}\n")
    return row


def pos_line(**values: str) -> str:
    """A POS data line: the spec's first sale with some columns replaced."""
    row = {
        "門市代碼": "TPE01",
        "門市名稱": "台北信義店",
        "交易序號": "TPE01-20250312-0042",
        "交易時間": "2025/03/12 14:05:33",
        "會員卡號": "",
        "會員手機": "",
        "發票號碼": "AB-12345678",
        "載具號碼": "",
        "銷售金額": "1280",
        "交易類型": "銷售",
        "原交易序號": "",
    }
    row.update(values)
    return ",".join(f'"{value}"' for value in row.values())


def pos_row(**values: str) -> ParsedRow:
    return parse_one("pos_orders", POS_HEADER, pos_line(**values))


def taipei(*args: int) -> datetime:
    return datetime(*args, tzinfo=TAIPEI)


# --- The spec's examples -------------------------------------------------------------------


def test_pos_example_sale_parses_with_card_phone_and_carrier():
    sale = parse_csv("pos_orders", POS_CSV)[0]

    assert sale.ok and sale.line == 2 and sale.warnings == []
    order = sale.order
    assert order.channel == "store"
    assert order.external_no == "TPE01-20250312-0042"
    assert (order.store_code, order.store_name) == ("TPE01", "台北信義店")
    assert order.amount_twd == 1280
    assert order.placed_at == taipei(2025, 3, 12, 14, 5, 33)
    assert order.placed_at.utcoffset().total_seconds() == 8 * 3600
    assert order.status == "placed"
    assert not order.is_return and order.returns_external_no == ""
    assert sale.identifiers.identifiers == [
        Identifier("pos_card", "A00012345"),
        Identifier("phone", "+886912345678"),
        Identifier("einvoice_carrier", "/ABC+123"),
    ]


def test_pos_anonymous_sale_is_a_valid_order_without_identifiers():
    anonymous = parse_csv("pos_orders", POS_CSV)[1]

    assert anonymous.ok and anonymous.line == 3
    assert anonymous.identifiers.identifiers == []
    assert anonymous.order.external_no == "TPE01-20250315-0007"
    assert anonymous.order.amount_twd == 350
    assert anonymous.order.placed_at == taipei(2025, 3, 15, 11, 20, 0)


def test_pos_return_names_its_sale_and_has_a_negative_amount():
    ret = parse_csv("pos_orders", POS_CSV)[2]

    assert ret.ok and ret.line == 4
    assert ret.order.is_return
    assert ret.order.external_no == "TPE01-20250320-0101"
    assert ret.order.returns_external_no == "TPE01-20250312-0042"
    assert ret.order.amount_twd == -1280
    assert ret.order.placed_at == taipei(2025, 3, 20, 16, 42, 10)
    assert ret.identifiers.identifiers == [Identifier("pos_card", "A00012345")]


def test_web_examples_parse_with_statuses_and_normal_identifiers():
    paid, cancelled = parse_csv("web_orders", WEB_CSV)

    assert paid.ok and paid.warnings == []
    assert paid.order.channel == "web"
    assert paid.order.external_no == "W2025031200017"
    assert paid.order.placed_at == taipei(2025, 3, 12, 21, 14, 9)
    assert paid.order.status == "placed"
    assert paid.order.amount_twd == 2490
    assert paid.name == "陳美玲"
    assert paid.identifiers.identifiers == [
        Identifier("web_customer_id", "C-88213"),
        Identifier("email", "meiling.chen@example.com"),
        Identifier("phone", "+886912345678"),
    ]
    assert cancelled.order.status == "cancelled"
    assert cancelled.order.placed_at == taipei(2025, 3, 13, 9, 1, 44)
    assert cancelled.identifiers.identifiers == [
        Identifier("web_customer_id", "C-10007"),
        Identifier("email", "hao@example.com"),
        Identifier("phone", "+886988123456"),
    ]


def test_marketplace_examples_parse_with_platform_scoped_numbers():
    shopee, momo = parse_csv("marketplace_orders", MARKETPLACE_CSV)

    assert shopee.ok
    assert shopee.order.channel == "marketplace"
    assert shopee.order.external_no == "shopee:250312ABCDEF12"
    assert shopee.order.placed_at == taipei(2025, 3, 12, 10, 22)
    assert shopee.order.status == "placed"
    assert shopee.order.amount_twd == 1190
    assert shopee.name == "陳美玲"
    assert shopee.identifiers.identifiers == [Identifier("marketplace_buyer", "shopee:mei_chen88")]
    assert momo.order.external_no == "momo:20250313000123"
    assert momo.order.amount_twd == 2350
    assert momo.identifiers.identifiers == [Identifier("phone", "+886988123456")]


def test_marketplace_masked_phone_is_a_warning_and_the_row_imports():
    shopee = parse_csv("marketplace_orders", MARKETPLACE_CSV)[0]

    assert shopee.ok and shopee.order is not None
    assert shopee.warnings == [RowIssue(2, "收件者電話", "09******78", p.WARNING_MASKED)]


def test_members_example_parses_every_field():
    (row,) = parse_csv("members", MEMBERS_CSV)

    assert row.ok and row.warnings == []
    member = row.member
    assert member.member_no == "M000123"
    assert member.name == "王小明" == row.name
    assert member.birthday == date(1990, 2, 28)
    assert member.gender == "male"
    assert member.joined_at == taipei(2023, 5, 1, 0, 0)
    assert member.acquisition_channel == "store"
    assert member.consents == {"sms": True, "email": False, "line": True}
    assert row.identifiers.member_no == "M000123"
    assert row.identifiers.identifiers == [
        Identifier("phone", "+886912345678"),
        Identifier("email", "ming@example.com"),
        Identifier("line_user_id", "U4af4980629e06f7f64a1a0f1e5ad1b3c"),
        Identifier("pos_card", "A00012345"),
    ]
    assert row.profile.birthday == date(1990, 2, 28)
    assert row.profile.acquisition_channel == "store"


# --- Spellings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "0912-345-678",
        "0912345678",
        "+886 912 345 678",
        "+886912345678",
        "886912345678",
        "00886912345678",
        "０９１２３４５６７８",
        "(0912) 345.678",
        "0912.345.678",
        " 0912 345 678 ",
    ],
)
def test_every_phone_spelling_is_one_identifier(phone):
    row = pos_row(會員手機=phone)

    assert row.ok and row.warnings == []
    assert row.identifiers.identifiers == [Identifier("phone", "+886912345678")]


@pytest.mark.parametrize("masked", ["09******78", "0912***678", "0912＊＊＊678"])
def test_masked_pos_phone_is_a_warning_with_its_column(masked):
    row = pos_row(會員卡號="A00012345", 會員手機=masked)

    assert row.ok and row.order is not None
    assert row.warnings == [RowIssue(2, "會員手機", masked, p.WARNING_MASKED)]
    assert row.identifiers.identifiers == [Identifier("pos_card", "A00012345")]


@pytest.mark.parametrize(
    "amount",
    [
        "1280",
        "1,280",
        " 1,280 ",
        "NT$1,280",
        "NT$ 1,280",
        "１２８０",
        "１，２８０",
        "1280.00",
        "1280元",
    ],
)
def test_amount_spellings(amount):
    assert pos_row(銷售金額=amount).order.amount_twd == 1280


@pytest.mark.parametrize(
    "placed_at",
    [
        "2025/03/12 14:05:33",
        "2025/3/12 14:05:33",
        "2025-03-12 14:05:33",
        "2025/03/12 下午 02:05:33",
        "2025/03/12 2:05:33 PM",
        "2025-03-12T14:05:33+08:00",
        "2025-03-12T06:05:33Z",
        "114/03/12 14:05:33",
    ],
)
def test_order_time_spellings_are_one_taipei_instant(placed_at):
    placed = pos_row(交易時間=placed_at).order.placed_at

    assert placed == taipei(2025, 3, 12, 14, 5, 33)
    assert placed.tzinfo == TAIPEI


@pytest.mark.parametrize("birthday", ["1990/02/28", "1990-02-28", "79/02/28", "1990/2/28"])
def test_birthday_spellings_including_minguo_year(birthday):
    row = parse_one("members", MEMBERS_HEADER, f"M1,,0912345678,,{birthday},,,,,,,,,")

    assert row.member.birthday == date(1990, 2, 28)


@pytest.mark.parametrize(
    ("gender", "expected"), [("男", "male"), ("女", "female"), ("其他", "other"), ("", "")]
)
def test_gender_values(gender, expected):
    row = parse_one("members", MEMBERS_HEADER, f"M1,,,,,{gender},,,,,,,,")

    assert row.member.gender == expected


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ("Y,N,Y", {"sms": True, "email": False, "line": True}),
        ("N,,", {"sms": False}),
        (",,", {}),
        (",Y,", {"email": True}),
    ],
)
def test_consents_y_n_and_empty_is_no_decision(answers, expected):
    row = parse_one("members", MEMBERS_HEADER, f"M1,,,,,,,,,,,{answers}")

    assert row.member.consents == expected


@pytest.mark.parametrize(
    ("label", "channel"),
    [("store", "store"), ("門市", "store"), ("官網", "web"), ("web", "web"), ("", "")],
)
def test_acquisition_channel_by_value_or_chinese_label(label, channel):
    row = parse_one("members", MEMBERS_HEADER, f"M1,,,,,,,,,,{label},,,")

    assert row.member.acquisition_channel == channel


def test_member_with_only_a_phone_has_no_member_number_and_is_importable():
    row = parse_one("members", MEMBERS_HEADER, ",林志豪,0988-123-456,,,,,,,,,,,")

    assert row.ok
    assert row.member.member_no == ""
    assert row.identifiers.identifiers == [Identifier("phone", "+886988123456")]


def test_member_numbers_are_upper_cased():
    row = parse_one("members", MEMBERS_HEADER, " m000123 ,,,,,,,,,,,,,")

    assert row.member.member_no == "M000123"


@pytest.mark.parametrize(
    ("column_index", "column", "value", "reason"),
    [
        (2, "手機", "09******78", p.WARNING_MASKED),
        (2, "手機", "12345", p.WARNING_INVALID["phone"]),
        (3, "Email", "not-an-email", p.WARNING_INVALID["email"]),
        (6, "LINE UID", "U123", p.WARNING_INVALID["line_user_id"]),
        (8, "載具號碼", "ABC", p.WARNING_INVALID["einvoice_carrier"]),
    ],
)
def test_skipped_member_identifiers_are_warnings_with_their_column(
    column_index, column, value, reason
):
    cells = ["M1"] + [""] * 13
    cells[column_index] = value

    row = parse_one("members", MEMBERS_HEADER, ",".join(cells))

    assert row.ok and row.member.member_no == "M1"
    assert row.warnings == [RowIssue(2, column, value, reason)]


# --- Errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "column", "value", "reason"),
    [
        ({"銷售金額": "abc"}, "銷售金額", "abc", p.ERROR_AMOUNT),
        ({"銷售金額": "12,80"}, "銷售金額", "12,80", p.ERROR_AMOUNT),
        ({"銷售金額": "1280.5"}, "銷售金額", "1280.5", p.ERROR_AMOUNT),
        ({"銷售金額": ""}, "銷售金額", "", p.ERROR_REQUIRED),
        ({"銷售金額": "9" * 5000}, "銷售金額", "9" * 5000, p.ERROR_AMOUNT),
        ({"銷售金額": "3,000,000,000"}, "銷售金額", "3,000,000,000", p.ERROR_AMOUNT_RANGE),
        ({"交易時間": "2025/13/12 14:05:33"}, "交易時間", "2025/13/12 14:05:33", p.ERROR_DATETIME),
        ({"交易時間": "yesterday"}, "交易時間", "yesterday", p.ERROR_DATETIME),
        ({"交易類型": "贈品"}, "交易類型", "贈品", p.ERROR_CHOICE),
        ({"交易序號": ""}, "交易序號", "", p.ERROR_REQUIRED),
        ({"門市代碼": ""}, "門市代碼", "", p.ERROR_REQUIRED),
        ({"銷售金額": "-350"}, "銷售金額", "-350", p.ERROR_SALE_NEGATIVE),
        (
            {"交易類型": "退貨", "銷售金額": "1280", "原交易序號": "TPE01-20250312-0042"},
            "銷售金額",
            "1280",
            p.ERROR_RETURN_POSITIVE,
        ),
        ({"交易類型": "退貨", "銷售金額": "-1280"}, "原交易序號", "", p.ERROR_REQUIRED),
    ],
)
def test_pos_row_errors_name_line_column_value_and_reason(values, column, value, reason):
    row = pos_row(**values)

    assert not row.ok and row.order is None
    assert [(e.line, e.column, e.value, e.reason) for e in row.errors] == [
        (2, column, value, reason)
    ]


def test_error_reason_is_formatted_when_shown():
    row = parse_one("web_orders", WEB_HEADER, "W1,2025-03-12T21:14:09+08:00,已寄出,,,,,,990,ATM")

    (error,) = row.errors
    assert (error.line, error.column, error.value, error.reason) == (
        2,
        "訂單狀態",
        "已寄出",
        p.ERROR_STATUS,
    )
    with translation.override("en"):
        assert (
            error.message
            == "Unknown order status; expected one of 已付款, 已出貨, 已完成, 已取消, 已退貨."
        )
        assert str(error) == f"2 訂單狀態 '已寄出': {error.message}"


def test_web_returned_status_and_bad_date():
    returned = parse_one("web_orders", WEB_HEADER, "W1,2025-03-12T21:14:09+08:00,已退貨,,,,,,990,")
    bad_date = parse_one("web_orders", WEB_HEADER, "W1,12 March,已付款,,,,,,990,")

    assert returned.order.status == "returned"
    assert [(e.column, e.reason) for e in bad_date.errors] == [("訂單日期", p.ERROR_DATETIME)]
    with translation.override("en"):
        assert "2025-03-12T21:14:09+08:00" in bad_date.errors[0].message


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("完成", "placed"),
        ("已出貨", "placed"),
        ("待出貨", "placed"),
        ("取消", "cancelled"),
        ("退貨", "returned"),
        ("退款", "returned"),
    ],
)
def test_marketplace_statuses(status, expected):
    header = MARKETPLACE_CSV.splitlines()[0]
    row = parse_one("marketplace_orders", header, f"Shopee,X1,2025-03-12 10:22,{status},,,,100")

    assert row.order.status == expected
    assert row.order.external_no == "shopee:X1"


def test_member_errors():
    nobody = parse_one("members", MEMBERS_HEADER, ",王小明,,,1990/02/28,,,,,,,,,")

    assert [(e.column, e.reason) for e in nobody.errors] == [("會員編號", p.ERROR_NO_PERSON)]
    assert nobody.member is None


def test_error_lines_are_the_files_line_numbers():
    text = POS_CSV + "\n" + pos_line(交易序號="TPE01-X", 銷售金額="abc") + "\n"

    rows = parse_csv("pos_orders", text)

    assert [row.line for row in rows] == [2, 3, 4, 6]  # line 5 is blank
    assert rows[-1].errors[0].line == 6


# --- Headers -------------------------------------------------------------------------------


def test_spec_headers_fit_their_presets():
    for name, text in SPEC.items():
        assert PRESETS[name].check_header(text.splitlines()[0].split(",")) == []


def test_missing_required_column_is_a_problem_named_in_chinese():
    headers = POS_HEADER.replace("交易序號,", "").split(",")

    with translation.override("en"):
        assert PRESETS["pos_orders"].check_header(headers) == ["Missing column 交易序號."]


def test_a_file_for_another_preset_is_refused_before_any_row():
    with translation.override("en"), pytest.raises(HeaderError) as caught:
        parse_csv("pos_orders", WEB_CSV)

    assert "Missing column 門市代碼." in caught.value.problems
    assert len(caught.value.problems) == len(PRESETS["pos_orders"].required)


def test_duplicate_column_is_a_problem():
    with translation.override("en"):
        problems = PRESETS["web_orders"].check_header([*WEB_HEADER.split(","), "訂單合計"])

    assert problems == ["Column 訂單合計 appears more than once."]


def test_unknown_preset():
    with pytest.raises(UnknownPresetError, match="pos_orders"):
        get_preset("pos")


def test_preset_labels_are_english_msgids():
    with translation.override("en"):
        assert str(PRESETS["pos_orders"].label) == "Store POS orders"


# --- Reading files -------------------------------------------------------------------------


@pytest.mark.parametrize("preset", list(SPEC))
def test_csv_with_and_without_bom_parse_alike(preset):
    with_bom = parse_csv(preset, SPEC[preset], bom=True)

    assert with_bom == parse_csv(preset, SPEC[preset])
    assert all(row.ok for row in with_bom)


@pytest.mark.parametrize("preset", list(SPEC))
def test_a_path_reads_like_an_open_file(preset):
    path = FIXTURES / f"{preset}.csv"

    from_path = list(parse_file(path, filename=path.name, preset=PRESETS[preset]))

    assert from_path == parse_csv(preset, SPEC[preset])


def test_identifier_kinds_are_plain_strings():
    row = parse_csv("pos_orders", POS_CSV)[0]

    assert [type(i.kind) for i in row.identifiers.identifiers] == [str, str, str]
    assert row.identifiers.identifiers[1].key == "phone:+886912345678"


def test_header_whitespace_and_bom_are_stripped():
    rows = list(read_rows(io.BytesIO("\ufeff a , b \n1,2\n".encode()), filename="x.csv"))

    assert rows == [(2, {"a": "1", "b": "2"}, None)]


def test_crlf_quoted_newlines_and_short_rows():
    data = b'a,b,c\r\n1,"two\r\nlines",3\r\n\r\n4,5\r\n'

    rows = list(read_rows(io.BytesIO(data), filename="x.csv"))

    assert rows == [
        (2, {"a": "1", "b": "two\r\nlines", "c": "3"}, None),
        (5, {"a": "4", "b": "5", "c": ""}, None),
    ]


def _typed(value: str):
    """A cell as a spreadsheet would hold it: numbers and dates typed, the rest text."""
    if re.fullmatch(r"-?[1-9][\d,]*", value):
        return int(value.replace(",", ""))
    if re.fullmatch(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}", value):
        return datetime.strptime(value, "%Y/%m/%d %H:%M:%S")  # noqa: DTZ007 (naive, as in Excel)
    if re.fullmatch(r"\d{4}/\d{2}/\d{2}", value):
        return datetime.strptime(value, "%Y/%m/%d").date()  # noqa: DTZ007
    return value or None


def _xlsx(path, text: str, *, typed: bool = True) -> None:
    workbook = Workbook()
    sheet = workbook.active
    for number, line in enumerate(text.splitlines()):
        fields = next(csv.reader([line]))
        sheet.append(fields if number == 0 or not typed else [_typed(f) for f in fields])
    workbook.save(path)


@pytest.mark.parametrize("preset", list(SPEC))
def test_xlsx_with_the_same_content_parses_alike(preset, tmp_path):
    path = tmp_path / f"{preset}.xlsx"
    _xlsx(path, SPEC[preset])

    from_xlsx = list(parse_file(path, filename=path.name, preset=PRESETS[preset]))

    assert from_xlsx == parse_csv(preset, SPEC[preset])


def test_xlsx_cells_become_text(tmp_path):
    path = tmp_path / "cells.xlsx"
    workbook = Workbook()
    workbook.active.append(["int", "float", "datetime", "date", "none", "text"])
    workbook.active.append(
        [1280, 1280.0, datetime(2025, 3, 12, 14, 5, 33), date(1990, 2, 28), None, "0912"]
    )
    workbook.save(path)

    rows = list(read_rows(str(path), filename="cells.xlsx"))

    assert rows == [
        (
            2,
            {
                "int": "1280",
                "float": "1280",
                "datetime": "2025/03/12 14:05:33",
                "date": "1990/02/28 00:00:00",  # Excel keeps dates as date-times
                "none": "",
                "text": "0912",
            },
            None,
        )
    ]


def test_read_rows_streams_csv():
    lines = [POS_HEADER] + [pos_line(交易序號=f"TPE01-{n}") for n in range(20_000)]
    data = "\n".join(lines).encode()
    file = io.BytesIO(data)

    rows = read_rows(file, filename="big.csv")
    assert inspect.isgenerator(rows)
    assert file.tell() == 0  # nothing read before the first row is asked for

    line, row, issues = next(rows)
    assert (line, row["交易序號"], issues) == (2, "TPE01-0", None)
    assert file.tell() < len(data) // 100


def test_read_rows_streams_xlsx(tmp_path):
    path = tmp_path / "pos.xlsx"
    _xlsx(path, POS_CSV)

    rows = read_rows(path, filename="pos.xlsx")

    assert inspect.isgenerator(rows)
    assert next(rows)[1]["交易序號"] == "TPE01-20250312-0042"


@pytest.mark.parametrize("filename", ["orders.txt", "orders", "orders.json"])
def test_unknown_extension_is_refused_at_once(filename):
    with pytest.raises(ImportFileError, match="csv"):
        read_rows(io.BytesIO(b"a\n1\n"), filename=filename)


def test_old_xls_is_refused_with_a_hint():
    with pytest.raises(ImportFileError, match=r"\.xlsx"):
        read_rows(io.BytesIO(b""), filename="orders.XLS")


@pytest.mark.parametrize("data", [b"", b"\n\n", "\ufeff".encode(), b",,\n"])
def test_empty_csv_is_refused(data):
    with translation.override("en"), pytest.raises(ImportFileError, match="empty"):
        list(read_rows(io.BytesIO(data), filename="empty.csv"))


def test_header_only_file_has_no_rows():
    assert list(read_rows(io.BytesIO(POS_HEADER.encode()), filename="x.csv")) == []


def test_empty_xlsx_is_refused(tmp_path):
    path = tmp_path / "empty.xlsx"
    Workbook().save(path)

    with translation.override("en"), pytest.raises(ImportFileError, match="empty"):
        list(read_rows(path, filename="empty.xlsx"))


def test_not_a_workbook_is_refused():
    with translation.override("en"), pytest.raises(ImportFileError, match="XLSX"):
        list(read_rows(io.BytesIO(b"a,b\n1,2\n"), filename="fake.xlsx"))


def test_trailing_empty_values_are_not_extra_columns():
    rows = list(read_rows(io.BytesIO(b"a,b\n1,2,,\n"), filename="x.csv"))

    assert rows == [(2, {"a": "1", "b": "2"}, None)]


@pytest.mark.parametrize("offset", ["+24:00", "-25:30", "+99:00"])
def test_utc_offset_of_a_day_or_more_is_a_row_error_not_a_crash(offset):
    row = parse_one("web_orders", WEB_HEADER, f"W1,2025-03-12T21:14:09{offset},已付款,,,,,,990,")

    assert not row.ok
    assert [(e.column, e.reason) for e in row.errors] == [("訂單日期", p.ERROR_DATETIME)]
