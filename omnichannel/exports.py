"""Files people download (CSV, XLSX), written the same way by every app.

- `neutralise_formula` is the one guard against CSV/formula injection (OWASP): a text cell that
  starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so Excel and
  LibreOffice show it as text instead of running it. Numbers are never text here (an amount of
  -1280 stays the number -1280). Every export path writes its cells through `cell_text` (CSV) or
  `cell_xlsx` (XLSX), which call it; the import report's CSV too.
- Values for marketers (`raw=False`): times in Asia/Taipei with their offset
  (`2025-03-12 14:05:33+08:00`), yes/no in the reader's language. For developers (`raw=True`):
  times in UTC ISO 8601. Labels of choices are the resource's business (crm/resources.py).
- `csv_chunks` streams a header and rows as CSV text with a BOM (Excel reads the Chinese as
  UTF-8); `xlsx_write` writes them with openpyxl's write-only mode (rows go to disk as they come).
"""

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import IO, Any

from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_ROWS_PER_CHUNK = 500
# A list up to this long is written straight into the response; a longer one by a worker.
EXPORT_INLINE_MAX_ROWS = 10_000
XLSX_MAX_ROWS = 1_048_575  # an Excel sheet's 1,048,576 rows, less the header


def neutralise_formula(text: str) -> str:
    """`text` as a spreadsheet will show it and never run it: `'` before a formula's first sign."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _time_text(value: datetime, *, raw: bool) -> str:
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if raw:
        return value.astimezone(UTC).isoformat()
    return timezone.localtime(value).isoformat(sep=" ", timespec="seconds")


def cell_text(value: Any, *, raw: bool = False) -> str:
    """One value as the text of a CSV cell (formulas neutralised)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value) if raw else gettext("Yes") if value else gettext("No")
    if isinstance(value, int | float | Decimal):
        return str(value)  # a number: its minus sign is not a formula
    if isinstance(value, datetime):
        return _time_text(value, raw=raw)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return neutralise_formula(json.dumps(value, ensure_ascii=False))
    return neutralise_formula(str(value))


def cell_xlsx(value: Any, *, raw: bool = False) -> Any:
    """One value as an XLSX cell: numbers and dates stay typed, text is neutralised."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if value is None or (isinstance(value, int | float | Decimal) and not isinstance(value, bool)):
        return value
    if isinstance(value, datetime):
        if raw:
            return _time_text(value, raw=True)
        # Excel has no time zones: Taipei's wall-clock time, as the marketer reads it.
        return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value
    if isinstance(value, date):
        return value
    return ILLEGAL_CHARACTERS_RE.sub("", cell_text(value, raw=raw))


class _Echo:
    """A file-like object whose write returns the line, for csv.writer into a generator."""

    def write(self, value: str) -> str:
        return value


def csv_lines(headers: Sequence[str], rows: Iterable[Sequence], *, raw: bool) -> Iterator[str]:
    """The header (with the BOM Excel needs for Chinese text) and each row, as CSV lines."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow([neutralise_formula(str(h)) for h in headers])
    for row in rows:
        yield writer.writerow([cell_text(value, raw=raw) for value in row])


def csv_chunks(headers: Sequence[str], rows: Iterable[Sequence], *, raw: bool) -> Iterator[str]:
    """The CSV text, header first, in chunks of CSV_ROWS_PER_CHUNK rows."""
    chunk: list[str] = []
    for line in csv_lines(headers, rows, raw=raw):
        chunk.append(line)
        if len(chunk) == CSV_ROWS_PER_CHUNK:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


def csv_write(
    headers: Sequence[str], rows: Iterable[Sequence], file: IO[bytes], *, raw: bool, on_row=None
) -> int:
    """Write the CSV to a binary file; returns the rows written (header not counted)."""
    lines = csv_lines(headers, rows, raw=raw)
    file.write(next(lines).encode("utf-8"))
    written = 0
    for written, line in enumerate(lines, 1):
        file.write(line.encode("utf-8"))
        if on_row:
            on_row(written)
    return written


def xlsx_write(
    headers: Sequence[str], rows: Iterable[Sequence], file: IO[bytes], *, raw: bool, on_row=None
) -> int:
    """Write an XLSX workbook (openpyxl write-only) to a binary file; returns the rows written."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append([cell_xlsx(str(h)) for h in headers])
    written = 0
    for row in rows:
        written += 1
        sheet.append([cell_xlsx(value, raw=raw) for value in row])
        if on_row:
            on_row(written)
    workbook.save(file)
    return written


class CsvReportWriter:
    """csv.writer's writerow for reports written row by row (the import report), neutralised."""

    def __init__(self, stream: IO[str]):
        self._writer = csv.writer(stream)

    def writerow(self, row: Sequence) -> None:
        self._writer.writerow([cell_text(value) for value in row])


# --- Lists through django-import-export resources (the admin, the member list, any app) ----
# A resource here has `raw` (codes and UTC, or labels and Taipei time) and returns native values
# (force_native_type), so the writers above decide what is a number and what is text.

ERROR_XLSX_TOO_LARGE = _(
    "%(rows)s rows do not fit in an Excel sheet (at most %(max)s): export CSV, or narrow the list."
)


class ExportError(ValueError):
    pass


def export_rows(resource, queryset: QuerySet, fields: Sequence[str] | None) -> Iterator[list]:
    """Each object of the queryset as the resource's list of native values, streamed."""
    for obj in resource.iter_queryset(resource.filter_export(queryset)):
        yield resource.export_resource(obj, selected_fields=fields or None, force_native_type=True)


def resource_headers(resource, fields: Sequence[str] | None) -> list[str]:
    """The resource's headers: labels in the active language, or codes for a raw resource."""
    return resource.get_export_headers(selected_fields=fields or None)


def export_csv_chunks(resource, queryset: QuerySet, fields: Sequence[str] | None) -> Iterator[str]:
    """The CSV text, header first, in chunks; written in the language active when called (a
    streamed response is written after the view returned and its language was switched off)."""
    language = translation.get_language()
    rows = export_rows(resource, queryset, fields)
    chunks = csv_chunks(resource_headers(resource, fields), rows, raw=resource.raw)
    while True:
        with translation.override(language):
            chunk = next(chunks, None)
        if chunk is None:
            return
        yield chunk


def export_xlsx_write(
    resource, queryset: QuerySet, fields: Sequence[str] | None, file: IO[bytes], on_row=None
) -> int:
    """Write an XLSX workbook to `file`. Raises ExportError past an Excel sheet's rows."""
    if (rows := queryset[: XLSX_MAX_ROWS + 1].count()) > XLSX_MAX_ROWS:
        raise ExportError(
            str(ERROR_XLSX_TOO_LARGE % {"rows": f"{rows - 1:,}+", "max": f"{XLSX_MAX_ROWS:,}"})
        )
    rows_ = export_rows(resource, queryset, fields)
    return xlsx_write(
        resource_headers(resource, fields), rows_, file, raw=resource.raw, on_row=on_row
    )
