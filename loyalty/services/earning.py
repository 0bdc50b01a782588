"""Points earned on orders, read from crm's order-change feed (crm.services.order_feed).

The consumer "loyalty.earn" takes the feed a batch at a time (one transaction with the cursor's
advance). For each batch it works out which sales the changes touch (an order, or the sale a
return names) and, reading those sales and their returns BY ID as they are now, posts what the
ledger is missing, set-wise (a batch of 5,000 changes is a handful of queries, whatever its
size):

- EARN, once per sale (key "earn:order:<sale id>"): a placed sale of a member earns
  `loyalty.earning.points_for` on its amount, with the member's tier multiplier as it is when
  the sale is first earned (rules and tier are read once per batch). A cancelled sale, a sale
  with no member (yet), a return, or a sale already fully returned when first seen earns
  nothing. An anonymous sale that later gets its member (`member_assigned`) earns then.
- REVERSE, once per return (key "reverse:order:<return id>"): a return takes back its share of
  what the sale earned. The member keeps the share of the points of what they kept, rounded
  down like earning: after returns worth R of a sale of A that earned P, the member keeps
  floor(P × (A − R) / A); each return (in id order, cancelled returns left out) takes the
  difference it makes. A full return thus takes back exactly P.
- REVERSE, once per sale (key "void:order:<sale id>"): a sale cancelled (or marked returned by
  its channel without return rows) after it earned gives back whatever its returns have not.
- Reversals take from the account of the sale's member NOW (a merge moved the order and the
  member hook moved its points with it). When the member has spent the points, the reversal
  takes what is left (clamp_debits): the entry's reason says how much was due.

What an entry carries:
- `at` of an earn entry is the sale's placed_at (the points belong to the day of the purchase,
  which the ledger, the member's history and the expiry date read alike); a return's reversal
  is at the return's placed_at; a void is at the time it is posted (the feed does not say when
  the sale was cancelled).
- Credits expire on the Asia/Taipei day of placed_at + Programme.expiry_months. A sale so old
  that its points would have expired by today (an import of historic orders) earns nothing: it
  would mint liability the nightly job takes back the same night, and inflate "points issued".
- `member_moved` rows (merges, their undo, erasure) are not this consumer's: the member hook
  moves balances. They are skipped; a later change of such an order is read as it is now.

Known limits (kept simple on purpose): a sale whose amount changes after it earned keeps what
it earned; a return cancelled after it was reversed does not give the points back; a reversal
clamped to nothing (the member's balance is 0) is tried again when the sale next changes.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Order, OrderChange
from crm.services.order_feed import order_changes_drain
from loyalty.earning import EarnContext, earn_context, points_for
from loyalty.expiry import credit_expires_on, months_after
from loyalty.models import PointsAccount, PointsTransaction, Programme, Tier
from loyalty.services.ledger import Entry, accounts_ensure, chunks, entries_post, where_in

CONSUMER = "loyalty.earn"
# Changes per feed transaction. Each batch costs a dozen queries and the rules' read whatever
# its size: at an import's pace batches of 1,000 spent a quarter of the drain on them. 5,000
# (~7,000 changes/s on the bench) holds the accounts a batch touches locked for under a
# second, which a till redemption of one of those members waits out.
BATCH_SIZE = 5_000
LOOKUP_CHUNK = 5_000
PLACED = Order.Status.PLACED.value
CANCELLED = Order.Status.CANCELLED.value
MEMBER_MOVED = OrderChange.Kind.MEMBER_MOVED.value
SALE_FIELDS = ("pk", "member_id", "channel", "store_id", "external_no", "amount_twd")
SALE_FIELDS += ("placed_at", "status", "returns_external_no")
RETURN_FIELDS = ("pk", "returns_order_id", "external_no", "amount_twd", "placed_at", "status")


def earn_key(sale_id: int) -> str:
    return f"earn:order:{sale_id}"


def reverse_key(return_id: int) -> str:
    return f"reverse:order:{return_id}"


def void_key(sale_id: int) -> str:
    return f"void:order:{sale_id}"


def local_day(at: datetime) -> date:
    return at.astimezone(ZoneInfo(settings.TIME_ZONE)).date()


def earn_consume(
    *, batch_size: int = BATCH_SIZE, max_batches: int | None = None, as_of: date | None = None
) -> int:
    """Earn on the feed's new changes, a batch (one transaction) at a time, until none is left
    (or `max_batches`). Returns the changes handled. `as_of`: the day whose "already expired"
    test applies (default today); the demo drains as of its first order's day, as if the
    programme had run since then, and the nightly expiry then takes what has lapsed."""

    def handler(changes: list[OrderChange]) -> None:
        earn_changes_apply(changes, as_of=as_of)

    return order_changes_drain(
        consumer=CONSUMER, handler=handler, batch_size=batch_size, max_batches=max_batches
    )


def earn_changes_apply(changes: list[OrderChange], *, as_of: date | None = None) -> None:
    """The feed handler: settle the points of the sales these changes touch."""
    earn_orders_settle(
        order_ids={change.order_id for change in changes if change.kind != MEMBER_MOVED},
        as_of=as_of,
    )


@dataclass
class _Sale:
    row: dict
    returns: list[dict]


def earn_orders_settle(*, order_ids: Iterable[int], as_of: date | None = None) -> int:
    """Post the earn and reverse entries the sales of these orders (a return stands for its
    sale) are missing. Idempotent: run twice, it posts nothing the second time. Returns the
    entries written. Call it inside the caller's transaction (the feed's)."""
    with transaction.atomic():
        return _settle(order_ids=order_ids, as_of=as_of)


def _settle(*, order_ids: Iterable[int], as_of: date | None) -> int:
    sales = _sales_of(order_ids)
    if not sales:
        return 0
    ledger = _posted(sales)
    programme = Programme.current()
    context = earn_context(programme=programme)
    today = as_of or timezone.localdate()
    members = {sale.row["member_id"] for sale in sales.values() if sale.row["member_id"]}
    accounts, multipliers = _accounts_of(members)
    now = timezone.now()
    entries: list[Entry] = []
    for sale_id in sorted(sales):
        sale = sales[sale_id]
        member_id = sale.row["member_id"]
        if member_id is None:
            continue
        account_id = accounts[member_id]
        earned = ledger["earned"].get(sale_id)
        if earned is None:
            earn = _earn_entry(
                sale.row,
                account_id=account_id,
                context=context,
                multiplier=multipliers[account_id],
                expiry_months=programme.expiry_months,
                today=today,
            )
            if earn is None:
                continue
            entries.append(earn)
            earned = earn.points
        entries.extend(
            _reverse_entries(sale, account_id=account_id, earned=earned, ledger=ledger, now=now)
        )
    if not entries:
        return 0
    return len(entries_post(entries=entries, clamp_debits=True))


def _sales_of(order_ids: Iterable[int]) -> dict[int, _Sale]:
    """The sales the orders stand for, as they are now, with their linked returns (a return
    not yet linked stands for none: its sale is fed when it comes and the link is made)."""
    sale_ids: set[int] = set()
    for chunk in chunks(sorted(set(order_ids)), LOOKUP_CHUNK):
        for pk, sale_id, named in where_in(Order.objects, "id", chunk, cast="bigint").values_list(
            "pk", "returns_order_id", "returns_external_no"
        ):
            if sale_id is not None:
                sale_ids.add(sale_id)
            elif not named:
                sale_ids.add(pk)
    sales: dict[int, _Sale] = {}
    for chunk in chunks(sorted(sale_ids), LOOKUP_CHUNK):
        # THE RACE THIS LOCK CLOSES: a merge moves these sales to the survivor and its member
        # hook transfers the merged member's points in one transaction; read without a lock,
        # a sale could be read with its old member just before that commits, and its points
        # posted after it onto the merged member's emptied account, where nothing moves them
        # again (the consumer leaves member_moved rows to the hook). The merge locks the orders
        # FOR UPDATE, so this lock makes one wait for the other: either the sale earns first
        # and the hook moves its points, or it is read afterwards with the survivor. (Orders
        # then accounts, in id order, in both: no deadlock.)
        for row in (
            where_in(Order.objects.filter(returns_external_no=""), "id", chunk, cast="bigint")
            .order_by("pk")
            .select_for_update(no_key=True)
            .values(*SALE_FIELDS)
        ):
            sales[row["pk"]] = _Sale(row=row, returns=[])
        for row in (
            where_in(Order.objects, "returns_order_id", chunk, cast="bigint")
            .order_by("pk")
            .values(*RETURN_FIELDS)
        ):
            if row["returns_order_id"] in sales:
                sales[row["returns_order_id"]].returns.append(row)
    return sales


def _posted(sales: dict[int, _Sale]) -> dict[str, dict]:
    """What the ledger holds for these sales: points earned by sale, reversal keys posted, and
    the points reversed so far by sale (as posted, clamped or not)."""
    sale_of = {sale_id: sale_id for sale_id in sales}
    sale_of.update({r["pk"]: sale_id for sale_id, s in sales.items() for r in s.returns})
    earned: dict[int, int] = {}
    reversed_: dict[int, int] = defaultdict(int)
    keys: set[str] = set()
    for chunk in chunks(sorted(sale_of), LOOKUP_CHUNK):
        rows = (
            where_in(PointsTransaction.objects, "order_id", chunk, cast="bigint")
            .filter(
                kind__in=[PointsTransaction.Kind.EARN, PointsTransaction.Kind.REVERSE],
                source=PointsTransaction.Source.ORDER,
            )
            .values_list("order_id", "kind", "points", "idempotency_key")
        )
        for order_id, kind, points, key in rows:
            sale_id = sale_of[order_id]
            if kind == PointsTransaction.Kind.EARN:
                earned[sale_id] = earned.get(sale_id, 0) + points
            else:
                reversed_[sale_id] += -points
                keys.add(key)
    return {"earned": earned, "reversed": reversed_, "keys": keys}


def _accounts_of(member_ids: set[int]) -> tuple[dict[int, int], dict[int, Decimal]]:
    """Each member's account ({member: account}) and each account's tier multiplier (an account
    without a tier has the entry tier's). Accounts that exist are read with their tier in one
    query a chunk; only the missing ones go through accounts_ensure."""
    entry_tier = Tier.objects.order_by("rank").values_list("earn_multiplier", flat=True).first()
    default = Decimal(entry_tier if entry_tier is not None else 1)
    accounts: dict[int, int] = {}
    multipliers: dict[int, Decimal] = {}
    for chunk in chunks(sorted(member_ids), LOOKUP_CHUNK):
        for member_id, pk, multiplier in where_in(
            PointsAccount.objects, "member_id", chunk, cast="bigint"
        ).values_list("member_id", "pk", "tier__earn_multiplier"):
            accounts[member_id] = pk
            multipliers[pk] = Decimal(multiplier) if multiplier is not None else default
    if missing := member_ids - accounts.keys():
        # New accounts have no tier yet.
        for member_id, pk in accounts_ensure(member_ids=missing).items():
            accounts[member_id] = pk
            multipliers.setdefault(pk, default)
    return accounts, multipliers


def _earn_entry(
    row: dict,
    *,
    account_id: int,
    context: EarnContext,
    multiplier: Decimal,
    expiry_months: int,
    today: date,
) -> Entry | None:
    if row["status"] != PLACED:
        return None
    expires_on = credit_expires_on(earned_on=local_day(row["placed_at"]), months=expiry_months)
    if expires_on <= today:
        return None
    points = points_for(
        context=context,
        net_twd=row["amount_twd"],
        channel=row["channel"],
        store_id=row["store_id"],
        placed_at=row["placed_at"],
        tier_multiplier=multiplier,
    )
    if points <= 0:
        return None
    return Entry(
        account_id=account_id,
        kind=PointsTransaction.Kind.EARN,
        points=points,
        idempotency_key=earn_key(row["pk"]),
        source=PointsTransaction.Source.ORDER,
        expires_on=expires_on,
        order_id=row["pk"],
        order_no=row["external_no"],
        at=row["placed_at"],
    )


def kept_share(*, earned: int, amount_twd: int, returned_twd: int) -> int:
    """The points a member keeps of `earned` after returns worth `returned_twd` of a sale of
    `amount_twd`: the share of what they kept, rounded down like earning."""
    if amount_twd <= 0:
        return 0
    kept = max(amount_twd - returned_twd, 0)
    return earned * kept // amount_twd


def _reverse_entries(
    sale: _Sale, *, account_id: int, earned: int, ledger: dict, now: datetime
) -> list[Entry]:
    if earned <= 0:
        return []
    row = sale.row
    entries = []
    reversed_so_far = ledger["reversed"].get(row["pk"], 0)
    returned = 0
    for ret in sale.returns:
        if ret["status"] == CANCELLED:
            continue
        before = kept_share(earned=earned, amount_twd=row["amount_twd"], returned_twd=returned)
        returned += -ret["amount_twd"]
        after = kept_share(earned=earned, amount_twd=row["amount_twd"], returned_twd=returned)
        key = reverse_key(ret["pk"])
        if before == after or key in ledger["keys"]:
            continue
        reversed_so_far += before - after
        entries.append(
            Entry(
                account_id=account_id,
                kind=PointsTransaction.Kind.REVERSE,
                points=after - before,
                idempotency_key=key,
                source=PointsTransaction.Source.ORDER,
                order_id=ret["pk"],
                order_no=ret["external_no"],
                reason=_("Return %(return_no)s of order %(order_no)s")
                % {"return_no": ret["external_no"], "order_no": row["external_no"]},
                at=ret["placed_at"],
            )
        )
    left = earned - reversed_so_far
    if row["status"] != PLACED and left > 0 and void_key(row["pk"]) not in ledger["keys"]:
        reason = (
            _("Order %(order_no)s cancelled")
            if row["status"] == CANCELLED
            else _("Order %(order_no)s returned")
        )
        entries.append(
            Entry(
                account_id=account_id,
                kind=PointsTransaction.Kind.REVERSE,
                points=-left,
                idempotency_key=void_key(row["pk"]),
                source=PointsTransaction.Source.ORDER,
                order_id=row["pk"],
                order_no=row["external_no"],
                reason=reason % {"order_no": row["external_no"]},
                at=now,
            )
        )
    return entries


@dataclass(frozen=True)
class EarnPreview:
    """What last month's sales earned under the current rules and would under a draft."""

    month_start: date
    month_end: date  # exclusive
    orders: int  # sales of members placed in the month, not cancelled
    points_current: int
    points_draft: int
    members_affected: int  # members whose points would differ

    @property
    def difference(self) -> int:
        return self.points_draft - self.points_current


def last_month(today: date) -> tuple[date, date]:
    """The calendar month before `today`'s: (first day, first day of today's month)."""
    end = today.replace(day=1)
    return months_after(end, -1), end


def earn_preview(*, draft: EarnContext, today: date | None = None) -> EarnPreview:
    """Points the sales of last calendar month (Asia/Taipei) earn under the current rules and
    would under `draft`, and how many members would get a different total. The same
    `points_for` and return shares as the consumer, the member's tier as it is now; one
    streamed query, no query per order."""
    start, end = last_month(today or timezone.localdate())
    zone = ZoneInfo(settings.TIME_ZONE)
    current = earn_context()
    entry_tier = Tier.objects.order_by("rank").values_list("earn_multiplier", flat=True).first()
    default = Decimal(entry_tier if entry_tier is not None else 1)
    sales = (
        Order.objects.filter(
            placed_at__gte=datetime(start.year, start.month, start.day, tzinfo=zone),
            placed_at__lt=datetime(end.year, end.month, end.day, tzinfo=zone),
            returns_external_no="",
            member__isnull=False,
            status__in=[PLACED, Order.Status.RETURNED],
        )
        .annotate(
            returned=Sum("returns__amount_twd", filter=~Q(returns__status=CANCELLED)),
        )
        .values_list(
            "member_id",
            "amount_twd",
            "channel",
            "store_id",
            "placed_at",
            "returned",
            "member__points_account__tier__earn_multiplier",
        )
    )
    orders = total_current = total_draft = 0
    by_member: dict[int, int] = defaultdict(int)
    for member_id, amount, channel, store_id, placed_at, returned, multiplier in sales.iterator(
        chunk_size=5_000
    ):
        orders += 1
        terms = {
            "net_twd": amount,
            "channel": channel,
            "store_id": store_id,
            "placed_at": placed_at,
            "tier_multiplier": Decimal(multiplier) if multiplier is not None else default,
        }
        returned_twd = -(returned or 0)
        now_points = kept_share(
            earned=points_for(context=current, **terms),
            amount_twd=amount,
            returned_twd=returned_twd,
        )
        draft_points = kept_share(
            earned=points_for(context=draft, **terms), amount_twd=amount, returned_twd=returned_twd
        )
        total_current += now_points
        total_draft += draft_points
        if draft_points != now_points:
            by_member[member_id] += draft_points - now_points
    return EarnPreview(
        month_start=start,
        month_end=end,
        orders=orders,
        points_current=total_current,
        points_draft=total_draft,
        members_affected=sum(1 for delta in by_member.values() if delta),
    )
