"""Reading and parsing import files (formats/README.md); no database access.

`parse_file(source, filename=..., preset=get_preset(name))` streams ParsedRows; the import
service decides what to write. The package is laid out by concern, in the order a file goes
through it:

- readers.py: a CSV or XLSX file → rows of text (encodings, bad lines, XLSX cells);
- presets/: one module per file layout (its columns, spellings and row parser) and the registry
  of them by name (PRESETS, get_preset);
- rows.py: RowReader, a row's cells read into values with each problem kept by column;
- values.py: one cell's text → a value (amounts, dates and Minguo years, choices, channels);
- messages.py: the reasons of row errors and warnings and of header problems;
- records.py: what a parsed row holds (ParsedRow with an OrderRecord or a MemberRecord);
- parsing.py: parse_file, a preset run over a file.
"""

from crm.imports.parsing import HeaderError, parse_file
from crm.imports.presets import PRESETS, Preset, UnknownPresetError, get_preset
from crm.imports.readers import (
    ENCODING_CHOICES,
    ENCODINGS,
    ImportFileError,
    RowIssue,
    detect_encoding,
    read_rows,
)
from crm.imports.records import MemberRecord, OrderRecord, ParsedRow

__all__ = [
    "ENCODINGS",
    "ENCODING_CHOICES",
    "PRESETS",
    "HeaderError",
    "ImportFileError",
    "MemberRecord",
    "OrderRecord",
    "ParsedRow",
    "Preset",
    "RowIssue",
    "UnknownPresetError",
    "detect_encoding",
    "get_preset",
    "parse_file",
    "read_rows",
]
