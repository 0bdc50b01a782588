"""`manage.py seed_demo`: fill the database with deterministic demo data (crm.demo)."""

import argparse

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.demo import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MEMBERS,
    DEFAULT_SEED,
    DemoSeedError,
    demo_database_has_data,
    demo_seed,
)

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
        "Fill the database with demo data for a Taiwanese retail brand: 12 stores, members, "
        "identities, consent, orders (store, web, marketplace, app; anonymous sales; returns), "
        "tags and touchpoints. The same --seed gives the same data; dates are relative to now. "
        "A database that already holds members or orders is refused, unless --if-empty is given "
        "(then nothing happens and the command succeeds, as `make run` needs) or --append is "
        "given (then members are added after the highest member number, identifiers already "
        "taken are left out and order numbers continue)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--members",
            type=_positive_int,
            default=DEFAULT_MEMBERS,
            help=f"how many members to create (default {DEFAULT_MEMBERS:,})",
        )
        parser.add_argument(
            "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})"
        )
        parser.add_argument(
            "--chunk-size",
            type=_positive_int,
            default=DEFAULT_CHUNK_SIZE,
            help=f"members per transaction (default {DEFAULT_CHUNK_SIZE:,})",
        )
        when_filled = parser.add_mutually_exclusive_group()
        when_filled.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing, successfully, when members or orders already exist",
        )
        when_filled.add_argument(
            "--append",
            action="store_true",
            help="add members after the existing ones instead of refusing",
        )

    def handle(
        self,
        *args: object,
        members: int,
        seed: int,
        chunk_size: int,
        if_empty: bool,
        append: bool,
        verbosity: int,
        **options: object,
    ) -> None:
        if if_empty and demo_database_has_data():
            self.stdout.write(SKIPPED_NOT_EMPTY)
            return

        def progress(done: int, total: int, seconds: float) -> None:
            if verbosity >= 1:
                self.stdout.write(
                    f"members {done:,}/{total:,} ({done / total:.0%}) {seconds:.1f} s"
                )
                self.stdout.flush()

        try:
            result = demo_seed(
                members=members,
                seed=seed,
                append=append,
                chunk_size=chunk_size,
                on_progress=progress,
            )
        except DemoSeedError as exc:
            raise CommandError(str(exc)) from exc
        rate = result.members / result.seconds if result.seconds else 0.0
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {result.members:,} members ({result.first_member_no}…"
                f"{result.last_member_no}), {result.identities:,} identities, "
                f"{result.consents:,} consents, {result.orders:,} orders "
                f"({result.anonymous_orders:,} anonymous, {result.returns:,} returns), "
                f"{result.touchpoints:,} touchpoints, {result.tag_links:,} tag links "
                f"in {result.seconds:.1f} s ({rate:,.0f} members/s)."
            )
        )
