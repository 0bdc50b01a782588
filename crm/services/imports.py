"""File imports: stream a file through a preset, resolve identities a batch at a time, write.

The same function serves `manage.py import_file`, the Celery task and the import pages. Good rows
land and bad rows are reported (line, column, value, reason); `strict` lands nothing if any row
is bad; `dry_run` does the whole import in a transaction and rolls it back, so its counts are
exactly what a real run would do.
"""

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from queue import Full, Queue
from typing import IO

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.bulk import tables_analyze
from crm.imports import ParsedRow, Preset, RowIssue, get_preset, parse_file
from crm.imports.readers import AUTO
from crm.models import Consent, Identity, Member, MemberStats, Order
from crm.services.consent import consents_record_batch
from crm.services.orders import orders_upsert
from crm.services.resolution_batch import BatchRecord, members_resolve_batch
from crm.services.stats import member_stats_refresh
from omnichannel.exports import CsvReportWriter

BATCH_SIZE = 20_000
PREVIEW_ISSUES = 200
RESOLVE_ATTEMPTS = 3
# The report's header and severities, in the language active when it is written (a worker
# writes it in LANGUAGE_CODE, zh-Hant): marketers open it in Excel next to their file.
REPORT_HEADER = (_("line"), _("column"), _("value"), _("severity"), _("reason"))
SEVERITY_LABELS = {"error": _("error"), "warning": _("warning")}
GROWING_TABLES = (Member, Identity, Order, MemberStats, Consent)


@dataclass
class ImportResult:
    preset: str
    rows: int = 0
    imported: int = 0
    failed: int = 0  # rows with an error: not imported
    warnings: int = 0  # rows imported with a value skipped (masked phone, bad email, …)
    members_created: int = 0
    merges: int = 0
    orders_written: int = 0
    consents_written: int = 0
    strict: bool = False
    dry_run: bool = False
    rejected: bool = False  # strict and some row was bad: nothing landed
    # Members whose figures the import changes, refreshed once at the end, not once a batch.
    members_touched: set[int] = field(default_factory=set, repr=False)
    issues: list[tuple[str, RowIssue]] = field(default_factory=list)  # the first few, for a preview

    @property
    def landed(self) -> bool:
        return not (self.rejected or self.dry_run)


class _DryRunRollback(Exception):
    pass


class ImportReport:
    """Every issue of an import as CSV rows (line, column, value, severity, reason)."""

    def __init__(self, stream: IO[str] | None):
        # Neutralised: a row's value is whatever the file held, "=HYPERLINK(…)" included.
        self._writer = CsvReportWriter(stream) if stream is not None else None
        if self._writer:
            self._writer.writerow([str(title) for title in REPORT_HEADER])

    def write(self, severity: str, issue: RowIssue) -> None:
        if self._writer:
            label = SEVERITY_LABELS.get(severity, severity)
            self._writer.writerow((issue.line, issue.column, issue.value, label, issue.message))


def import_file_run(
    *,
    source: str | Path | IO[bytes],
    filename: str,
    preset_name: str,
    encoding: str = AUTO,
    strict: bool = False,
    dry_run: bool = False,
    report: IO[str] | None = None,
    on_progress: Callable[[ImportResult], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportResult:
    """Import a file with a preset; `encoding` is how CSV bytes are read (crm.imports.ENCODINGS).

    Raises ImportFileError/HeaderError for a file that cannot be read at all (no header, not
    text), before anything is written; a line that cannot be read is a row error."""
    preset = get_preset(preset_name)
    result = ImportResult(preset=preset.name, strict=strict, dry_run=dry_run)
    issues = ImportReport(report)
    if strict:
        # A first pass over the whole file, writing nothing: one bad row rejects the file.
        checked = import_file_check(
            source=source,
            filename=filename,
            preset_name=preset_name,
            encoding=encoding,
            report=report,
        )
        if checked.failed:
            checked.strict, checked.rejected, checked.dry_run = True, True, dry_run
            return checked
        issues = ImportReport(None)  # already reported in the first pass
    rows = parse_file(_reopen(source), filename=filename, preset=preset, encoding=encoding)
    # A real import commits batch by batch (re-running a file is harmless); a dry run is one
    # transaction rolled back at the end.
    try:
        with transaction.atomic() if dry_run else nullcontext():
            for number, batch in enumerate(_batches_ahead(rows, batch_size), start=1):
                good = [row for row in batch if _count(result, row, issues)]
                if good:
                    with transaction.atomic():
                        _import_batch(preset=preset, rows=good, result=result)
                if number & (number - 1) == 0:
                    # After batches 1, 2, 4, 8, …: tables this import grows keep true statistics.
                    tables_analyze(GROWING_TABLES)
                if on_progress:
                    on_progress(result)
            # A member appears in many batches; one refresh each at the end, not one a batch.
            member_stats_refresh(member_ids=result.members_touched)
            if dry_run:
                raise _DryRunRollback
    except _DryRunRollback:
        pass
    return result


def import_file_check(
    *,
    source: str | Path | IO[bytes],
    filename: str,
    preset_name: str,
    encoding: str = AUTO,
    report: IO[str] | None = None,
    on_progress: Callable[[ImportResult], None] | None = None,
) -> ImportResult:
    """Parse and check every row without writing anything: the preview before an import."""
    preset = get_preset(preset_name)
    result = ImportResult(preset=preset.name, dry_run=True)
    issues = ImportReport(report)
    rows = parse_file(_reopen(source), filename=filename, preset=preset, encoding=encoding)
    for batch in _batches(rows, 5_000):
        for row in batch:
            _count(result, row, issues)
        if on_progress:
            on_progress(result)
    return result


def _reopen(source):
    """A fresh stream for a pass: paths reopen, file objects rewind."""
    if isinstance(source, str | Path):
        return Path(source)
    source.seek(0)
    return source


def _batches(rows: Iterable[ParsedRow], size: int) -> Iterator[list[ParsedRow]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


_END = object()


def _batches_ahead(rows: Iterable[ParsedRow], size: int) -> Iterator[list[ParsedRow]]:
    """_batches, with the next batch parsed in a thread while the caller writes this one.

    Parsing touches no database. Writing a batch is mostly waiting on PostgreSQL, and psycopg
    releases the GIL while it waits, so the two overlap. An error while reading the file (a
    bad header, say) is raised here, in the caller's thread, as _batches would raise it.
    """
    handoff: Queue = Queue(maxsize=1)
    stopped = threading.Event()

    def hand_over(item) -> bool:
        while not stopped.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def parse() -> None:
        try:
            for batch in _batches(rows, size):
                if not hand_over(batch):
                    return
            hand_over(_END)
        except BaseException as exc:
            hand_over(exc)

    parser = threading.Thread(target=parse, name="import-parse", daemon=True)
    parser.start()
    try:
        while (item := handoff.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stopped.set()
        parser.join()


def _count(result: ImportResult, row: ParsedRow, report: ImportReport) -> bool:
    """Count a row and report its issues; True when it can be imported."""
    result.rows += 1
    for severity, found in (("error", row.errors), ("warning", row.warnings)):
        for issue in found:
            report.write(severity, issue)
            if len(result.issues) < PREVIEW_ISSUES:
                result.issues.append((severity, issue))
    if row.errors:
        result.failed += 1
        return False
    result.warnings += bool(row.warnings)
    return True


def _seen_at(row: ParsedRow):
    """When the source saw the row's identifiers: the order's time, a member's join date."""
    if row.order is not None:
        return row.order.placed_at
    return row.member.joined_at if row.member is not None else None


def _import_batch(*, preset: Preset, rows: list[ParsedRow], result: ImportResult) -> None:
    at = timezone.now()
    records = [
        BatchRecord(
            identifiers=row.identifiers.identifiers,
            member_no=row.identifiers.member_no,
            profile=row.profile,
            seen_at=_seen_at(row),
        )
        for row in rows
    ]
    for attempt in range(RESOLVE_ATTEMPTS):
        try:
            # A savepoint per try: another writer may have attached a new identifier meanwhile.
            with transaction.atomic():
                resolution = members_resolve_batch(records=records, source=preset.channel, at=at)
            break
        except IntegrityError:
            if attempt == RESOLVE_ATTEMPTS - 1:
                raise
    result.members_created += resolution.members_created
    result.merges += resolution.merges
    orders = [
        (row.order, member_id)
        for row, member_id in zip(rows, resolution.member_ids, strict=True)
        if row.order
    ]
    if orders:
        written = orders_upsert(
            orders=[order for order, _ in orders],
            member_ids=[m for _, m in orders],
            refresh_stats=False,
        )
        result.orders_written += written.written
        result.members_touched |= written.members
    decisions = [
        (member_id, channel, opted_in)
        for row, member_id in zip(rows, resolution.member_ids, strict=True)
        if row.member is not None and member_id is not None
        for channel, opted_in in row.member.consents.items()
    ]
    # Rows without orders (the member list) still give new members their (empty) figures.
    result.members_touched.update(m for m in resolution.member_ids if m is not None)
    if decisions:
        result.consents_written += consents_record_batch(
            decisions=decisions, source=f"import:{preset.name}", at=at
        )
    result.imported += len(rows)
