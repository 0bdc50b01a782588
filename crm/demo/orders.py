"""A person's purchases: when and how much, and their rows in the POS, web shop, marketplace
and app records (store sales with returns and walk-ins, online orders in every spelling)."""

import math
import random
from datetime import datetime, timedelta

from crm.demo.constants import (
    ORDER_SPAN,
    SHARE_MOMO_PHONES_MASKED,
    SHARE_OTHER_ONLINE,
    SHARE_SHOPEE_PHONES_MASKED,
    SHARE_STORE_SALES_RETURNED,
    SHARE_STORE_SALES_UNIDENTIFIED,
    STORE_CLOSES,
    STORE_OPENS,
)
from crm.demo.context import _Context, _Out, member_no_for
from crm.demo.people import _Person
from crm.demo.vocabulary import (
    _CANCELLED,
    _MARKETPLACE_STATUSES,
    _ONLINE_CHANNELS,
    _PAYMENTS,
    _WEB_STATUSES,
)
from crm.models import Order
from crm.source_files import (
    MARKETPLACE_TIME,
    POS_RETURN,
    POS_SALE,
    POS_TIME,
    WEB_TIME,
    mask_phone,
    spell_amount,
    spell_buyer,
    spell_card,
    spell_carrier,
    spell_email,
    spell_phone,
)
from omnichannel.channels import MessagingChannel, SalesChannel


def _sales_planned(*, ctx: _Context, person: _Person) -> list[tuple[str, datetime]]:
    """(channel, time) of the person's sales, oldest first."""
    rng = ctx.rng
    base = 1 + int(rng.expovariate(1 / 4.5))
    if person.profile == "none":
        return []
    since = max(person.joined_at, ctx.now - ORDER_SPAN)
    # Fewer orders for newer members: a tenure of 18 months or more gets the full count.
    tenure = (ctx.now - since) / timedelta(days=540)
    count = max(1, min(round(base * min(max(tenure, 0.25), 1.0)), 40))
    if person.profile == "both":
        count = max(count, 2)
        channels = [SalesChannel.STORE, person.online_channel]
        channels += [
            SalesChannel.STORE if rng.random() < 0.55 else _online(ctx=ctx, person=person)
            for _ in range(count - 2)
        ]
    elif person.profile == "store":
        channels = [SalesChannel.STORE] * count
    else:
        channels = [person.online_channel] + [
            _online(ctx=ctx, person=person) for _ in range(count - 1)
        ]
    sales = [
        (channel, _placed_at(ctx=ctx, since=since, in_store=channel == SalesChannel.STORE))
        for channel in channels
    ]
    # A store-acquired member usually joined at the till, with a purchase.
    if person.acquisition == SalesChannel.STORE and channels[0] == SalesChannel.STORE:
        opening = person.joined_at + timedelta(hours=STORE_OPENS)
        sales[0] = (
            SalesChannel.STORE,
            min(
                opening + timedelta(minutes=rng.randrange(60 * (STORE_CLOSES - STORE_OPENS))),
                ctx.now,
            ),
        )
    return sorted(sales, key=lambda sale: sale[1])


def _online(*, ctx: _Context, person: _Person) -> str:
    if ctx.rng.random() >= SHARE_OTHER_ONLINE:
        return person.online_channel
    return ctx.rng.choice([c for c in _ONLINE_CHANNELS if c != person.online_channel])


def _placed_at(*, ctx: _Context, since: datetime, in_store: bool) -> datetime:
    at = since + (ctx.now - since) * ctx.rng.random()
    if in_store:
        local = ctx.local(at)
        if not STORE_OPENS <= local.hour < STORE_CLOSES:
            at = local.replace(hour=STORE_OPENS + local.hour % (STORE_CLOSES - STORE_OPENS))
        at = min(max(at, since), ctx.now)
    return at


def _amount(*, rng: random.Random, median: int) -> int:
    """Whole NT$, mostly 150 to 8,000, priced the way shops price (1,280, 990, 2,490)."""
    if rng.random() < 0.02:
        value = rng.uniform(8_000, 30_000)
    else:
        value = min(max(rng.lognormvariate(math.log(median), 0.7), 150), 8_000)
    amount = round(value / 10) * 10
    if rng.random() < 0.4 and amount >= 300:
        amount = amount // 100 * 100 - 10
    return max(amount, 150)


def _choose(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices(weighted, weights=[weight for _, weight in weighted])[0][0]


# Per messaging channel: the identifier it needs, share of holders with a decision in the
# member list, share of those that are a yes, share of yeses withdrawn later (consent_changes).
_CONSENT_RULES: tuple[tuple[str, str, float, float, float], ...] = (
    (MessagingChannel.SMS, "phone", 0.75, 0.88, 0.06),
    (MessagingChannel.EMAIL, "email", 0.70, 0.80, 0.08),
    (MessagingChannel.LINE, "line_user_id", 0.90, 0.90, 0.10),
)


def _pos_sale(*, ctx: _Context, out: _Out, person: _Person | None, at: datetime) -> None:
    """A store sale (person None: a walk-in), and now and then its return a few days later."""
    rng, plan = ctx.rng, ctx.plan
    store = person.store if person is not None and rng.random() < 0.8 else ctx.pick_store()
    local = ctx.local(at)
    number = ctx.numbers.store(store_code=store.code, local_day=local.date())
    amount = _amount(rng=rng, median=1_100 if person is not None else 650)
    card, phone, carrier = _till_identifiers(ctx=ctx, person=person, may_skip=True)
    out.row(
        "pos_orders.csv",
        (
            store.code,
            store.name,
            number,
            local.strftime(POS_TIME),
            card,
            phone,
            ctx.invoice(local.date()),
            carrier,
            spell_amount(amount, rng),
            POS_SALE,
            "",
        ),
    )
    plan.orders += 1
    if card or phone or carrier:
        person.channels.add(SalesChannel.STORE)
    else:
        plan.anonymous_orders += 1
    if person is None or rng.random() >= SHARE_STORE_SALES_RETURNED:
        return
    returned_at = ctx.local(at + timedelta(days=rng.randint(1, 14), minutes=rng.randrange(240)))
    if returned_at >= ctx.now:
        return
    # A return is its own receipt naming the sale; 30 % of returns are partial.
    refund = amount if rng.random() < 0.7 else amount * rng.randint(1, 9) // 100 * 10
    card, phone, carrier = _till_identifiers(ctx=ctx, person=person, may_skip=False)
    out.row(
        "pos_orders.csv",
        (
            store.code,
            store.name,
            ctx.numbers.store(store_code=store.code, local_day=returned_at.date()),
            returned_at.strftime(POS_TIME),
            card,
            phone,
            ctx.invoice(returned_at.date()),
            carrier,
            spell_amount(-max(refund, 10), rng),
            POS_RETURN,
            number,
        ),
    )
    plan.orders += 1
    plan.returns += 1
    person.channels.add(SalesChannel.STORE)


def _till_identifiers(
    *, ctx: _Context, person: _Person | None, may_skip: bool
) -> tuple[str, str, str]:
    """(card, phone, carrier) as scanned or typed at the till; empty for a walk-in."""
    rng = ctx.rng
    if person is None or (may_skip and rng.random() < SHARE_STORE_SALES_UNIDENTIFIED):
        return "", "", ""
    card = spell_card(person.card, rng) if person.card and rng.random() < 0.85 else ""
    phone = ""
    if person.phone and (not card or rng.random() < 0.15):
        phone = spell_phone(person.phone, rng)
    carrier = spell_carrier(person.carrier, rng) if person.carrier and rng.random() < 0.5 else ""
    if not (card or phone or carrier):  # a store buyer has a card or a phone
        card = spell_card(person.card, rng) if person.card else ""
        phone = "" if card else spell_phone(person.phone, rng)
    return card, phone, carrier


def _web_order(*, ctx: _Context, out: _Out, person: _Person, at: datetime, tie: bool) -> None:
    """A web shop order: customer id (guests have none), email and/or phone, now and then the
    card. `tie`: this order carries both phone and email (the duplicate's merge)."""
    rng, plan = ctx.rng, ctx.plan
    local = ctx.local(at)
    status = _choose(rng, _WEB_STATUSES)
    customer_id = person.web_id if rng.random() < 0.9 else ""
    email = spell_email(person.email, rng) if person.email else ""
    phone = ""
    if tie or not email or rng.random() < 0.4:
        phone = spell_phone(person.phone, rng)
    card = spell_card(person.card, rng) if person.card and rng.random() < 0.05 else ""
    out.row(
        "web_orders.csv",
        (
            ctx.numbers.web(local_day=local.date()),
            local.strftime(WEB_TIME),
            status,
            customer_id,
            person.name,
            email,
            phone,
            card,
            spell_amount(_amount(rng=rng, median=1_300), rng),
            rng.choice(_PAYMENTS),
        ),
    )
    plan.orders += 1
    plan.cancelled += status in _CANCELLED
    person.channels.add(SalesChannel.WEB)
    person.web_id_written = person.web_id_written or bool(customer_id)


def _marketplace_order(
    *, ctx: _Context, out: _Out, person: _Person, at: datetime, first: bool
) -> None:
    """A Shopee or momo order; the person's first one shows the phone, so the account and the
    phone meet; later ones are mostly masked."""
    rng, plan = ctx.rng, ctx.plan
    local = ctx.local(at)
    platform = "shopee" if person.shopee else "momo"
    masked_share = SHARE_SHOPEE_PHONES_MASKED if person.shopee else SHARE_MOMO_PHONES_MASKED
    masked = not first and rng.random() < masked_share
    account = spell_buyer(person.buyer, rng) if person.buyer else ""
    status = _choose(rng, _MARKETPLACE_STATUSES)
    number = ctx.numbers.marketplace(platform=platform, local_day=local.date())
    out.row(
        "marketplace_orders.csv",
        (
            platform,
            number.partition(":")[2],
            local.strftime(MARKETPLACE_TIME),
            status,
            account,
            person.name,
            mask_phone(person.phone, rng) if masked else spell_phone(person.phone, rng),
            _amount(rng=rng, median=1_100),
        ),
    )
    plan.orders += 1
    plan.cancelled += status in _CANCELLED
    if masked and not account:
        plan.anonymous_orders += 1
    else:
        person.channels.add(SalesChannel.MARKETPLACE)


def _app_order(*, ctx: _Context, out: _Out, person: _Person, at: datetime) -> None:
    """An app order as the app posts it: the member is logged in, so it names the number."""
    rng, plan = ctx.rng, ctx.plan
    draw = rng.random()
    status = (
        Order.Status.CANCELLED
        if draw < 0.05
        else Order.Status.RETURNED
        if draw < 0.08
        else Order.Status.PLACED
    )
    out.app(
        {
            "type": "order",
            "member_no": member_no_for(person.index),
            "external_no": ctx.numbers.app(local_day=ctx.local(at).date()),
            "placed_at": at.isoformat(),
            "amount_twd": _amount(rng=rng, median=1_300),
            "status": status.value,
        }
    )
    plan.orders += 1
    plan.cancelled += status == Order.Status.CANCELLED
    person.channels.add(SalesChannel.APP)
