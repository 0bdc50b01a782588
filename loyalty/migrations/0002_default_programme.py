"""The programme's defaults: the settings row and the four tiers Taiwanese shoppers know.

Thresholds are rolling 12-month net spend in NT$; a marketer edits all of it on /loyalty/.
"""

from decimal import Decimal

from django.db import migrations

DEFAULT_TIERS = (
    # name, rank, threshold (NT$), points multiplier, colour
    ("一般", 0, 0, Decimal("1.00"), "#6b7280"),
    ("銀卡", 1, 10_000, Decimal("1.20"), "#94a3b8"),
    ("金卡", 2, 30_000, Decimal("1.50"), "#ca8a04"),
    ("白金", 3, 80_000, Decimal("2.00"), "#334155"),
)


def create_defaults(apps, schema_editor):
    Programme = apps.get_model("loyalty", "Programme")
    Tier = apps.get_model("loyalty", "Tier")
    Programme.objects.get_or_create(pk=1)
    if not Tier.objects.exists():
        Tier.objects.bulk_create(
            Tier(name=name, rank=rank, threshold_twd=threshold, earn_multiplier=mult, colour=colour)
            for name, rank, threshold, mult, colour in DEFAULT_TIERS
        )


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
