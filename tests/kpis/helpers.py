"""Shared by the KPI tests: orders written the way imports and the API write them (through
crm's orders_upsert, so the order-change feed sees them), at Taipei times."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from crm.models import Order
from crm.services.orders import OrderIn, orders_upsert

TAIPEI = ZoneInfo("Asia/Taipei")


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TAIPEI)


def sale(
    no: str,
    amount: int,
    placed_at: datetime,
    *,
    channel: str = "store",
    store: str = "",
    returns: str = "",
    status: str = Order.Status.PLACED,
) -> OrderIn:
    return OrderIn(
        channel=channel,
        external_no=no,
        amount_twd=amount,
        placed_at=placed_at,
        status=status,
        store_code=store if channel == "store" else "",
        store_name=store,
        is_return=bool(returns),
        returns_external_no=returns,
    )


def write(*orders: OrderIn, member=None) -> None:
    """Write orders of one member (None: anonymous store sales)."""
    orders_upsert(orders=list(orders), member_ids=[member.pk if member else None] * len(orders))
