from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.services.identity import member_survivor
from loyalty.models import WalletPass
from loyalty.services.wallet import wallet_pass_issue
from loyalty.wallet.apple_pass import pkpass_build


class Command(BaseCommand):
    help = (
        "Write a member's current Apple Wallet pass (.pkpass) to a file, issuing the member's "
        "card if they have none yet: for an operator checking what a phone receives."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("member_no", help="The member's number (a merged number leads on).")
        parser.add_argument("-o", "--output", type=Path, required=True, help="The .pkpass file.")

    def handle(self, *args: object, **options: object) -> None:
        member_no = str(options["member_no"]).strip().upper()
        member = member_survivor(member_no=member_no)
        if member is None or member.status == member.Status.ERASED:
            raise CommandError(f"No member with the number {member_no}.")
        wallet_pass = wallet_pass_issue(member_id=member.pk, platform=WalletPass.Platform.APPLE)
        output: Path = options["output"]
        output.write_bytes(pkpass_build(wallet_pass=wallet_pass))
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {output} ({output.stat().st_size:,} bytes): member {member.member_no}, "
                f"pass {wallet_pass.serial}."
            )
        )
