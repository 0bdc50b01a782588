import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from omnichannel.roles import ADMIN, ANALYST, MARKETER
from omnichannel.services import user_upsert_with_role

DEMO_PASSWORD = "omnichannel-demo"  # noqa: S105 - local demo logins, refused in production
DEMO_USERS = (("admin", ADMIN), ("marketer", MARKETER), ("analyst", ANALYST))


class Command(BaseCommand):
    help = "Create one demo login per role (local only) and print them with the URL."

    def add_arguments(self, parser):
        port = os.environ.get("PORT") or "8000"
        parser.add_argument("--url", default=f"http://127.0.0.1:{port}/")

    def handle(self, *args, url: str, **options):
        if settings.PRODUCTION:
            raise CommandError("Demo logins are for local use; refused in production.")
        for username, role in DEMO_USERS:
            user_upsert_with_role(
                username=username,
                password=DEMO_PASSWORD,
                role=role,
                email=f"{username}@example.com",
            )
        self.stdout.write(self.style.SUCCESS(f"\nOmnichannel is starting at {url}"))
        self.stdout.write("Demo logins (username / password, role):")
        for username, role in DEMO_USERS:
            self.stdout.write(f"  {username:<9} / {DEMO_PASSWORD}   {role}")
        self.stdout.write("")
