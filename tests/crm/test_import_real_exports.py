"""Rows that real exports lost (issue 9): statuses as platforms write them, any acquisition
channel, values that never cost a row, one bad line, Big5 and UTF-16, XLSX formulas and merged
cells. Parsing only, no database (tests/crm/test_import_bad_lines.py runs them end to end)."""

import codecs
import io
from datetime import datetime, timedelta

import pytest
from django.utils import translation
from openpyxl import Workbook

from crm.imports import ImportFileError, detect_encoding, get_preset, parse_file, read_rows
from crm.imports import presets as p
from crm.imports import readers as r
from tests.crm.test_import_presets import MARKETPLACE_CSV, MEMBERS_HEADER, WEB_HEADER, parse_one

MARKETPLACE_HEADER = MARKETPLACE_CSV.splitlines()[0]


def parse_bytes(preset: str, data: bytes, *, filename="export.csv", encoding="auto"):
    return list(
        parse_file(
            io.BytesIO(data), filename=filename, preset=get_preset(preset), encoding=encoding
        )
    )


# --- 1. Order statuses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("完成", "placed"),
        ("已完成", "placed"),
        ("已出貨", "placed"),
        ("待出貨", "placed"),
        ("取消", "cancelled"),
        ("不成立", "cancelled"),
        ("退貨/退款", "returned"),  # one value, as Shopee Taiwan's seller centre writes it
        ("退貨 / 退款", "returned"),
        ("退貨／退款", "returned"),
        ("退貨", "returned"),
        ("退款", "returned"),
    ],
)
def test_marketplace_statuses_as_the_platforms_write_them(status, expected):
    row = parse_one(
        "marketplace_orders", MARKETPLACE_HEADER, f"shopee,X1,2025-03-12 10:22,{status},,,,100"
    )

    assert row.ok, row.errors
    assert row.order.status == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("已付款", "placed"),
        ("已出貨", "placed"),
        ("已完成", "placed"),
        ("已取消", "cancelled"),
        ("已退貨", "returned"),
    ],
)
def test_web_statuses_of_the_formats(status, expected):
    row = parse_one("web_orders", WEB_HEADER, f"W1,2025-03-12T21:14:09+08:00,{status},,,,,,990,")

    assert row.order.status == expected


def test_an_unknown_order_status_is_an_error_of_that_row_only():
    text = (
        MARKETPLACE_HEADER + "\n"
        "shopee,X1,2025-03-12 10:22,退貨/退款,,,,100\n"
        "shopee,X2,2025-03-12 10:22,已寄達,,,,100\n"
        "shopee,X3,2025-03-12 10:22,不成立,,,,100\n"
    )

    rows = parse_bytes("marketplace_orders", text.encode())

    assert [row.ok for row in rows] == [True, False, True]
    (error,) = rows[1].errors
    assert (error.line, error.column, error.value, error.reason) == (
        3,
        "訂單狀態",
        "已寄達",
        p.ERROR_STATUS,
    )
    with translation.override("zh-hant"):
        assert error.message.startswith("未知的訂單狀態；應為 完成, 已完成")


# --- 2. Acquisition channel ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "channel"),
    [
        ("line", "line"),
        ("LINE", "line"),
        (" line ", "line"),
        ("email", "email"),
        ("Email", "email"),
        ("sms", "sms"),
        ("簡訊", "sms"),
        ("push", "push"),
        ("app", "app"),
        ("store", "store"),
        ("門市", "store"),
        ("line_shop", "line_shop"),
    ],
)
def test_acquisition_channel_is_any_channel_by_value_or_label(label, channel):
    row = parse_one("members", MEMBERS_HEADER, f"M1,,,,,,,,,,{label},,,")

    assert row.ok and row.warnings == []
    assert row.member.acquisition_channel == channel


# --- 3. Values that never cost the row -----------------------------------------------------


@pytest.mark.parametrize(
    ("column_index", "value", "column", "reason"),
    [
        (4, "1990/02/30", "生日", p.WARNING_BIRTHDAY),
        (4, "1899/12/31", "生日", p.WARNING_BIRTHDAY_RANGE),
        (4, "1850/01/01", "生日", p.WARNING_BIRTHDAY_RANGE),
        (
            4,
            (datetime.now(p.TAIPEI) + timedelta(days=2)).strftime("%Y/%m/%d"),
            "生日",
            p.WARNING_BIRTHDAY_RANGE,
        ),
        (5, "不明", "性別", p.WARNING_GENDER),
        (9, "去年", "加入日期", p.WARNING_JOINED),
        (10, "facebook", "加入管道", p.WARNING_CHANNEL),
        (11, "maybe", "簡訊同意", p.WARNING_CONSENT),
    ],
)
def test_a_bad_profile_value_is_a_warning_and_the_row_lands_without_it(
    column_index, value, column, reason
):
    fields = ["M1", "王小明", "0912345678", "", "1990/02/28", "男", "", "", "", "", "", "", "", ""]
    fields[column_index] = value

    row = parse_one("members", MEMBERS_HEADER, ",".join(fields))

    assert row.ok and row.member is not None
    assert [(w.column, w.value, w.reason) for w in row.warnings] == [(column, value, reason)]
    member = row.member
    field = {
        4: member.birthday,
        5: member.gender,
        9: member.joined_at,
        10: member.acquisition_channel,
        11: member.consents.get("sms"),
    }[column_index]
    assert field in (None, "")
    assert row.identifiers.member_no == "M1" and row.name == "王小明"
    with translation.override("en"):
        assert row.warnings[0].message  # placeholders filled


def test_a_name_too_long_is_cut_with_a_warning():
    row = parse_one("members", MEMBERS_HEADER, f"M1,{'陳' * 150},,,,,,,,,,,,")

    assert row.ok and len(row.member.name) == 100
    assert [w.reason for w in row.warnings] == [p.WARNING_NAME_CUT]


# --- 4. One bad line -----------------------------------------------------------------------

HEADER = MARKETPLACE_HEADER


def good(number: int) -> str:
    return f"shopee,G{number},2025-03-12 10:22,完成,buyer{number},,,100"


def test_a_line_with_extra_values_is_an_error_of_its_own_line():
    text = "\n".join([HEADER, good(1), good(2) + ",extra,values", good(3)]) + "\n"

    rows = parse_bytes("marketplace_orders", text.encode())

    assert [(row.line, row.ok) for row in rows] == [(2, True), (3, False), (4, True)]
    (error,) = rows[1].errors
    assert error.reason == r.ERROR_TOO_MANY_FIELDS and error.line == 3
    with translation.override("en"):
        assert "10 values" in error.message and "8 columns" in error.message


def test_an_unclosed_quote_is_reported_where_it_opened_and_the_lines_after_it_are_rows():
    broken = 'shopee,B1,2025-03-12 10:22,完成,"mei_chen88,,,100'
    text = "\n".join([HEADER, good(1), broken, good(2), good(3), good(4)]) + "\n"

    rows = parse_bytes("marketplace_orders", text.encode())

    assert [(row.line, row.ok) for row in rows] == [
        (2, True),
        (3, False),
        (4, True),
        (5, True),
        (6, True),
    ]
    assert [e.reason for e in rows[1].errors] == [r.ERROR_UNCLOSED_QUOTE]
    assert rows[1].errors[0].value == broken
    assert [row.order.external_no for row in rows if row.ok] == [
        "shopee:G1",
        "shopee:G2",
        "shopee:G3",
        "shopee:G4",
    ]


def test_an_unclosed_quote_on_the_last_line_is_an_error_of_that_line():
    text = "\n".join([HEADER, good(1), 'shopee,B1,2025-03-12 10:22,完成,"mei,,,100']) + "\n"

    rows = parse_bytes("marketplace_orders", text.encode())

    assert [(row.line, row.ok) for row in rows] == [(2, True), (3, False)]


def test_an_unclosed_quote_swallowing_a_huge_tail_is_recovered():
    # More than csv's field limit (131,072 characters) after the quote.
    lines = [HEADER, 'shopee,B1,2025-03-12 10:22,完成,"x,,,100'] + [good(n) for n in range(3000)]

    rows = parse_bytes("marketplace_orders", ("\n".join(lines) + "\n").encode())

    assert rows[0].line == 2 and not rows[0].ok
    assert [row.ok for row in rows[1:]] == [True] * 3000
    assert rows[-1].line == 3002


def test_a_quoted_cell_with_line_breaks_is_still_one_row():
    text = HEADER + '\nshopee,Q1,2025-03-12 10:22,完成,buyer,"陳美玲\n收",,100\n' + good(2) + "\n"

    rows = parse_bytes("marketplace_orders", text.encode())

    assert [(row.line, row.ok) for row in rows] == [(2, True), (4, True)]
    assert rows[0].name == "陳美玲\n收"


def test_a_non_utf8_byte_costs_its_line_only():
    data = (
        (HEADER + "\n" + good(1) + "\n").encode()
        + b"shopee,B1,2025-03-12 10:22,\xff\xfe,buyer,,,100\n"
        + (good(3) + "\n").encode()
    )

    rows = parse_bytes("marketplace_orders", data)

    assert [(row.line, row.ok) for row in rows] == [(2, True), (3, False), (4, True)]
    (error,) = rows[1].errors
    assert error.reason == r.ERROR_LINE_DECODE
    with translation.override("en"):
        assert "UTF-8" in error.message


def test_a_nul_byte_costs_its_line_only():
    data = (
        HEADER + "\n" + good(1) + "\n" + good(2).replace("buyer2", "buy\x00er2") + "\n"
    ).encode()

    rows = parse_bytes("marketplace_orders", data + (good(3) + "\n").encode())

    assert [(row.line, row.ok) for row in rows] == [(2, True), (3, False), (4, True)]
    assert [e.reason for e in rows[1].errors] == [r.ERROR_LINE_NUL]
    assert "\x00" not in rows[1].errors[0].value


# --- 5. Encodings --------------------------------------------------------------------------

MEMBERS_BIG5 = MEMBERS_HEADER + "\nM000123,王小明,0912345678,,1990/02/28,男,,,,,門市,Y,N,\n"


def test_big5_csv_is_detected_and_read():
    data = MEMBERS_BIG5.encode("cp950")

    (row,) = parse_bytes("members", data)

    assert detect_encoding(data) == "cp950"
    assert row.ok and row.name == "王小明"
    assert row.member.gender == "male" and row.member.acquisition_channel == "store"


def test_big5_chosen_explicitly_and_utf8_chosen_for_big5_is_refused_with_a_hint():
    data = MEMBERS_BIG5.encode("cp950")

    (row,) = parse_bytes("members", data, encoding="big5")
    assert row.name == "王小明"
    with translation.override("en"), pytest.raises(ImportFileError, match="not UTF-8 text"):
        parse_bytes("members", data, encoding="utf-8")


def test_unicode_text_is_utf16_with_tabs():
    text = MEMBERS_BIG5.replace(",", "\t").replace("\n", "\r\n")
    data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")

    (row,) = parse_bytes("members", data)

    assert detect_encoding(data) == "utf-16"
    assert row.ok and row.name == "王小明" and row.identifiers.member_no == "M000123"
    assert row.member.consents == {"sms": True, "email": False}
    assert parse_bytes("members", data, encoding="utf-16")[0].name == "王小明"


def test_a_utf8_file_with_a_bom_and_tabs_reads_too():
    data = ("\ufeff" + MEMBERS_BIG5.replace(",", "\t")).encode()

    (row,) = parse_bytes("members", data)

    assert row.name == "王小明"


@pytest.mark.parametrize(
    ("data", "looks_like"),
    [
        (b"PK\x03\x04" + bytes(range(256)) * 4, "ZIP"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200), ".xls"),
        (b"%PDF-1.7\n" + bytes(range(256)), "PDF"),
        (bytes(range(1, 30)) * 40, "binary"),
    ],
)
def test_a_file_that_is_no_text_says_what_it_looks_like(data, looks_like):
    with translation.override("en"), pytest.raises(ImportFileError, match=looks_like):
        parse_bytes("members", data)


def test_a_header_in_no_known_encoding_is_refused_naming_the_encodings():
    data = b"\x80\xff\x81\xfe,\xff\x80\n1,2\n"

    with translation.override("en"), pytest.raises(ImportFileError, match="UTF-8, Big5 or UTF-16"):
        parse_bytes("members", data)


def test_unknown_encoding_is_refused():
    with pytest.raises(ImportFileError):
        read_rows(io.BytesIO(b"a\n"), filename="x.csv", encoding="latin-9")


# --- 6. XLSX -------------------------------------------------------------------------------


def _members_xlsx(path, rows, *, merge=None):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(MEMBERS_HEADER.split(","))
    for row in rows:
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    workbook.save(path)


def _member(no, name="王小明", phone="0912345678"):
    return [no, name, phone, "", "1990/02/28", "男", "", "", "", "", "store", "", "", ""]


def test_xlsx_formula_without_a_saved_value_is_a_warning_naming_the_cell(tmp_path):
    path = tmp_path / "members.xlsx"
    second = _member("M2", phone="")
    second[2] = '=CONCAT("0912","345679")'  # openpyxl saves no value: Excel never ran it
    _members_xlsx(path, [_member("M1"), second])

    rows = list(parse_file(path, filename=path.name, preset=get_preset("members")))

    assert rows[0].warnings == []
    (warning,) = rows[1].warnings
    assert (warning.line, warning.column, warning.reason) == (3, "手機", r.WARNING_FORMULA)
    assert warning.params == {"cell": "C3"}
    assert rows[1].ok  # the row lands; the formula's value is what is missing
    with translation.override("en"):
        assert "C3" in warning.message


def test_xlsx_merged_cells_are_warnings_naming_each_blank_cell(tmp_path):
    path = tmp_path / "members.xlsx"
    _members_xlsx(path, [_member("M1"), _member("M2"), _member("M3")], merge="K2:K4")

    rows = list(parse_file(path, filename=path.name, preset=get_preset("members")))

    assert rows[0].warnings == []
    assert [[(w.column, w.params) for w in row.warnings] for row in rows[1:]] == [
        [("加入管道", {"cell": "K3", "range": "K2:K4"})],
        [("加入管道", {"cell": "K4", "range": "K2:K4"})],
    ]
    assert [row.member.acquisition_channel for row in rows] == ["store", "", ""]


def test_xlsx_without_formulas_or_merges_reads_once(tmp_path, monkeypatch):
    path = tmp_path / "members.xlsx"
    _members_xlsx(path, [_member("M1")])
    loads = []
    original = r.load_workbook
    monkeypatch.setattr(r, "load_workbook", lambda *a, **k: loads.append(k) or original(*a, **k))

    rows = list(parse_file(path, filename=path.name, preset=get_preset("members")))

    assert rows[0].ok and len(loads) == 1
