"""Orders credited to campaigns, read from crm's order-change feed (crm.services.order_feed).

The consumer "campaigns.conversions" takes the feed a batch at a time. For each batch it works
out which sales changed (an order, or the sale a changed return names), and for those sales
recomputes from the present state which campaigns they are credited to:

- a placed sale of a member is credited to every campaign whose window contains its placed_at:
  a sent delivery's sent_at ≤ placed_at < sent_at + conversion_window_delivery_days, or its
  clicked_at ≤ placed_at < clicked_at + conversion_window_click_days (basis "click" when both);
  a held-out delivery's created_at (launch) ≤ placed_at < created_at + the delivery window;
- its credited amount is the sale's amount plus its linked returns (negative), so a partial
  return lowers it; a cancelled or fully returned sale (crm marks it "returned") earns nothing;
- a sale moved to another member (a merge, its undo, an erasure) keeps its credit: the row
  takes the order's new member, and keeps the delivery it was credited through unless the
  new member has a delivery of that campaign whose window contains the sale.

The result is compared with the sale's Conversion rows; only the difference is written, and the
figures move by it in the same transaction (the feed's cursor commits with them): each touched
delivery's revenue_twd and converted_at are recomputed from its Conversion rows, and the
CampaignFigures of its arm move by (new − old) — converted, orders, online and in-store revenue,
and the sums of squares (new² − old²) — and CampaignFiguresDaily by the rows' own difference.
Replaying changes finds nothing different and writes nothing.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    DateTimeField,
    F,
    IntegerField,
    Min,
    Q,
    Sum,
    Value,
    When,
)
from django.utils import timezone

from campaigns.models import (
    CampaignFigures,
    CampaignFiguresDaily,
    Conversion,
    Delivery,
)
from crm.bulk import CASE_CHUNK, chunked
from crm.models import Order, OrderChange, SalesChannel
from crm.services.order_feed import order_changes_drain

CONSUMER = "campaigns.conversions"
BATCH_SIZE = 2_000
LOOKUP_CHUNK = 5_000
# The longest window a campaign may have (the fields' validators): how far back to look.
MAX_WINDOW = timedelta(days=60)
STORE = SalesChannel.STORE.value
HELD_OUT = Delivery.Status.HELD_OUT.value
SENT = Delivery.Status.SENT.value
# What a Conversion row says; a row whose values all match needs no write.
ROW_FIELDS = (
    "delivery_id",
    "member_id",
    "basis",
    "arm",
    "variant",
    "sales_channel",
    "store_id",
    "placed_at",
    "day",
    "amount_twd",
)
DELIVERY_FIELDS = (
    "pk",
    "campaign_id",
    "member_id",
    "status",
    "reason",
    "variant",
    "channel",
    "created_at",
    "sent_at",
    "clicked_at",
    "campaign__conversion_window_delivery_days",
    "campaign__conversion_window_click_days",
)


def conversions_consume(*, batch_size: int = BATCH_SIZE, max_batches: int | None = None) -> int:
    """Credit the feed's new changes, a batch (one transaction) at a time, until none is left
    (or `max_batches`). Returns the changes handled."""
    return order_changes_drain(
        consumer=CONSUMER,
        handler=conversions_credit_changes,
        batch_size=batch_size,
        max_batches=max_batches,
    )


def conversions_credit_changes(changes: list[OrderChange]) -> None:
    """The feed handler: credit again the sales these changes touch."""
    conversions_credit_orders(order_ids={change.order_id for change in changes})


def conversions_credit_clicks(*, delivery_ids: Sequence[int]) -> int:
    """A first click opens a window of its own: credit again the orders its member placed in
    it. For the writer of clicked_at, in its transaction (the feed only brings orders that
    change, and an order placed after the click but fed before the click was recorded would
    otherwise miss it). Returns the Conversion rows written or deleted."""
    order_ids: set[int] = set()
    clicks = Delivery.objects.filter(
        pk__in=delivery_ids, status=SENT, clicked_at__isnull=False
    ).values_list("member_id", "clicked_at", "campaign__conversion_window_click_days")
    window = Q()
    for member_id, clicked_at, days in clicks:
        window |= Q(
            member_id=member_id,
            placed_at__gte=clicked_at,
            placed_at__lt=clicked_at + timedelta(days=days),
        )
    if window:
        order_ids.update(Order.objects.filter(window).values_list("pk", flat=True))
    return conversions_credit_orders(order_ids=order_ids) if order_ids else 0


def _day(at: datetime) -> date:
    return at.astimezone(ZoneInfo(settings.TIME_ZONE)).date()


@transaction.atomic
def conversions_credit_orders(*, order_ids: Iterable[int]) -> int:
    """Recompute the credit of the sales of these orders (a return stands for its sale) and
    move the figures by what changed. Returns the Conversion rows written or deleted."""
    sale_ids = _sales_of(order_ids)
    if not sale_ids:
        return 0
    sales = _sales_state(sale_ids)
    old = {
        (row["campaign_id"], row["order_id"]): row
        for chunk in chunked(sorted(sale_ids), LOOKUP_CHUNK)
        for row in Conversion.objects.filter(order_id__in=chunk).values(
            "pk", "campaign_id", "order_id", *ROW_FIELDS
        )
    }
    new = _credit(sales, old)
    return _apply(old, new)


def _sales_of(order_ids: Iterable[int]) -> set[int]:
    """The sales the orders stand for: a sale itself, a return's linked sale (a return not yet
    linked stands for none: its sale is fed when it comes and the link is made)."""
    sale_ids: set[int] = set()
    for chunk in chunked(sorted(set(order_ids)), LOOKUP_CHUNK):
        for pk, returns_order_id, returns_no in Order.objects.filter(pk__in=chunk).values_list(
            "pk", "returns_order_id", "returns_external_no"
        ):
            if returns_order_id is not None:
                sale_ids.add(returns_order_id)
            elif not returns_no:
                sale_ids.add(pk)
    return sale_ids


def _sales_state(sale_ids: set[int]) -> dict[int, dict]:
    """Each sale as it is now, with its amount net of its (not cancelled) returns."""
    sales = {}
    for chunk in chunked(sorted(sale_ids), LOOKUP_CHUNK):
        rows = (
            Order.objects.filter(pk__in=chunk)
            .annotate(
                returned=Sum(
                    "returns__amount_twd", filter=~Q(returns__status=Order.Status.CANCELLED)
                )
            )
            .values(
                "pk",
                "member_id",
                "channel",
                "store_id",
                "placed_at",
                "status",
                "amount_twd",
                "returned",
            )
        )
        for row in rows:
            row["net"] = row["amount_twd"] + (row["returned"] or 0)
            sales[row["pk"]] = row
    return sales


def _window_basis(delivery: dict, placed_at: datetime) -> str | None:
    """How the delivery earns a sale placed then: "click", "delivery" or None."""
    days = timedelta(days=delivery["campaign__conversion_window_delivery_days"])
    if delivery["status"] == HELD_OUT:
        anchor = delivery["created_at"]
        return Conversion.Basis.DELIVERY if anchor <= placed_at < anchor + days else None
    if delivery["status"] != SENT:
        return None
    clicked = delivery["clicked_at"]
    click_days = timedelta(days=delivery["campaign__conversion_window_click_days"])
    if clicked is not None and clicked <= placed_at < clicked + click_days:
        return Conversion.Basis.CLICK
    sent = delivery["sent_at"]
    if sent is not None and sent <= placed_at < sent + days:
        return Conversion.Basis.DELIVERY
    return None


def _credit(sales: dict[int, dict], old: dict[tuple[int, int], dict]) -> dict[tuple, dict]:
    """The Conversion rows the sales earn now, by (campaign, order)."""
    creditable = {
        pk: sale
        for pk, sale in sales.items()
        if sale["status"] == Order.Status.PLACED and sale["net"] > 0
    }
    if not creditable:
        return {}
    members = {sale["member_id"] for sale in creditable.values() if sale["member_id"]}
    linked = {row["delivery_id"] for key, row in old.items() if key[1] in creditable}
    placed = [sale["placed_at"] for sale in creditable.values()]
    since, until = min(placed) - MAX_WINDOW, max(placed)
    by_member: dict[int, list[dict]] = defaultdict(list)
    by_pk: dict[int, dict] = {}
    in_reach = (
        Q(status=SENT, sent_at__range=(since, until))
        | Q(status=SENT, clicked_at__range=(since, until))
        | Q(status=HELD_OUT, created_at__range=(since, until))
    )
    for chunk in chunked(sorted(members), LOOKUP_CHUNK):
        for delivery in Delivery.objects.filter(in_reach, member_id__in=chunk).values(
            *DELIVERY_FIELDS
        ):
            by_member[delivery["member_id"]].append(delivery)
    missing = sorted(linked - {d["pk"] for ds in by_member.values() for d in ds})
    for chunk in chunked(missing, LOOKUP_CHUNK):
        for delivery in Delivery.objects.filter(pk__in=chunk).values(*DELIVERY_FIELDS):
            by_pk[delivery["pk"]] = delivery
    for deliveries in by_member.values():
        for delivery in deliveries:
            by_pk[delivery["pk"]] = delivery
    new: dict[tuple, dict] = {}
    for pk, sale in creditable.items():
        placed_at = sale["placed_at"]
        for delivery in by_member.get(sale["member_id"], ()):
            basis = _window_basis(delivery, placed_at)
            if basis is not None:
                new[(delivery["campaign_id"], pk)] = _row(sale, delivery, basis)
    # A sale credited through another member's delivery (before a merge moved it) keeps that
    # credit when its member now has no delivery of the campaign containing it.
    for (campaign_id, order_id), row in old.items():
        sale = creditable.get(order_id)
        if sale is None or (campaign_id, order_id) in new:
            continue
        delivery = by_pk.get(row["delivery_id"])
        if delivery is None:
            continue
        basis = _window_basis(delivery, sale["placed_at"])
        if basis is not None:
            new[(campaign_id, order_id)] = _row(sale, delivery, basis)
    return new


def _row(sale: dict, delivery: dict, basis: str) -> dict:
    held_out = delivery["status"] == HELD_OUT
    return {
        "delivery_id": delivery["pk"],
        "member_id": sale["member_id"],
        "basis": basis,
        "arm": delivery["reason"] if held_out else CampaignFigures.Arm.SENT.value,
        "variant": "" if held_out else delivery["variant"],
        "sales_channel": sale["channel"],
        "store_id": sale["store_id"],
        "placed_at": sale["placed_at"],
        "day": _day(sale["placed_at"]),
        "amount_twd": sale["net"],
    }


def _apply(old: dict[tuple, dict], new: dict[tuple, dict]) -> int:
    """Write the difference between the sales' old and new rows, and move the figures by it."""
    gone = {key: old[key] for key in old.keys() - new.keys()}
    written = {
        key: row
        for key, row in new.items()
        if key not in old or any(old[key][name] != row[name] for name in ROW_FIELDS)
    }
    if not gone and not written:
        return 0
    replaced = {key: old[key] for key in written if key in old}
    # Per delivery: what its rows among these sales add up to, after less before.
    delta: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])  # amount, in store, rows
    daily: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])  # orders, revenue
    for sign, rows in ((-1, gone | replaced), (1, written)):
        for (campaign_id, _), row in rows.items():
            amount = sign * row["amount_twd"]
            moved = delta[row["delivery_id"]]
            moved[0] += amount
            moved[1] += amount if row["sales_channel"] == STORE else 0
            moved[2] += sign
            day = daily[(campaign_id, row["day"], row["arm"], row["variant"])]
            day[0] += sign
            day[1] += amount
    for chunk in chunked([row["pk"] for row in gone.values()], LOOKUP_CHUNK):
        Conversion.objects.filter(pk__in=chunk).delete()
    _conversions_write(written)
    _deliveries_refresh(delta)
    _daily_move({key: moved for key, moved in daily.items() if any(moved)})
    return len(gone) + len(written)


# PostgreSQL: the upsert of a batch's rows as arrays, one statement (the ORM's bulk_create
# spends more time preparing each value than the database spends writing it).
UPSERT_SQL = f"""
INSERT INTO campaigns_conversion (campaign_id, order_id, {", ".join(ROW_FIELDS)}, credited_at)
SELECT *, now() FROM unnest(
    %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::text[],
    %s::text[], %s::bigint[], %s::timestamptz[], %s::date[], %s::integer[])
ON CONFLICT (campaign_id, order_id) DO UPDATE SET
    {", ".join(f"{name} = EXCLUDED.{name}" for name in ROW_FIELDS)}
"""  # noqa: S608  (constants only)


def _conversions_write(written: dict[tuple, dict]) -> None:
    """Insert or update these Conversion rows, by (campaign, order)."""
    if not written:
        return
    if connection.vendor == "postgresql":
        items = list(written.items())
        with connection.cursor() as cursor:
            for chunk in chunked(items, 10_000):
                cursor.execute(
                    UPSERT_SQL,
                    [
                        [key[0] for key, _ in chunk],
                        [key[1] for key, _ in chunk],
                        *([row[name] for _, row in chunk] for name in ROW_FIELDS),
                    ],
                )
        return
    Conversion.objects.bulk_create(
        [
            Conversion(campaign_id=campaign_id, order_id=order_id, **row)
            for (campaign_id, order_id), row in written.items()
        ],
        batch_size=1_000,
        update_conflicts=True,
        unique_fields=["campaign", "order"],
        update_fields=list(ROW_FIELDS),
    )


def _case(values: dict[int, object], output_field) -> Case:
    """A CASE giving each row (by pk) its own value, typed (values may be None)."""
    return Case(
        *(
            When(pk=pk, then=Value(value, output_field=output_field))
            for pk, value in values.items()
        ),
        output_field=output_field,
    )


def _deliveries_refresh(delta: dict[int, list[int]]) -> None:
    """Recompute the touched deliveries' revenue and first conversion from their rows, and move
    their arms' figures by the difference with what the deliveries held."""
    ids = sorted(delta)
    figures: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    revenue: dict[int, int] = {}
    converted_at: dict[int, datetime | None] = {}
    for chunk in chunked(ids, LOOKUP_CHUNK):
        now = {
            row["delivery_id"]: row
            for row in Conversion.objects.filter(delivery_id__in=chunk)
            .values("delivery_id")
            .annotate(
                total=Sum("amount_twd"),
                store=Sum("amount_twd", filter=Q(sales_channel=STORE)),
                n=Count("pk"),
                first=Min("placed_at"),
            )
            .order_by()
        }
        for delivery in Delivery.objects.filter(pk__in=chunk).values(
            "pk",
            "campaign_id",
            "status",
            "reason",
            "variant",
            "channel",
            "revenue_twd",
            "converted_at",
        ):
            pk = delivery["pk"]
            row = now.get(pk) or {"total": 0, "store": 0, "n": 0, "first": None}
            new_total, new_store = row["total"] or 0, row["store"] or 0
            moved_store = delta[pk][1]
            old_total = delivery["revenue_twd"]
            old_store = new_store - moved_store
            old_online, new_online = old_total - old_store, new_total - new_store
            was_converted = delivery["converted_at"] is not None
            is_converted = row["n"] > 0
            held_out = delivery["status"] == HELD_OUT
            key = (
                delivery["campaign_id"],
                delivery["reason"] if held_out else CampaignFigures.Arm.SENT.value,
                "" if held_out else delivery["variant"],
                "" if held_out else delivery["channel"],
            )
            moved = figures[key]
            moved[0] += int(is_converted) - int(was_converted)
            moved[1] += delta[pk][2]
            moved[2] += new_online - old_online
            moved[3] += new_store - old_store
            moved[4] += new_total**2 - old_total**2
            moved[5] += new_store**2 - old_store**2
            if new_total != old_total or row["first"] != delivery["converted_at"]:
                revenue[pk] = new_total
                converted_at[pk] = row["first"]
    deliveries_revenue_write(revenue, converted_at)
    _figures_move({key: moved for key, moved in figures.items() if any(moved)})


def deliveries_revenue_write(
    revenue: dict[int, int], converted_at: dict[int, datetime | None]
) -> None:
    """Set deliveries' credited revenue and first conversion: one UPDATE (a few on SQLite)."""
    if not revenue:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for ids in chunked(list(revenue), 100_000):
                cursor.execute(
                    "UPDATE campaigns_delivery d SET revenue_twd = m.revenue, converted_at = m.at "
                    "FROM unnest(%s::bigint[], %s::integer[], %s::timestamptz[]) "
                    "AS m(id, revenue, at) WHERE d.id = m.id",
                    [ids, [revenue[pk] for pk in ids], [converted_at[pk] for pk in ids]],
                )
        return
    for chunk in chunked(list(revenue), CASE_CHUNK):
        Delivery.objects.filter(pk__in=chunk).update(
            revenue_twd=_case({pk: revenue[pk] for pk in chunk}, IntegerField()),
            converted_at=_case({pk: converted_at[pk] for pk in chunk}, DateTimeField()),
        )


FIGURE_COLUMNS = (
    "converted",
    "orders",
    "revenue_online_twd",
    "revenue_store_twd",
    "revenue_sumsq",
    "revenue_store_sumsq",
)


def _figures_move(moves: dict[tuple, list[int]]) -> None:
    """Add each key's deltas to its CampaignFigures row (made first if missing): one UPDATE."""
    if not moves:
        return
    CampaignFigures.objects.bulk_create(
        [
            CampaignFigures(campaign_id=c, arm=arm, variant=variant, channel=channel)
            for c, arm, variant, channel in moves
        ],
        ignore_conflicts=True,
    )
    pks = _pks_by_key(
        CampaignFigures.objects.filter(campaign_id__in={key[0] for key in moves}),
        ("campaign_id", "arm", "variant", "channel"),
        moves,
    )
    CampaignFigures.objects.filter(pk__in=list(pks.values())).update(
        **{
            column: F(column) + _case({pks[key]: moves[key][i] for key in moves}, BigIntegerField())
            for i, column in enumerate(FIGURE_COLUMNS)
        },
        updated_at=timezone.now(),  # readers that fold changed figures (the KPIs) see it moved
    )


def _daily_move(moves: dict[tuple, list[int]]) -> None:
    if not moves:
        return
    CampaignFiguresDaily.objects.bulk_create(
        [
            CampaignFiguresDaily(campaign_id=c, day=day, arm=arm, variant=variant)
            for c, day, arm, variant in moves
        ],
        ignore_conflicts=True,
    )
    pks = _pks_by_key(
        CampaignFiguresDaily.objects.filter(
            campaign_id__in={key[0] for key in moves}, day__in={key[1] for key in moves}
        ),
        ("campaign_id", "day", "arm", "variant"),
        moves,
    )
    CampaignFiguresDaily.objects.filter(pk__in=list(pks.values())).update(
        orders=F("orders") + _case({pks[key]: moves[key][0] for key in moves}, IntegerField()),
        revenue_twd=F("revenue_twd")
        + _case({pks[key]: moves[key][1] for key in moves}, BigIntegerField()),
    )


def _pks_by_key(queryset, fields: Sequence[str], keys: Iterable[tuple]) -> dict[tuple, int]:
    wanted = set(keys)
    return {
        key: pk
        for pk, *key_values in queryset.values_list("pk", *fields)
        if (key := tuple(key_values)) in wanted
    }
