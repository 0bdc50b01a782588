import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from omnichannel.kpis.clv import FIT_SAMPLE, clv_models_refresh


class Command(BaseCommand):
    help = _(
        "Fit the customer-value models (BG/NBD and Gamma-Gamma) and predict every buyer's "
        "next 12 months, as the nightly job does."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--sample",
            type=int,
            default=FIT_SAMPLE,
            help=_("Fit on at most this many members (every k-th buyer); all are predicted."),
        )

    def handle(self, *args, **options):
        started = time.monotonic()
        run = clv_models_refresh(sample=options["sample"])
        if run is None:
            raise CommandError(_("Another customer-value fit is running; try again later."))
        self.stdout.write(f"{run.params}")
        self.stdout.write(
            self.style.SUCCESS(
                _("%(fitted)s members fitted, %(predicted)s predicted in %(seconds).1f s.")
                % {
                    "fitted": f"{run.members_fitted:,}",
                    "predicted": f"{run.members_predicted:,}",
                    "seconds": time.monotonic() - started,
                }
            )
        )
