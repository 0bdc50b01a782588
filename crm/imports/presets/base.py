"""Preset: one file layout of formats/README.md, its columns and its row parser."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from django.utils.functional import Promise

from crm.imports.messages import PROBLEM_DUPLICATE_COLUMN, PROBLEM_MISSING_COLUMN
from crm.imports.records import ParsedRow
from crm.source_files import HEADERS

RowParser = Callable[[int, Mapping[str, str]], ParsedRow]


@dataclass(frozen=True)
class Preset:
    name: str
    label: Promise | str
    required: tuple[str, ...]  # columns the file must have, as the source system names them
    optional: tuple[str, ...]  # columns read when present
    parse: RowParser  # parse(line, row) -> ParsedRow
    channel: str = ""  # the sales channel of its orders; "" for members

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional

    def check_header(self, headers: Sequence[str]) -> list[str]:
        """Problems with a file's column names (translated), empty when the file fits."""
        present = set(headers)
        problems = [
            str(PROBLEM_MISSING_COLUMN % {"column": column})
            for column in self.required
            if column not in present
        ]
        seen: set[str] = set()
        for header in headers:
            if header in seen and header in self.columns:
                problems.append(str(PROBLEM_DUPLICATE_COLUMN % {"column": header}))
            seen.add(header)
        return problems


def preset_for_layout(
    *,
    name: str,
    label: Promise | str,
    required: tuple[str, ...],
    parse: RowParser,
    channel: str = "",
) -> Preset:
    """A preset for the layout of that name in formats/README.md (crm.source_files.HEADERS,
    which the demo and the bench write): `required` columns must be there, the others of the
    layout are read when present."""
    optional = tuple(column for column in HEADERS[name] if column not in required)
    return Preset(
        name=name, label=label, required=required, optional=optional, parse=parse, channel=channel
    )
