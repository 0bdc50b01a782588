import sys
from contextlib import ExitStack
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from crm.imports import ENCODINGS, PRESETS, HeaderError, ImportFileError
from crm.services.imports import ImportResult, import_file_run


class Command(BaseCommand):
    help = (
        "Import a CSV or XLSX file from the brand's systems through a preset "
        "(shared/formats/README.md). Good rows land, bad rows are reported; --strict lands "
        "nothing if any row is bad and exits non-zero."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--preset", required=True, choices=sorted(PRESETS))
        parser.add_argument(
            "--encoding",
            choices=ENCODINGS,
            default="auto",
            help="how a CSV file's bytes are read (default: detect UTF-8, Big5 or UTF-16)",
        )
        parser.add_argument("--strict", action="store_true", help="reject the file on any bad row")
        parser.add_argument("--dry-run", action="store_true", help="import, then roll back")
        parser.add_argument("--report", type=Path, help="write every issue to this CSV file")
        parser.add_argument("--batch-size", type=int, default=5_000)

    def handle(
        self,
        *args,
        path: Path,
        preset: str,
        strict: bool,
        encoding: str = "auto",
        dry_run: bool,
        report: Path | None,
        batch_size: int,
        **options,
    ):
        path = Path(path)  # call_command passes options through without argparse's type
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        show_progress = sys.stderr.isatty()
        with ExitStack() as stack:
            report_file = (
                stack.enter_context(Path(report).open("w", encoding="utf-8-sig", newline=""))
                if report
                else None
            )
            try:
                result = import_file_run(
                    source=path,
                    filename=path.name,
                    preset_name=preset,
                    encoding=encoding,
                    strict=strict,
                    dry_run=dry_run,
                    report=report_file,
                    batch_size=batch_size,
                    on_progress=self._progress if show_progress else None,
                )
            except (ImportFileError, HeaderError) as exc:
                raise CommandError(f"{path}: {exc}") from exc
        if show_progress:
            sys.stderr.write("\n")
        self._summary(result)
        if result.rejected:
            raise CommandError(
                f"strict import rejected {path.name}: {result.failed} bad rows, nothing imported"
            )

    def _progress(self, result: ImportResult) -> None:
        sys.stderr.write(
            f"\r{result.rows:>10,} rows read  {result.imported:>10,} imported  "
            f"{result.failed:>8,} failed"
        )
        sys.stderr.flush()

    def _summary(self, result: ImportResult) -> None:
        mode = " (dry run: rolled back)" if result.dry_run else ""
        self.stdout.write(
            f"{result.rows} rows: {result.imported} imported, {result.failed} failed, "
            f"{result.warnings} with warnings{mode}\n"
            f"members created {result.members_created}, merges {result.merges}, "
            f"orders written {result.orders_written}, consents written {result.consents_written}"
        )
        for severity, issue in result.issues[:20]:
            self.stdout.write(f"  {severity}: {issue}")
        if len(result.issues) > 20:
            self.stdout.write("  … (all issues: --report PATH)")
