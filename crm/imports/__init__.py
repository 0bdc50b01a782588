"""Reading and parsing import files (formats/README.md); no database access.

`parse_file(source, filename=..., preset=get_preset(name))` streams ParsedRows; the import
service decides what to write.
"""

from crm.imports.presets import (
    PRESETS,
    HeaderError,
    MemberRecord,
    OrderRecord,
    ParsedRow,
    Preset,
    RowIssue,
    UnknownPresetError,
    get_preset,
    parse_file,
)
from crm.imports.readers import (
    ENCODING_CHOICES,
    ENCODINGS,
    ImportFileError,
    detect_encoding,
    read_rows,
)

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
