"""The four tiers of migration 0002, for transactional tests: a flush takes them away."""

from importlib import import_module

from loyalty.models import Tier

DEFAULT_TIERS = import_module("loyalty.migrations.0002_default_programme").DEFAULT_TIERS


def tiers_default_ensure() -> None:
    if not Tier.objects.exists():
        Tier.objects.bulk_create(
            Tier(name=name, rank=rank, threshold_twd=threshold, earn_multiplier=mult, colour=colour)
            for name, rank, threshold, mult, colour in DEFAULT_TIERS
        )
