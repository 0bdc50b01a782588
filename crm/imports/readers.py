"""Rows of an uploaded CSV or XLSX file, one at a time (formats/README.md: UTF-8, comma, header).

Files run to a million rows, so nothing here holds more than one row: CSV bytes are decoded line
by line (so an undecodable byte is reported with its line) and fed to the csv module; XLSX goes
through openpyxl's read-only mode. Line numbers are the ones a person sees in the file or in
Excel: the header is line 1.
"""

import csv
import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import IO

from django.utils.translation import gettext_lazy as _
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

Row = dict[str, str]
HeaderCallback = Callable[[list[str]], None]
Source = str | Path | IO[bytes]

EXTENSIONS = (".csv", ".xlsx")
ERROR_EXTENSION = _("Only .csv and .xlsx files can be imported (this one is %(extension)s).")
ERROR_XLS = _("Old .xls workbooks cannot be imported: save the file as .xlsx or CSV UTF-8.")
ERROR_EMPTY = _("The file is empty.")
ERROR_NO_HEADER = _("The first line has no column names.")
ERROR_DECODE = _(
    "Line %(line)s is not UTF-8 text (was the file saved as Big5?). "
    "Save it as CSV UTF-8 and try again."
)
ERROR_TOO_MANY_FIELDS = _(
    "Line %(line)s has %(count)s values but the header has %(columns)s columns "
    "(is an amount like 1,280 missing its quotes?)."
)
ERROR_CSV = _("Line %(line)s cannot be read as CSV (%(detail)s).")
ERROR_XLSX = _("The file cannot be opened as an XLSX workbook.")


class ImportFileError(ValueError):
    """The file cannot be read as a table; the message says why, `line` where (if known)."""

    def __init__(self, message: str, *, line: int | None = None):
        super().__init__(message)
        self.line = line


def read_rows(
    path_or_file: Source,
    *,
    filename: str,
    on_header: HeaderCallback | None = None,
) -> Iterator[tuple[int, Row]]:
    """(line number, {header: value}) for every non-blank data row, read as it is consumed.

    `filename` decides the format by its extension. `on_header` is called with the column names
    before the first row is yielded (it may raise to refuse the file). Values are strings exactly
    as in the file ("" for an empty cell); header names are trimmed. Raises ImportFileError for
    an unknown extension (at once), and while reading for an empty file, undecodable bytes,
    unreadable XLSX, or a row with more values than the header has columns.
    """
    extension = Path(filename).suffix.lower()
    if extension == ".xls":
        raise ImportFileError(str(ERROR_XLS))
    if extension not in EXTENSIONS:
        raise ImportFileError(str(ERROR_EXTENSION % {"extension": extension or "?"}))
    records = _csv_records if extension == ".csv" else _xlsx_records
    return _rows(records(path_or_file), on_header)


def _rows(
    records: Iterable[tuple[int, list[str]]], on_header: HeaderCallback | None
) -> Iterator[tuple[int, Row]]:
    records = iter(records)
    header_line, fields = next(((n, f) for n, f in records if any(f)), (0, None))
    if fields is None:
        raise ImportFileError(str(ERROR_EMPTY))
    headers = [field.strip().lstrip("\ufeff").strip() for field in fields]
    named = [header for header in headers if header]
    if not named:
        raise ImportFileError(str(ERROR_NO_HEADER), line=header_line)
    if on_header is not None:
        on_header(named)
    width = len(headers)
    # Columns without a name carry nothing we read; drop them instead of keying rows by "".
    keep = None if len(named) == width else [i for i, header in enumerate(headers) if header]
    for line, fields in records:
        count = len(fields)
        if count != width:
            if count > width:
                if any(field.strip() for field in fields[width:]):
                    raise ImportFileError(
                        str(
                            ERROR_TOO_MANY_FIELDS % {"line": line, "count": count, "columns": width}
                        ),
                        line=line,
                    )
                fields = fields[:width]
            else:
                fields = fields + [""] * (width - count)
        if not any(fields):
            continue
        if keep is None:
            yield line, dict(zip(headers, fields, strict=False))
        else:
            yield line, {headers[i]: fields[i] for i in keep}


# --- CSV -----------------------------------------------------------------------------------


def _csv_records(source: Source) -> Iterator[tuple[int, list[str]]]:
    """(first line of the record, fields); blank lines come back as empty lists."""
    if isinstance(source, str | Path):
        with open(source, "rb") as file:
            yield from _csv_parse(file)
    else:
        yield from _csv_parse(source)


def _csv_parse(file: Iterable[bytes | str]) -> Iterator[tuple[int, list[str]]]:
    # Each item handed to csv is one physical line, so reader.line_num is the file's line count.
    reader = csv.reader(_decoded_lines(file))
    end = 0
    try:
        for fields in reader:
            start, end = end + 1, reader.line_num
            yield start, fields
    except csv.Error as exc:
        line = reader.line_num
        raise ImportFileError(str(ERROR_CSV % {"line": line, "detail": exc}), line=line) from None


def _decoded_lines(file: Iterable[bytes | str]) -> Iterator[str]:
    lines = iter(file)
    first = next(lines, None)
    if first is None:
        return
    yield _decode(first, 1, "utf-8-sig")
    for number, raw in enumerate(lines, start=2):
        yield _decode(raw, number, "utf-8")


def _decode(raw: bytes | str, number: int, encoding: str) -> str:
    if isinstance(raw, str):  # a text-mode file or StringIO: already decoded
        return raw.lstrip("\ufeff") if number == 1 else raw
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        raise ImportFileError(str(ERROR_DECODE % {"line": number}), line=number) from None


# --- XLSX ----------------------------------------------------------------------------------


def _xlsx_records(source: Source) -> Iterator[tuple[int, list[str]]]:
    if isinstance(source, str | Path):
        with open(source, "rb") as file:
            yield from _xlsx_parse(file)
    else:
        yield from _xlsx_parse(source)


def _xlsx_parse(file: IO[bytes]) -> Iterator[tuple[int, list[str]]]:
    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError):
        raise ImportFileError(str(ERROR_XLSX)) from None
    try:
        if not workbook.worksheets:
            return
        sheet = workbook.worksheets[0]
        # Some exporters write a wrong <dimension>; read every row there is instead.
        sheet.reset_dimensions()
        # Read-only mode yields a (possibly empty) tuple for every row, gaps included.
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, [_cell_text(value) for value in cells]
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    """A cell as the text a person sees: 1280, 2025/03/12 14:05:33, "" for an empty cell."""
    if value is None:
        return ""
    kind = value.__class__
    if kind is str:
        return value  # type: ignore[return-value]
    if kind is int:
        return str(value)
    if kind is float:
        return str(int(value)) if value.is_integer() else repr(value)  # type: ignore[attr-defined]
    if kind is datetime:
        return f"{value:%Y/%m/%d %H:%M:%S}"
    if kind is date:
        return f"{value:%Y/%m/%d}"
    if kind is time:
        return f"{value:%H:%M:%S}"
    if kind is bool:
        return "TRUE" if value else "FALSE"
    return str(value)
