"""The shared export writers: formulas neutralised, numbers kept, times for marketers or raw."""

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from omnichannel.exports import cell_text, cell_xlsx, csv_write, neutralise_formula, xlsx_write

FORMULAS = ['=HYPERLINK("http://x","y")', "+886912345678", "-1+2", "@SUM(A1)", "\tx", "\rx"]


@pytest.mark.parametrize("text", FORMULAS)
def test_a_text_cell_that_starts_like_a_formula_gets_a_quote(text):
    assert neutralise_formula(text) == "'" + text
    assert cell_text(text) == "'" + text
    assert cell_xlsx(text).startswith("'")


@pytest.mark.parametrize("text", ["陳美玲", "0912-345-678", "a=b", ""])
def test_other_text_is_left_alone(text):
    assert cell_text(text) == text


@pytest.mark.parametrize("number", [-1280, Decimal("-1280.50"), -0.5])
def test_numbers_stay_numbers(number):
    assert cell_text(number) == str(number)
    assert cell_xlsx(number) == number


def test_times_are_taipei_with_the_offset_for_marketers_and_utc_when_raw():
    at = datetime(2025, 3, 12, 6, 5, 33, tzinfo=UTC)

    assert cell_text(at) == "2025-03-12 14:05:33+08:00"
    assert cell_text(at, raw=True) == "2025-03-12T06:05:33+00:00"


def test_csv_and_xlsx_files_hold_the_guarded_text_and_the_plain_numbers():
    rows = [["=1+2", -1280]]
    csv_file, xlsx_file = io.BytesIO(), io.BytesIO()

    csv_write(["name", "amount"], rows, csv_file, raw=False)
    xlsx_write(["name", "amount"], rows, xlsx_file, raw=False)

    assert csv_file.getvalue().decode("utf-8-sig").splitlines()[1] == "'=1+2,-1280"
    _header, row = load_workbook(xlsx_file).active.values
    assert row == ("'=1+2", -1280)
