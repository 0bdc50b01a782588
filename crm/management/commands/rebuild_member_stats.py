"""Recompute every member's purchase figures and RFM groups (the nightly job, on demand)."""

import time

from django.core.management.base import BaseCommand

from crm.selectors import rfm_group_counts
from crm.services.stats import member_stats_rebuild


class Command(BaseCommand):
    help = "Recompute every active member's purchase figures from their orders, then RFM groups."

    def handle(self, *args, **options) -> None:
        started = time.perf_counter()
        refreshed = member_stats_rebuild()
        groups = rfm_group_counts()
        self.stdout.write(
            f"{refreshed:,} members refreshed in {time.perf_counter() - started:.1f} s; "
            + ", ".join(f"{name} {count:,}" for name, count in groups.items())
        )
