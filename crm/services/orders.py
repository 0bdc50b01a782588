"""Orders from the brand's systems, written a batch at a time and idempotent.

An order is unique per (channel, external number): importing the same file again changes
nothing, and a changed status updates the order. A POS return is its own row (negative amount)
naming its sale; the link is made whichever of the two arrives first. A sale whose returns cover
its whole amount is marked returned with its returns; a partial return stays placed with its
negative amount, so the sum of placed orders is always the net revenue.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery, Sum

from crm.models import Order, Store

BATCH_SIZE = 2_000


@dataclass(frozen=True)
class OrderIn:
    channel: str
    external_no: str
    amount_twd: int
    placed_at: datetime
    status: str
    store_code: str = ""
    store_name: str = ""
    is_return: bool = False
    returns_external_no: str = ""


@dataclass
class OrdersWritten:
    written: int
    returns_linked: int


def stores_ensure(*, stores: dict[str, str]) -> dict[str, int]:
    """Store ids by code, creating the stores a file names for the first time."""
    if not stores:
        return {}
    Store.objects.bulk_create(
        [Store(code=code, name=name or code) for code, name in stores.items()],
        ignore_conflicts=True,
    )
    return dict(Store.objects.filter(code__in=stores).values_list("code", "pk"))


@transaction.atomic
def orders_upsert(*, orders: Sequence[OrderIn], member_ids: Sequence[int | None]) -> OrdersWritten:
    """Insert or update the orders of one batch (member_ids[i] is the member of orders[i])."""
    store_ids = stores_ensure(stores={o.store_code: o.store_name for o in orders if o.store_code})
    # Within one batch the last row for an order number wins, as a later export would.
    latest: dict[tuple[str, str], Order] = {}
    for order, member_id in zip(orders, member_ids, strict=True):
        latest[(order.channel, order.external_no)] = Order(
            member_id=member_id,
            channel=order.channel,
            store_id=store_ids.get(order.store_code),
            external_no=order.external_no,
            amount_twd=order.amount_twd,
            placed_at=order.placed_at,
            status=order.status,
            returns_external_no=order.returns_external_no,
        )
    Order.objects.bulk_create(
        list(latest.values()),
        batch_size=BATCH_SIZE,
        update_conflicts=True,
        unique_fields=["channel", "external_no"],
        update_fields=["amount_twd", "placed_at", "status", "store", "updated_at"],
    )
    named_sales = [
        (o.channel, o.returns_external_no) for o in latest.values() if o.returns_external_no
    ]
    linked = _returns_link(keys=[*latest, *named_sales])
    return OrdersWritten(written=len(latest), returns_linked=linked)


def _returns_link(*, keys: list[tuple[str, str]]) -> int:
    """Link returns to their sales among this batch's orders, then mark fully returned sales."""
    in_batch = Q()
    for channel in {channel for channel, _ in keys}:
        numbers = [no for c, no in keys if c == channel]
        # An order of this batch, a sale one of its returns names, or an earlier return
        # that names a sale of this batch.
        in_batch |= Q(channel=channel) & (
            Q(external_no__in=numbers) | Q(returns_external_no__in=numbers)
        )
    sale = Order.objects.filter(
        channel=OuterRef("channel"), external_no=OuterRef("returns_external_no")
    ).values("pk")[:1]
    linked = (
        Order.objects.filter(in_batch, returns_order__isnull=True)
        .exclude(returns_external_no="")
        .filter(Exists(sale))
        .update(returns_order=Subquery(sale))
    )
    # Whole reversals leave revenue as both rows "returned"; a partial return stays "placed"
    # with its negative amount, so the sum of placed orders is the net revenue either way.
    fully_returned = list(
        Order.objects.filter(in_batch, returns_external_no="", returns__isnull=False)
        .annotate(returned=Sum("returns__amount_twd"))
        .filter(amount_twd__lte=F("returned") * -1)
        .values_list("pk", flat=True)
    )
    Order.objects.filter(Q(pk__in=fully_returned) | Q(returns_order__in=fully_returned)).exclude(
        status=Order.Status.RETURNED
    ).update(status=Order.Status.RETURNED)
    return linked
