"""Migration 0002's defaults (the programme's row and the four tiers), for transactional tests:
a flush takes them away."""

from importlib import import_module

from loyalty.models import Programme, Tier

DEFAULT_TIERS = import_module("loyalty.migrations.0002_default_programme").DEFAULT_TIERS


def tiers_default_ensure() -> None:
    Programme.current()  # get or create: a statement count pinned later must not see the create
    if not Tier.objects.exists():
        Tier.objects.bulk_create(
            Tier(name=name, rank=rank, threshold_twd=threshold, earn_multiplier=mult, colour=colour)
            for name, rank, threshold, mult, colour in DEFAULT_TIERS
        )
