"""RowReader: the cells of one row read into values, each problem kept with its column.

A preset's row parser asks it for each column: `required` and `parsed` values decide whether
the row lands (a problem is an error), `optional` ones never do (a problem is a warning and the
value is left out), identifiers that do not normalise are skipped with a warning.
"""

from collections.abc import Callable, Mapping, Sequence

from crm import normalize
from crm.identifiers import NORMALIZERS, NormalizedIdentifiers, identifiers_normalize
from crm.imports.messages import (
    ERROR_REQUIRED,
    ERROR_TOO_LONG,
    WARNING_INVALID,
    WARNING_INVALID_OTHER,
    WARNING_MASKED,
    WARNING_NAME_CUT,
)
from crm.imports.readers import RowIssue
from crm.imports.records import NAME_MAX, OrderRecord, ParsedRow
from crm.imports.values import InvalidValue


class RowReader:
    """One row being parsed: reads values and collects issues with their column."""

    __slots__ = ("errors", "line", "row", "warnings")

    def __init__(self, line: int, row: Mapping[str, str]):
        self.line = line
        self.row = row
        self.errors: list[RowIssue] = []
        self.warnings: list[RowIssue] = []

    def text(self, column: str) -> str:
        return self.row.get(column, "").strip()

    def required(self, column: str, max_length: int | None = None) -> str:
        value = self.row.get(column, "").strip()
        if not value:
            self.errors.append(RowIssue(self.line, column, "", ERROR_REQUIRED))
        elif max_length is not None and len(value) > max_length:
            self.errors.append(
                RowIssue(self.line, column, value, ERROR_TOO_LONG, {"max": max_length})
            )
        return value

    def parsed(self, column: str, parse: Callable, *args, required: bool = True):
        """parse(value, *args), or None with an error; None for an empty optional value."""
        raw = self.row.get(column, "")
        if not raw.strip():
            if required:
                self.errors.append(RowIssue(self.line, column, raw, ERROR_REQUIRED))
            return None
        try:
            return parse(raw, *args)
        except InvalidValue as exc:
            self.errors.append(RowIssue(self.line, column, raw, exc.reason, exc.params))
            return None

    def optional(self, column: str, parse: Callable, *args, warning: str | None = None):
        """parse(value, *args) of a value that does not decide whether the row lands: an empty
        or bad value is None, a bad one with a warning (`warning`, or the parser's reason)."""
        raw = self.row.get(column, "")
        if not raw.strip():
            return None
        try:
            return parse(raw, *args)
        except InvalidValue as exc:
            reason = warning or exc.reason
            self.warnings.append(RowIssue(self.line, column, raw, reason, exc.params))
            return None

    def order_row(
        self, identifiers: NormalizedIdentifiers, *, name: str = "", **order
    ) -> ParsedRow:
        """The parsed order row: its OrderRecord (`order` as fields) only when no cell of the
        row was an error, and every issue found."""
        return ParsedRow(
            self.line,
            identifiers,
            order=None if self.errors else OrderRecord(**order),
            name=name,
            errors=self.errors,
            warnings=self.warnings,
        )

    def error(self, column: str, reason: str, params: Mapping[str, object] | None = None):
        self.errors.append(RowIssue(self.line, column, self.row.get(column, ""), reason, params))

    def name(self, column: str) -> str:
        value = self.row.get(column, "").strip()
        if len(value) > NAME_MAX:
            self.warnings.append(
                RowIssue(self.line, column, value, WARNING_NAME_CUT, {"max": NAME_MAX})
            )
            value = value[:NAME_MAX]
        return value

    def identifiers(
        self, columns: Sequence[tuple[str, str]], raw: list[tuple[str, str]] | None = None
    ) -> NormalizedIdentifiers:
        """Normal forms of the (column, kind) values; a skipped value becomes a warning."""
        row = self.row
        if raw is None:
            raw = [(kind, row.get(column, "")) for column, kind in columns]
        result = identifiers_normalize(raw)
        for kind, value, _detail in result.skipped:
            column = next(column for column, k in columns if k == kind)
            self.warnings.append(
                RowIssue(self.line, column, row.get(column, value), _skip_reason(kind, value))
            )
        return result


def _skip_reason(kind: str, value: str) -> str:
    try:
        NORMALIZERS[kind](value)
    except normalize.MaskedIdentifier:
        return WARNING_MASKED
    except normalize.InvalidIdentifier:
        pass
    return WARNING_INVALID.get(kind, WARNING_INVALID_OTHER)
