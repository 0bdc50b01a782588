from django.core.management.base import BaseCommand

from campaigns.demo import demo_campaigns_seed


class Command(BaseCommand):
    help = (
        "Write the demo campaigns (one sent through the sandbox, one scheduled, one draft) "
        "when there are none; `make run` calls it after seed_demo."
    )

    def handle(self, *args: object, **options: object) -> None:
        result = demo_campaigns_seed()
        if result is None:
            self.stdout.write("Campaigns exist already (or no segment yet): nothing to do.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo campaigns written; the sent one reached {result.deliveries:,} members "
                "through the sandbox."
            )
        )
