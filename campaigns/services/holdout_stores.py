"""Store-level holdout: whole home stores held out, drawn balanced on last period's sales."""

import random
from datetime import datetime, timedelta

from django.db.models import Sum
from django.utils import timezone

from campaigns.models import Campaign
from crm.models import Order, Store

SALES_DAYS = 90


def store_sales(*, since: datetime, until: datetime) -> dict[int, int]:
    """Net store revenue per store in [since, until): one aggregate over orders, on the
    placed_at index."""
    return dict(
        Order.objects.counted_in_revenue()
        .filter(placed_at__gte=since, placed_at__lt=until, store__isnull=False)
        .order_by()
        .values_list("store_id")
        .annotate(revenue=Sum("amount_twd"))
    )


def holdout_stores_draw(
    *, campaign: Campaign, share_percent: int, now: datetime | None = None
) -> list[int]:
    """Store ids to hold out, about `share_percent` of all stores, balanced on the last 90
    days' sales: stores ranked by sales are cut into blocks of neighbours (pairs at 50%, ten
    at 10%: round(100 / share)) and one store per block is drawn, seeded by the campaign's id,
    so held-out and kept stores have about the same sales. Raises ValueError for a share
    outside 1–50."""
    if not 1 <= share_percent <= 50:
        raise ValueError("share_percent is 1 to 50")
    now = now or timezone.now()
    sales = store_sales(since=now - timedelta(days=SALES_DAYS), until=now)
    stores = list(Store.objects.order_by("pk").values_list("pk", flat=True))
    ranked = sorted(stores, key=lambda pk: (-(sales.get(pk) or 0), pk))
    block = max(2, round(100 / share_percent))
    draw = random.Random(f"holdout-stores:{campaign.pk or 0}")  # noqa: S311 (a fair draw, not a secret)
    chosen = [draw.choice(ranked[start : start + block]) for start in range(0, len(ranked), block)]
    return sorted(chosen)
