"""`manage.py seed_demo`: fill the database with deterministic demo data (crm.demo)."""

import argparse
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.demo import DEFAULT_MEMBERS, DEFAULT_SEED, DemoSeedError, demo_database_has_data, demo_seed

SKIPPED_NOT_EMPTY = "The database already holds members or orders: nothing seeded (--if-empty)."


def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class Command(BaseCommand):
    help = (
        "Fill an empty database with demo data for a Taiwanese retail brand: writes the brand's "
        "export files (member lists, POS, web shop, marketplace; formats/README.md) and the "
        "app's records for that many people, and imports them through the import presets and "
        "the crm services, so the same people found in several sources become one member each. "
        "The same --seed gives the same data; dates are relative to now. A database that "
        "already holds members or orders is refused, unless --if-empty is given (then nothing "
        "happens and the command succeeds, as `make run` needs)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--members",
            type=_positive_int,
            default=DEFAULT_MEMBERS,
            help=f"how many people (members) to create (default {DEFAULT_MEMBERS:,})",
        )
        parser.add_argument(
            "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})"
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing, successfully, when members or orders already exist",
        )
        parser.add_argument(
            "--files",
            type=Path,
            help="write the demo files into this folder and keep them (default: a temporary one)",
        )

    def handle(
        self,
        *args: object,
        members: int,
        seed: int,
        if_empty: bool,
        files: Path | None,
        verbosity: int,
        **options: object,
    ) -> None:
        if if_empty and demo_database_has_data():
            self.stdout.write(SKIPPED_NOT_EMPTY)
            return

        def progress(step: str, rows: int, seconds: float) -> None:
            if verbosity >= 1:
                self.stdout.write(f"{step}: {rows:,} rows, {seconds:.1f} s")
                self.stdout.flush()

        try:
            result = demo_seed(members=members, seed=seed, files_dir=files, on_progress=progress)
        except DemoSeedError as exc:
            raise CommandError(str(exc)) from exc
        rate = result.members / result.seconds if result.seconds else 0.0
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result.members:,} members for {result.plan.people:,} people "
                f"({result.merges:,} merges of duplicates), {result.identities:,} identities, "
                f"{result.consents:,} consents, {result.orders:,} orders "
                f"({result.anonymous_orders:,} anonymous, {result.returns:,} returns), "
                f"{result.touchpoints:,} touchpoints, {result.tag_links:,} tag links "
                f"in {result.seconds:.1f} s ({rate:,.0f} members/s)."
            )
        )
