from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from loyalty.wallet.dev_certificates import dev_secrets_write


class Command(BaseCommand):
    help = (
        "Write a self-signed development chain for Apple Wallet (a root CA, a stand-in for "
        "Apple's WWDR intermediate, a pass-type certificate and its key), an APNs .p8 token key "
        "and a Google service-account JSON into WALLET_DEV_DIR (or --dir), keeping the files "
        "already there unless --force. For development and tests only: no phone trusts it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", type=Path, help="Where to write (default: WALLET_DEV_DIR).")
        parser.add_argument("--force", action="store_true", help="Replace the files there.")

    def handle(self, *args: object, **options: object) -> None:
        if settings.PRODUCTION and not options["dir"]:
            raise CommandError(
                "Production uses Apple's certificates (APPLE_WALLET_*), not development ones; "
                "give --dir to write a development chain somewhere anyway."
            )
        directory = (options["dir"] or Path(settings.WALLET_DEV_DIR)).resolve()
        written = dev_secrets_write(
            directory=directory,
            pass_type_id=settings.APPLE_WALLET_PASS_TYPE_ID,
            team_id=settings.APPLE_WALLET_TEAM_ID,
            force=bool(options["force"]),
        )
        for name, new in written.items():
            state = "written" if new else "kept (use --force to replace)"
            self.stdout.write(f"  {directory / name}: {state}")
        self.stdout.write(
            self.style.SUCCESS(f"Wallet development certificates and keys are in {directory}")
        )
