from django.core.management.base import BaseCommand

from campaigns.models import Campaign
from campaigns.services.figures import campaign_figures_rebuild


class Command(BaseCommand):
    help = (
        "Recompute a campaign's kept figures (sending counts, conversions, revenue, per day) "
        "from its deliveries and Conversion rows; every campaign without --campaign."
    )

    def add_arguments(self, parser):
        parser.add_argument("--campaign", type=int, help="the campaign's id")

    def handle(self, *args, campaign: int | None = None, **options):
        ids = [campaign] if campaign else list(Campaign.objects.values_list("pk", flat=True))
        for campaign_id in ids:
            result = campaign_figures_rebuild(campaign_id=campaign_id)
            self.stdout.write(
                f"campaign {campaign_id}: {result['figures']} figure rows, "
                f"{result['deliveries']} deliveries with revenue"
            )
