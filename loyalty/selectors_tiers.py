"""Reads for the tiers page: the tiers with how many members hold each (one GROUP BY)."""

from django.db.models import Count

from loyalty.models import Tier


def tiers_with_members() -> list[Tier]:
    """The tiers by rank, each annotated with `members` (accounts holding it)."""
    return list(Tier.objects.order_by("rank").annotate(members=Count("accounts")))
