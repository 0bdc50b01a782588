import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from omnichannel.kpis.services import kpis_rebuild


class Command(BaseCommand):
    help = _("Recompute every KPI rollup from its sources (orders, deliveries, ledger, …).")

    def handle(self, *args, **options):
        started = time.monotonic()
        run = kpis_rebuild()
        if run is None:
            raise CommandError(_("Another KPI refresh or rebuild is running; try again later."))
        for name, done in run.counts.items():
            self.stdout.write(f"{name}: {done['rows']:,} rows in {done['seconds']:.1f} s")
        self.stdout.write(
            self.style.SUCCESS(
                _("KPI rollups rebuilt in %(seconds).1f s.")
                % {"seconds": time.monotonic() - started}
            )
        )
