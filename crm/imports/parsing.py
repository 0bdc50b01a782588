"""parse_file: a file read row by row and each row parsed by its preset, streamed."""

from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from crm.identifiers import NormalizedIdentifiers
from crm.imports.readers import AUTO, ERROR, ImportFileError, Source, read_rows
from crm.imports.records import ParsedRow

if TYPE_CHECKING:  # crm.imports.presets re-exports this module's names
    from crm.imports.presets.base import Preset


class HeaderError(ImportFileError):
    """The file's header does not fit the preset; `problems` lists why."""

    def __init__(self, problems: list[str]):
        super().__init__(" ".join(problems), line=1)
        self.problems = problems


def parse_file(
    source: Source, *, filename: str, preset: "Preset", encoding: str = AUTO
) -> Iterator[ParsedRow]:
    """Every data row of the file parsed by the preset, streamed; a line that cannot be read is
    a row with that error.

    Raises HeaderError (an ImportFileError) before the first row when the header does not fit,
    and ImportFileError for a file that cannot be read at all (see read_rows).
    """

    def check(headers: list[str]) -> None:
        problems = preset.check_header(headers)
        if problems:
            raise HeaderError(problems)

    parse = preset.parse
    for line, row, issues in read_rows(
        source, filename=filename, on_header=check, encoding=encoding
    ):
        if row is None:
            errors = [issue for _, issue in issues or ()]
            yield ParsedRow(line, NormalizedIdentifiers(), errors=errors)
            continue
        parsed = parse(line, row)
        if issues:
            for severity, issue in issues:
                (parsed.errors if severity == ERROR else parsed.warnings).append(issue)
            if parsed.errors:
                parsed = replace(parsed, order=None, member=None)
        yield parsed
