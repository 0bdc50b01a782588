"""Rows of an uploaded CSV or XLSX file, one at a time (formats/README.md).

Files run to a million rows, so nothing here holds more than one row. CSV comes in UTF-8 (with or
without a BOM), Big5/CP950 (Excel's "CSV" on a Traditional-Chinese Windows) or UTF-16 with tabs
(Excel's "Unicode text"); the encoding is detected from a sample (BOM, a strict UTF-8 decode,
then CP950) unless the caller names it, and the delimiter from the header line. XLSX goes through
openpyxl's read-only mode. Line numbers are the ones a person sees in the file or in Excel: the
header is line 1.

One bad line never refuses the file: an undecodable byte, a NUL byte, more values than columns,
or a quote that is never closed (it swallows the lines after it) becomes an error of that line
only, and the reader goes on (after an unclosed quote, from the line after the one that opened
it). Only what makes the whole file unreadable (no header, not text at all) raises.
"""

import codecs
import csv
import re
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, NamedTuple

from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter, range_boundaries
from openpyxl.utils.exceptions import InvalidFileException

Row = dict[str, str]
HeaderCallback = Callable[[list[str]], None]
Source = str | Path | IO[bytes]

EXTENSIONS = (".csv", ".xlsx")
# The encodings a person can choose (the upload page, import_file --encoding).
AUTO, UTF8, BIG5, UTF16 = "auto", "utf-8", "big5", "utf-16"
ENCODINGS = (AUTO, UTF8, BIG5, UTF16)
ENCODING_CHOICES = (
    (AUTO, _("Detect")),
    (UTF8, _("UTF-8")),
    (BIG5, _("Big5 (Excel CSV on Traditional-Chinese Windows)")),
    (UTF16, _("UTF-16 (Excel Unicode text, tab separated)")),
)
_CODECS = {UTF8: "utf-8", BIG5: "cp950", UTF16: "utf-16"}
_NAMES = {"utf-8": "UTF-8", "cp950": "Big5", "utf-16": "UTF-16", "utf-16-le": "UTF-16"}
SAMPLE_BYTES = 256 * 1024
VALUE_MAX = 300  # of a bad line, as shown in the preview and the report

ERROR_EXTENSION = _("Only .csv and .xlsx files can be imported (this one is %(extension)s).")
ERROR_XLS = _("Old .xls workbooks cannot be imported: save the file as .xlsx or CSV UTF-8.")
ERROR_EMPTY = _("The file is empty.")
ERROR_NO_HEADER = _("The first line has no column names.")
ERROR_ENCODING = _("Unknown encoding %(encoding)s; choose one of %(choices)s.")
ERROR_NOT_TEXT = _(
    "This is not a text file: it looks like %(kind)s. Save it as CSV (UTF-8 or Big5) or XLSX."
)
ERROR_UNDECODABLE = _(
    "The file's first line is not UTF-8, Big5 or UTF-16 text. Save it as CSV UTF-8, or choose "
    "its encoding when you upload it."
)
ERROR_HEADER_ENCODING = _(
    "The file's first line is not %(encoding)s text: choose another encoding (or Detect)."
)
ERROR_XLSX = _("The file cannot be opened as an XLSX workbook.")
LOOKS_LIKE_ZIP = _("a ZIP archive (an XLSX workbook named .csv?)")
LOOKS_LIKE_XLS = _("an old Excel .xls workbook")
LOOKS_LIKE_PDF = _("a PDF document")
LOOKS_LIKE_GZIP = _("a compressed (gzip) file")
LOOKS_LIKE_BINARY = _("a binary file")

# Problems of one line or cell: English msgids, translated when shown (RowIssue.message).
ERROR_LINE_DECODE = gettext_noop(
    "This line is not %(encoding)s text (it holds a byte that is no character): line skipped."
)
ERROR_LINE_NUL = gettext_noop("This line holds a NUL byte (a damaged export?): line skipped.")
ERROR_TOO_MANY_FIELDS = gettext_noop(
    "This line has %(count)s values but the header has %(columns)s columns "
    "(is an amount like 1,280 missing its quotes?): line skipped."
)
ERROR_UNCLOSED_QUOTE = gettext_noop(
    "A quote opened on this line is never closed, so it swallowed the lines after it: this line "
    "is skipped and the lines after it are read again."
)
ERROR_CSV = gettext_noop("This line cannot be read as CSV (%(detail)s): line skipped.")
WARNING_FORMULA = gettext_noop(
    "Cell %(cell)s holds a formula without a saved value (the workbook was not recalculated "
    "and saved in Excel): read as blank."
)
WARNING_MERGED = gettext_noop(
    "Cell %(cell)s is part of the merged cells %(range)s, so it reads as blank: unmerge the "
    "cells and fill in each one."
)
ERROR, WARNING = "error", "warning"


class ImportFileError(ValueError):
    """The file cannot be read as a table; the message says why, `line` where (if known)."""

    def __init__(self, message: str, *, line: int | None = None):
        super().__init__(message)
        self.line = line


class RowIssue(NamedTuple):
    """Something wrong with one value: where it is, what it was, and why (an English msgid)."""

    line: int
    column: str  # the file's own header name, e.g. 銷售金額 ("" for the whole line)
    value: str
    reason: str  # msgid; may hold %(name)s placeholders filled from params
    params: Mapping[str, object] | None = None

    @property
    def message(self) -> str:
        """The reason in the active language, placeholders filled."""
        text = gettext(self.reason)
        return text % self.params if self.params else text

    def __str__(self) -> str:
        return f"{self.line} {self.column} {self.value!r}: {self.message}"


# What a record may carry besides its fields: (severity, column index or None, value, reason,
# params). None for the (very many) records without any.
Note = tuple[str, int | None, str, str, Mapping[str, object] | None]
Record = tuple[int, list[str], list[Note] | None]
Issues = list[tuple[str, RowIssue]]


def read_rows(
    path_or_file: Source,
    *,
    filename: str,
    on_header: HeaderCallback | None = None,
    encoding: str = AUTO,
) -> Iterator[tuple[int, Row | None, Issues | None]]:
    """(line number, {header: value}, issues) for every non-blank data row, read as consumed.

    `filename` decides the format by its extension; `encoding` (one of ENCODINGS) how CSV bytes
    are read. `on_header` is called with the column names before the first row is yielded (it
    may raise to refuse the file). Values are strings exactly as in the file ("" for an empty
    cell); header names are trimmed. A line that cannot be read comes back as (line, None,
    [("error", issue)]); XLSX cells that read as blank for a reason the person cannot see
    (merged, a formula never calculated) add ("warning", issue) to their row. Issues is None
    for a row without any.

    Raises ImportFileError for an unknown extension or encoding (at once), and while reading for
    an empty file, a file that is no text, a header that cannot be decoded, or unreadable XLSX.
    """
    extension = Path(filename).suffix.lower()
    if extension == ".xls":
        raise ImportFileError(str(ERROR_XLS))
    if extension not in EXTENSIONS:
        raise ImportFileError(str(ERROR_EXTENSION % {"extension": extension or "?"}))
    if encoding not in ENCODINGS:
        raise ImportFileError(
            str(ERROR_ENCODING % {"encoding": encoding, "choices": ", ".join(ENCODINGS)})
        )
    if extension == ".csv":
        records = _opened(path_or_file, lambda file: _csv_records(file, encoding))
    else:
        records = _opened(path_or_file, _xlsx_records)
    return _rows(records, on_header)


def _opened(source: Source, read: Callable[[IO[bytes]], Iterator[Record]]) -> Iterator[Record]:
    if isinstance(source, str | Path):
        with open(source, "rb") as file:
            yield from read(file)
    else:
        yield from read(source)


def _rows(
    records: Iterable[Record], on_header: HeaderCallback | None
) -> Iterator[tuple[int, Row | None, Issues | None]]:
    records = iter(records)
    header_line, fields = next(((n, f) for n, f, notes in records if any(f)), (0, None))
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
    for line, fields, notes in records:
        count = len(fields)
        if count != width:
            if count > width:
                if any(field.strip() for field in fields[width:]):
                    value = ",".join(fields)[:VALUE_MAX]
                    params = {"count": count, "columns": width}
                    issue = RowIssue(line, "", value, ERROR_TOO_MANY_FIELDS, params)
                    yield line, None, [(ERROR, issue)]
                    continue
                fields = fields[:width]
            else:
                fields = fields + [""] * (width - count)
        issues = None
        if notes:
            issues = [
                (
                    severity,
                    RowIssue(
                        line,
                        headers[index] if index is not None and index < width else "",
                        value,
                        reason,
                        params,
                    ),
                )
                for severity, index, value, reason, params in notes
            ]
            if any(severity == ERROR for severity, _ in issues):
                yield line, None, issues
                continue
        if not any(fields):
            continue
        if keep is None:
            row = dict(zip(headers, fields, strict=False))
        else:
            row = {headers[i]: fields[i] for i in keep}
        yield line, row, issues


# --- CSV -----------------------------------------------------------------------------------


def _looks_like(sample: bytes):
    """What a file that is no text seems to be, or None."""
    if sample.startswith(b"PK\x03\x04"):
        return LOOKS_LIKE_ZIP
    if sample.startswith(b"\xd0\xcf\x11\xe0"):
        return LOOKS_LIKE_XLS
    if sample.startswith(b"%PDF"):
        return LOOKS_LIKE_PDF
    if sample.startswith(b"\x1f\x8b"):
        return LOOKS_LIKE_GZIP
    head = sample[:4096]
    controls = sum(head.count(bytes([c])) for c in (*range(0, 9), 11, 12, *range(14, 27), 28, 29))
    if head and controls > len(head) // 20:
        return LOOKS_LIKE_BINARY
    return None


def detect_encoding(sample: bytes) -> str:
    """The Python codec a CSV file's first bytes are in: a BOM decides; then UTF-8 unless most
    lines with non-ASCII bytes are not UTF-8 and read as CP950 (Big5). Raises ImportFileError
    for a file that is no text at all, naming what it looks like."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    half = len(sample) // 2
    if half >= 2:
        # UTF-16 without a BOM: ASCII text with every other byte NUL.
        odd, even = sample[1::2].count(0), sample[0::2].count(0)
        if odd > half * 0.3 and even < half * 0.05:
            return "utf-16-le"
        if even > half * 0.3 and odd < half * 0.05:
            return "utf-16-be"
    kind = _looks_like(sample)
    if kind is not None:
        raise ImportFileError(str(ERROR_NOT_TEXT % {"kind": kind}), line=1)
    lines = sample.split(b"\n")
    if len(sample) >= SAMPLE_BYTES and len(lines) > 1:
        lines.pop()  # cut off mid-line (and maybe mid-character)
    utf8_ok = utf8_bad = big5_bad = 0
    for raw in lines:
        if raw.isascii():
            continue
        try:
            raw.decode("utf-8")
            utf8_ok += 1
        except UnicodeDecodeError:
            utf8_bad += 1
            try:
                raw.decode("cp950")
            except UnicodeDecodeError:
                big5_bad += 1
    if utf8_bad > utf8_ok and big5_bad < utf8_bad:
        return "cp950"
    return "utf-8"


def _csv_records(file: IO[bytes], encoding: str) -> Iterator[Record]:
    sample = file.read(SAMPLE_BYTES)
    file.seek(0)
    if not sample:
        return
    codec = detect_encoding(sample) if encoding == AUTO else _CODECS[encoding]
    utf16 = codec.startswith("utf-16")
    lines = _utf16_lines(file, codec) if utf16 else _byte_lines(file, codec)
    yield from _csv_parse(lines, _NAMES.get(codec, codec), detected=encoding == AUTO)


Line = tuple[int, str, str | None]  # (line number, text, problem msgid or None)


def _byte_lines(file: Iterable[bytes | str], codec: str) -> Iterator[Line]:
    """Lines of an ASCII-compatible encoding (UTF-8, CP950), decoded one by one, so a bad byte
    costs its own line only. A Big5 trail byte is never a newline, comma or quote."""
    lines = iter(file)
    first = next(lines, None)
    if first is None:
        return
    yield _decoded(first, 1, "utf-8-sig" if codec == "utf-8" else codec)
    for number, raw in enumerate(lines, start=2):
        yield _decoded(raw, number, codec)


def _decoded(raw: bytes | str, number: int, codec: str) -> Line:
    if isinstance(raw, str):  # a text-mode file or StringIO: already decoded
        text = raw.lstrip("\ufeff") if number == 1 else raw
    else:
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            return number, raw.decode(codec, errors="replace"), ERROR_LINE_DECODE
    if "\x00" in text:
        return number, text.replace("\x00", ""), ERROR_LINE_NUL
    return number, text, None


def _utf16_lines(file: IO[bytes], codec: str) -> Iterator[Line]:
    """Lines of UTF-16 text; a broken code unit reads as U+FFFD and costs its line."""
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    number, rest = 0, ""
    while True:
        chunk = file.read(1 << 16)
        text = rest + decoder.decode(chunk, final=not chunk)
        *complete, rest = text.split("\n")
        for line in complete:
            number += 1
            yield _checked(number, line + "\n")
        if not chunk:
            break
    if rest:
        yield _checked(number + 1, rest)


def _checked(number: int, text: str) -> Line:
    if number == 1:
        text = text.lstrip("\ufeff")
    if "\ufffd" in text:
        return number, text, ERROR_LINE_DECODE
    if "\x00" in text:
        return number, text.replace("\x00", ""), ERROR_LINE_NUL
    return number, text, None


def _csv_parse(lines: Iterator[Line], encoding_name: str, *, detected: bool) -> Iterator[Record]:
    """(first line of the record, fields, notes); blank lines come back as empty lists.

    Each item handed to csv is one physical line, and the lines a record took are kept, so a
    record that went wrong is reported at its first line and its other lines read again.
    """
    pending: deque[Line] = deque()  # lines to read again
    taken: list[Line] = []  # the lines of the record being read
    state = {"exhausted": False}

    def feed() -> Iterator[str]:
        while True:
            if pending:
                item = pending.popleft()
            else:
                item = next(lines, None)
                if item is None:
                    state["exhausted"] = True
                    return
            taken.append(item)
            yield item[1]

    first = next(lines, None)
    if first is None:
        return
    if first[2] is not None:  # the header cannot be decoded: this is not that encoding
        message = (
            ERROR_UNDECODABLE if detected else ERROR_HEADER_ENCODING % {"encoding": encoding_name}
        )
        raise ImportFileError(str(message), line=1)
    header = first[1]
    delimiter = "\t" if header.count("\t") > header.count(",") else ","
    width = len(next(csv.reader([header], delimiter=delimiter), []))
    pending.append(first)
    reader = csv.reader(feed(), delimiter=delimiter)
    while True:
        taken.clear()
        detail = None
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            fields, detail = [], str(exc)
        if not taken:
            return
        start, text, _problem = taken[0]
        if len(taken) > 1 and (
            detail is not None or _swallowed(taken, fields, width, delimiter, state["exhausted"])
        ):
            # A quote that never closed: report where it opened, read the rest again.
            value = text.rstrip("\r\n")[:VALUE_MAX]
            yield start, [], [(ERROR, None, value, ERROR_UNCLOSED_QUOTE, None)]
            pending.extendleft(reversed(taken[1:]))
            reader = csv.reader(feed(), delimiter=delimiter)
            state["exhausted"] = False
            continue
        if detail is not None:
            value = text.rstrip("\r\n")[:VALUE_MAX]
            yield start, [], [(ERROR, None, value, ERROR_CSV, {"detail": detail})]
            continue
        bad = next((item for item in taken if item[2] is not None), None)
        if bad is not None:
            number, bad_text, reason = bad
            params = {"encoding": encoding_name} if reason == ERROR_LINE_DECODE else None
            note = (ERROR, None, bad_text.rstrip("\r\n")[:VALUE_MAX], reason, params)
            yield number, [], [note]
            continue
        yield start, fields, None


def _swallowed(
    taken: list[Line], fields: list[str], width: int, delimiter: str, at_end: bool
) -> bool:
    """Whether a record over several lines is a quote that never closed rather than a cell
    holding line breaks: a following line that is a whole row by itself, more values than the
    header, or the end of the file reached inside the quote."""
    if len(fields) > width:
        return True
    if any(item[1].count(delimiter) >= max(width - 1, 1) for item in taken[1:]):
        return True
    return at_end and any(field.endswith(("\n", "\r")) for field in fields)


# --- XLSX ----------------------------------------------------------------------------------

_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_MERGE = re.compile(rb"<(?:\w+:)?mergeCell\s[^>]*?ref=\"([A-Z]+[0-9]+:[A-Z]+[0-9]+)\"")


def _xlsx_records(file: IO[bytes]) -> Iterator[Record]:
    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError):
        raise ImportFileError(str(ERROR_XLSX)) from None
    formulas = None
    try:
        if not workbook.worksheets:
            return
        sheet = workbook.worksheets[0]
        has_formula, merged = _sheet_scan(workbook, sheet)
        notes = _merged_notes(merged)
        # Some exporters write a wrong <dimension>; read every row there is instead.
        sheet.reset_dimensions()
        rows = sheet.iter_rows(values_only=True)
        if has_formula:
            # Only with formulas: the same sheet once more, as formulas, to tell a formula that
            # was never calculated (None with data_only) from an empty cell.
            file.seek(0)
            formulas = load_workbook(file, read_only=True, data_only=False)
            formula_sheet = formulas.worksheets[0]
            formula_sheet.reset_dimensions()
            rows = _with_formulas(rows, formula_sheet.iter_rows(values_only=True), notes)
        # Read-only mode yields a (possibly empty) tuple for every row, gaps included.
        for number, cells in enumerate(rows, start=1):
            yield number, [_cell_text(value) for value in cells], notes.get(number)
    finally:
        workbook.close()
        if formulas is not None:
            formulas.close()


def _sheet_scan(workbook, sheet) -> tuple[bool, list[str]]:
    """Whether the sheet's XML holds any formula, and its merged ranges (read-only mode offers
    neither): one streaming pass over the compressed XML, far cheaper than parsing it."""
    archive = getattr(workbook, "_archive", None)
    path = getattr(sheet, "_worksheet_path", None)
    if archive is None or path is None:
        return True, []
    has_formula, merged, tail = False, [], b""
    with archive.open(path) as xml:
        while chunk := xml.read(1 << 20):
            text = tail + chunk
            has_formula = has_formula or _FORMULA.search(text) is not None
            merged.extend(m.decode() for m in _MERGE.findall(text))
            # A tag cut by the chunk boundary is seen whole with the next chunk; a range seen
            # twice that way is kept once.
            tail = text[-200:]
    return has_formula, list(dict.fromkeys(merged))


def _merged_notes(ranges: list[str]) -> dict[int, list[Note]]:
    """Row number → a warning per merged range for the cells of that row that read as blank."""
    notes: dict[int, list[Note]] = {}
    for ref in ranges:
        min_col, min_row, max_col, max_row = range_boundaries(ref)
        for row in range(min_row, max_row + 1):
            first_col = min_col + 1 if row == min_row else min_col
            if first_col > max_col:
                continue
            cell = f"{get_column_letter(first_col)}{row}"
            if max_col > first_col:
                cell += f":{get_column_letter(max_col)}{row}"
            params = {"cell": cell, "range": ref}
            notes.setdefault(row, []).append((WARNING, first_col - 1, "", WARNING_MERGED, params))
    return notes


def _with_formulas(values, formulas, notes: dict[int, list[Note]]):
    """The rows of values; a cell that is None there but a formula in `formulas` was never
    calculated: a warning naming the cell is added to its row's notes."""
    for number, (cells, formula_cells) in enumerate(zip(values, formulas, strict=False), start=1):
        for index, value in enumerate(cells):
            if value is None and index < len(formula_cells):
                formula = formula_cells[index]
                if formula is not None and not (isinstance(formula, str) and not formula):
                    cell = f"{get_column_letter(index + 1)}{number}"
                    text = formula if isinstance(formula, str) else getattr(formula, "text", "")
                    notes.setdefault(number, []).append(
                        (WARNING, index, str(text or ""), WARNING_FORMULA, {"cell": cell})
                    )
        yield cells


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
