"""The four tiers of migration 0002, for transactional tests: a flush takes them away."""

from decimal import Decimal

from loyalty.models import Tier

DEFAULTS = [
    ("一般", 0, "1"),
    ("銀卡", 10_000, "1.2"),
    ("金卡", 30_000, "1.5"),
    ("白金", 80_000, "2"),
]


def tiers_default_ensure() -> None:
    if not Tier.objects.exists():
        Tier.objects.bulk_create(
            Tier(name=name, rank=rank, threshold_twd=threshold, earn_multiplier=Decimal(mult))
            for rank, (name, threshold, mult) in enumerate(DEFAULTS)
        )
