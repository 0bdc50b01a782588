"""Deterministic demo data for a Taiwanese retail brand (the `seed_demo` command).

What it makes: a dozen stores in the big cities; members with Chinese names, birthdays, a home
store and an acquisition channel; their identities in normal form (phones are written in the
spellings real exports use and go through crm.normalize, so a seed exercises the normaliser);
consent history per messaging channel; orders in store, web shop, marketplace and app (buyers
who stick to one channel, a third who buy online and offline, anonymous store sales,
cancellations, POS returns); a few tags and touchpoints.

Determinism: every random draw comes from one random.Random(seed), and every date is relative
to timezone.now() at the start of the run. Two runs with the same seed give the same members,
identifiers and orders, shifted in time (order numbers carry the local date, so they shift too).

Uniqueness: an identifier that must be unique (phone, email, LINE user id, card, carrier, web
customer id, marketplace account) is derived from the member's number through a fixed bijection,
so no two demo members ever share one, whatever the seed. Order numbers come from per-day
counters, continued from the database's own numbers when appending.

Scale: members are generated and written chunk by chunk, each chunk in one transaction with
bulk inserts, so a run of a million members holds one chunk in memory at a time.
"""

import math
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from itertools import accumulate
from typing import ClassVar

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from crm.models import Consent, Gender, Identity, Member, Order, Store, Tag, Touchpoint
from crm.normalize import normalize_email, normalize_phone
from omnichannel.channels import MessagingChannel, SalesChannel

DEFAULT_MEMBERS = 20_000
DEFAULT_SEED = 1
DEFAULT_CHUNK_SIZE = 5_000
BULK_BATCH_SIZE = 2_000

MEMBER_NO_PREFIX = "M"
MEMBER_NO_DIGITS = 7
MAX_MEMBER_INDEX = 10**MEMBER_NO_DIGITS - 1

JOIN_SPAN = timedelta(days=3 * 365)
ORDER_SPAN = timedelta(days=2 * 365)
TOUCHPOINT_SPAN = timedelta(days=180)
DORMANT_AFTER = timedelta(days=365)
STORE_OPENS, STORE_CLOSES = 11, 22  # local hours; POS sales happen in between

ERROR_NOT_EMPTY = (
    "The database already holds members or orders; use --append to add demo members after "
    "them, or --if-empty to do nothing."
)
ERROR_TOO_MANY = "Member numbers would run past {last} (asked for {count:,} more members)."
ERROR_BAD_COUNT = "Members and chunk size must be at least 1 (got {members} and {chunk_size})."


class DemoSeedError(Exception):
    pass


class DemoDatabaseNotEmpty(DemoSeedError):
    pass


# --- Fixed vocabularies ---------------------------------------------------------------------


@dataclass(frozen=True)
class DemoStore:
    code: str
    name: str
    city: str
    opened_on: date
    weight: int  # relative share of members who call it their home store


DEMO_STORES: tuple[DemoStore, ...] = (
    DemoStore("TPE01", "台北信義店", "台北", date(2015, 4, 1), 14),
    DemoStore("TPE02", "台北西門店", "台北", date(2016, 9, 15), 11),
    DemoStore("TPE03", "台北南西店", "台北", date(2019, 11, 1), 8),
    DemoStore("NTP01", "新北板橋店", "新北", date(2017, 3, 20), 10),
    DemoStore("NTP02", "新北新莊店", "新北", date(2021, 6, 1), 6),
    DemoStore("TYN01", "桃園中壢店", "桃園", date(2018, 7, 7), 7),
    DemoStore("HSZ01", "新竹巨城店", "新竹", date(2020, 1, 10), 6),
    DemoStore("TXG01", "台中勤美店", "台中", date(2016, 5, 5), 10),
    DemoStore("TXG02", "台中逢甲店", "台中", date(2022, 2, 18), 6),
    DemoStore("TNN01", "台南中西店", "台南", date(2018, 10, 1), 7),
    DemoStore("KHH01", "高雄巨蛋店", "高雄", date(2017, 8, 8), 9),
    DemoStore("KHH02", "高雄夢時代店", "高雄", date(2019, 4, 26), 6),
)

TAG_VIP = "VIP"
TAG_NEW_ARRIVALS = "新品愛好者"
TAG_GROUP_BUYER = "團購主"
TAG_DORMANT = "沉睡會員"
DEMO_TAGS: tuple[str, ...] = (TAG_VIP, TAG_NEW_ARRIVALS, TAG_GROUP_BUYER, TAG_DORMANT)
VIP_SPEND_TWD = 30_000

# Surname, its romanisation (Taiwanese passport style), share in percent (Ministry of the
# Interior surname statistics, rounded).
_SURNAMES: tuple[tuple[str, str, float], ...] = (
    ("陳", "chen", 11.1),
    ("林", "lin", 8.3),
    ("黃", "huang", 6.0),
    ("張", "chang", 5.3),
    ("李", "lee", 5.1),
    ("王", "wang", 4.1),
    ("吳", "wu", 4.0),
    ("劉", "liu", 3.2),
    ("蔡", "tsai", 2.9),
    ("楊", "yang", 2.6),
    ("許", "hsu", 2.3),
    ("鄭", "cheng", 1.9),
    ("謝", "hsieh", 1.8),
    ("郭", "kuo", 1.7),
    ("洪", "hung", 1.6),
    ("曾", "tseng", 1.4),
    ("邱", "chiu", 1.4),
    ("廖", "liao", 1.3),
    ("賴", "lai", 1.3),
    ("周", "chou", 1.2),
    ("徐", "hsu", 1.1),
    ("蘇", "su", 1.1),
    ("葉", "yeh", 1.0),
    ("莊", "chuang", 0.9),
    ("呂", "lu", 0.9),
    ("江", "chiang", 0.9),
    ("何", "ho", 0.8),
    ("蕭", "hsiao", 0.8),
    ("羅", "lo", 0.8),
    ("高", "kao", 0.8),
)
_SURNAME_CUM = tuple(accumulate(weight for _, _, weight in _SURNAMES))

# fmt: off
_FEMALE_GIVEN: tuple[tuple[str, str], ...] = (
    ("美", "mei"), ("玲", "ling"), ("雅", "ya"), ("婷", "ting"), ("怡", "yi"), ("君", "chun"),
    ("淑", "shu"), ("芬", "fen"), ("惠", "hui"), ("佳", "chia"), ("欣", "hsin"), ("宜", "yi"),
    ("靜", "ching"), ("慧", "hui"), ("萱", "hsuan"), ("涵", "han"), ("筱", "hsiao"), ("琪", "chi"),
    ("思", "szu"), ("穎", "ying"), ("郁", "yu"), ("詩", "shih"), ("心", "hsin"), ("瑜", "yu"),
    ("庭", "ting"), ("珮", "pei"), ("雯", "wen"), ("蓉", "jung"),
)
_MALE_GIVEN: tuple[tuple[str, str], ...] = (
    ("志", "chih"), ("明", "ming"), ("家", "chia"), ("豪", "hao"), ("建", "chien"), ("宏", "hung"),
    ("俊", "chun"), ("傑", "chieh"), ("偉", "wei"), ("冠", "kuan"), ("宇", "yu"), ("承", "cheng"),
    ("翰", "han"), ("柏", "po"), ("彥", "yen"), ("文", "wen"), ("哲", "che"), ("瑋", "wei"),
    ("凱", "kai"), ("育", "yu"), ("信", "hsin"), ("銘", "ming"), ("昱", "yu"), ("廷", "ting"),
    ("國", "kuo"), ("正", "cheng"), ("嘉", "chia"), ("睿", "jui"),
)
# fmt: on

_EMAIL_DOMAINS: tuple[tuple[str, int], ...] = (
    ("gmail.com", 50),
    ("yahoo.com.tw", 18),
    ("hotmail.com", 10),
    ("outlook.com", 7),
    ("icloud.com", 6),
    ("msa.hinet.net", 5),
    ("yahoo.com", 4),
)
_EMAIL_DOMAIN_CUM = tuple(accumulate(weight for _, weight in _EMAIL_DOMAINS))

_ONLINE_CHANNELS = (SalesChannel.WEB, SalesChannel.MARKETPLACE, SalesChannel.APP)
_ONLINE_CUM = tuple(accumulate((45, 35, 20)))
# Where members who never bought anything signed up.
_SIGN_UP_CHANNELS = (SalesChannel.STORE, SalesChannel.WEB, SalesChannel.APP, SalesChannel.LINE_SHOP)
_SIGN_UP_CUM = tuple(accumulate((70, 15, 10, 5)))
_PAGE_PATHS = (
    "/",
    "/products/new",
    "/products/skincare",
    "/products/bags",
    "/products/home",
    "/campaigns/anniversary",
    "/stores",
    "/members/points",
)
_FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")

# Fixed bijections from a member's number to its identifiers. They do not depend on the seed,
# so members added later with --append and another seed never collide with earlier ones.
_PHONE_A, _PHONE_B, _PHONE_MOD = 7_654_321, 3_141_593, 10**7
_LINE_A = 0x9E3779B97F4A7C15F39CC0605CEDC835
_LINE_B = 0x2545F4914F6CDD1D8A5CD789635D2DFF
_LINE_MOD = 2**128
_CARRIER_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.+-"
_CARRIER_A, _CARRIER_B, _CARRIER_MOD = 2_654_435_761, 9_876_543_211, 39**7
_SHOPEE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SHOPEE_A, _SHOPEE_B, _SHOPEE_MOD = 1_103_515_247, 12_345_678_901, 36**8
_SHOPEE_A_INVERSE = pow(_SHOPEE_A, -1, _SHOPEE_MOD)


# --- Public API -----------------------------------------------------------------------------


@dataclass
class DemoSeedResult:
    members: int = 0
    identities: int = 0
    consents: int = 0
    orders: int = 0  # all order rows: member sales, anonymous sales and returns
    anonymous_orders: int = 0
    returns: int = 0
    touchpoints: int = 0
    tag_links: int = 0
    first_member_no: str = ""
    last_member_no: str = ""
    seconds: float = 0.0

    _COUNTS: ClassVar[tuple[str, ...]] = (
        "members",
        "identities",
        "consents",
        "orders",
        "anonymous_orders",
        "returns",
        "touchpoints",
        "tag_links",
    )

    def add(self, other: "DemoSeedResult") -> None:
        for name in self._COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


ProgressCallback = Callable[[int, int, float], None]  # (members done, members total, seconds)


def demo_database_has_data() -> bool:
    """True when any member or order exists (the database is then not "empty" for the seed)."""
    return Member.objects.exists() or Order.objects.exists()


def demo_next_member_index() -> int:
    """The number after the highest M+7-digit member number (1 on an empty database)."""
    pattern = rf"^{MEMBER_NO_PREFIX}[0-9]{{{MEMBER_NO_DIGITS}}}$"
    highest = Member.objects.filter(member_no__regex=pattern).aggregate(top=Max("member_no"))
    return int(highest["top"][len(MEMBER_NO_PREFIX) :]) + 1 if highest["top"] else 1


def member_no_for(index: int) -> str:
    return f"{MEMBER_NO_PREFIX}{index:0{MEMBER_NO_DIGITS}d}"


def demo_seed(
    *,
    members: int,
    seed: int,
    append: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    on_progress: ProgressCallback | None = None,
) -> DemoSeedResult:
    """Write `members` demo members and everything that hangs on them; return what was made.

    On an empty database the members are M0000001… With append=True they continue after the
    highest existing member number, identifiers already taken are left out and order numbers
    continue after the existing ones.

    Raises DemoDatabaseNotEmpty when members or orders exist and append is False, and
    DemoSeedError when `members` or `chunk_size` is below 1 or the member numbers would run out.
    Two runs at once on one database are not supported (they would pick the same numbers).
    """
    if members < 1 or chunk_size < 1:
        raise DemoSeedError(ERROR_BAD_COUNT.format(members=members, chunk_size=chunk_size))
    has_data = demo_database_has_data()
    if has_data and not append:
        raise DemoDatabaseNotEmpty(ERROR_NOT_EMPTY)
    first_index = demo_next_member_index() if has_data else 1
    if first_index + members - 1 > MAX_MEMBER_INDEX:
        last = member_no_for(MAX_MEMBER_INDEX)
        raise DemoSeedError(ERROR_TOO_MANY.format(last=last, count=members))

    started = time.perf_counter()
    numbers = _OrderNumbers()
    if has_data:
        numbers.continue_from_database()
    ctx = _Context(
        rng=random.Random(seed),  # noqa: S311 - demo data, not secrets; must be reproducible
        now=timezone.now(),
        tz=timezone.get_default_timezone(),
        stores=_ensure_stores(),
        tags=_ensure_tags(),
        numbers=numbers,
        first_index=first_index,
        total=members,
        check_taken=has_data,
    )
    result = DemoSeedResult(
        first_member_no=member_no_for(first_index),
        last_member_no=member_no_for(first_index + members - 1),
    )
    end = first_index + members
    for chunk_start in range(first_index, end, chunk_size):
        result.add(
            _seed_chunk(ctx=ctx, indices=range(chunk_start, min(chunk_start + chunk_size, end)))
        )
        # With DEBUG on, Django keeps every statement; a million-member run must not. A test
        # that counts queries forces the debug cursor, and then the log is its to keep.
        if not connection.force_debug_cursor:
            connection.queries_log.clear()
        if on_progress is not None:
            on_progress(result.members, members, time.perf_counter() - started)
    result.seconds = time.perf_counter() - started
    return result


# --- One run, one chunk ---------------------------------------------------------------------


@dataclass
class _Context:
    rng: random.Random
    now: datetime
    tz: tzinfo
    stores: list[tuple[Store, int]]
    tags: dict[str, Tag]
    numbers: "_OrderNumbers"
    first_index: int
    total: int
    check_taken: bool
    store_cum: tuple[int, ...] = field(init=False)
    today: date = field(init=False)

    def __post_init__(self) -> None:
        self.store_cum = tuple(accumulate(weight for _, weight in self.stores))
        self.today = timezone.localdate(self.now, self.tz)

    def pick_store(self) -> Store:
        return self.rng.choices(self.stores, cum_weights=self.store_cum)[0][0]


@dataclass(slots=True)
class _Plan:
    """One member being generated, with what the later steps need to stay consistent."""

    index: int
    member: Member
    given_rom: str
    surname_rom: str
    profile: str  # "none" (never bought), "offline", "online" or "omo" (both)
    online_channel: str
    platform: str  # marketplace the member buys on: shopee or momo
    sales: list[Order] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)


def _seed_chunk(*, ctx: _Context, indices: range) -> DemoSeedResult:
    # Every random draw happens before the first write, so the data never depends on the DB.
    plans = [_plan_member(ctx=ctx, index=index) for index in indices]
    returns: list[Order] = []
    for plan in plans:
        returns.extend(_plan_orders(ctx=ctx, plan=plan))
    member_sales = [sale for plan in plans for sale in plan.sales]
    anonymous = _anonymous_sales(ctx=ctx, count=round(len(member_sales) / 9))
    identities = [identity for plan in plans for identity in _identities(ctx=ctx, plan=plan)]
    consents = [consent for plan in plans for consent in _consents(ctx=ctx, plan=plan)]
    touchpoints = [tp for plan in plans for tp in _touchpoints(ctx=ctx, plan=plan)]
    tag_links = [link for plan in plans for link in _tag_links(ctx=ctx, plan=plan)]

    with transaction.atomic():
        Member.objects.bulk_create([plan.member for plan in plans], batch_size=BULK_BATCH_SIZE)
        if ctx.check_taken:
            identities = _without_taken_identifiers(identities)
        Identity.objects.bulk_create(identities, batch_size=BULK_BATCH_SIZE)
        Consent.objects.bulk_create(consents, batch_size=BULK_BATCH_SIZE)
        Order.objects.bulk_create(member_sales + anonymous, batch_size=BULK_BATCH_SIZE)
        Order.objects.bulk_create(returns, batch_size=BULK_BATCH_SIZE)  # they need sale pks
        Touchpoint.objects.bulk_create(touchpoints, batch_size=BULK_BATCH_SIZE)
        through = Tag.members.through
        through.objects.bulk_create(
            [through(tag_id=tag.pk, member_id=member.pk) for tag, member in tag_links],
            batch_size=BULK_BATCH_SIZE,
        )
    return DemoSeedResult(
        members=len(plans),
        identities=len(identities),
        consents=len(consents),
        orders=len(member_sales) + len(anonymous) + len(returns),
        anonymous_orders=len(anonymous),
        returns=len(returns),
        touchpoints=len(touchpoints),
        tag_links=len(tag_links),
    )


def _ensure_stores() -> list[tuple[Store, int]]:
    Store.objects.bulk_create(
        [Store(code=s.code, name=s.name, city=s.city, opened_on=s.opened_on) for s in DEMO_STORES],
        ignore_conflicts=True,
    )
    by_code = Store.objects.in_bulk([s.code for s in DEMO_STORES], field_name="code")
    return [(by_code[s.code], s.weight) for s in DEMO_STORES]


def _ensure_tags() -> dict[str, Tag]:
    Tag.objects.bulk_create([Tag(name=name) for name in DEMO_TAGS], ignore_conflicts=True)
    return Tag.objects.in_bulk(list(DEMO_TAGS), field_name="name")


def _without_taken_identifiers(identities: list[Identity]) -> list[Identity]:
    """Leave out identifiers another member already holds (only possible when appending)."""
    by_kind: dict[str, list[str]] = {}
    for identity in identities:
        by_kind.setdefault(identity.kind, []).append(identity.value)
    taken: set[tuple[str, str]] = set()
    for kind, values in by_kind.items():
        for start in range(0, len(values), 1_000):
            existing = Identity.objects.filter(kind=kind, value__in=values[start : start + 1_000])
            taken.update((kind, value) for value in existing.values_list("value", flat=True))
    return [i for i in identities if (i.kind, i.value) not in taken]


# --- Members --------------------------------------------------------------------------------


def _plan_member(*, ctx: _Context, index: int) -> _Plan:
    rng = ctx.rng
    draw = rng.random()
    if draw < 0.62:
        gender, pool = Gender.FEMALE, _FEMALE_GIVEN
    elif draw < 0.97:
        gender, pool = Gender.MALE, _MALE_GIVEN
    else:
        gender = Gender.OTHER if draw < 0.98 else ""
        pool = _FEMALE_GIVEN if rng.random() < 0.5 else _MALE_GIVEN
    surname, surname_rom, _ = rng.choices(_SURNAMES, cum_weights=_SURNAME_CUM)[0]
    (first, first_rom), (second, second_rom) = rng.choice(pool), rng.choice(pool)

    draw = rng.random()
    profile = (
        "none" if draw < 0.08 else "offline" if draw < 0.46 else "online" if draw < 0.70 else "omo"
    )
    online_channel = rng.choices(_ONLINE_CHANNELS, cum_weights=_ONLINE_CUM)[0]
    platform = "shopee" if rng.random() < 0.75 else "momo"

    draw = rng.random()
    if profile == "offline":
        acquisition = SalesChannel.STORE if draw < 0.95 else SalesChannel.LINE_SHOP
    elif profile == "online":
        acquisition = (
            online_channel
            if draw < 0.8
            else SalesChannel.LINE_SHOP
            if draw < 0.9
            else SalesChannel.WEB
        )
    elif profile == "omo":
        acquisition = SalesChannel.STORE if draw < 0.55 else online_channel
    else:
        acquisition = rng.choices(_SIGN_UP_CHANNELS, cum_weights=_SIGN_UP_CUM)[0]
    in_store = profile in ("offline", "omo") or acquisition == SalesChannel.STORE
    # Online-only members pick a favourite store in the app now and then.
    favourite = rng.random() < 0.2
    home_store = ctx.pick_store() if in_store or favourite else None

    # Member numbers grow with the join date; more members joined recently than long ago.
    position = (index - ctx.first_index + rng.random()) / ctx.total
    joined_at = ctx.now - JOIN_SPAN * (1 - math.sqrt(position))

    birthday = None
    has_birthday = rng.random() < 0.88
    age = min(max(rng.gauss(36, 11), 16), 78)
    day_of_year = rng.randrange(365)
    if has_birthday:
        birthday = ctx.today - timedelta(days=int(age * 365.25) + day_of_year)

    member = Member(
        member_no=member_no_for(index),
        name=surname + first + second,
        birthday=birthday,
        gender=gender,
        home_store=home_store,
        joined_at=joined_at,
        acquisition_channel=acquisition,
    )
    return _Plan(
        index=index,
        member=member,
        given_rom=first_rom + second_rom,
        surname_rom=surname_rom,
        profile=profile,
        online_channel=online_channel,
        platform=platform,
    )


# --- Orders ---------------------------------------------------------------------------------


def _plan_orders(*, ctx: _Context, plan: _Plan) -> list[Order]:
    """Fill plan.sales with the member's orders; return the POS return rows they cause."""
    rng = ctx.rng
    member = plan.member
    base = 1 + int(rng.expovariate(1 / 5.8))
    if plan.profile == "none":
        return []
    since = max(member.joined_at, ctx.now - ORDER_SPAN)
    # Fewer orders for newer members: a tenure of 18 months or more gets the full count.
    tenure = (ctx.now - since) / timedelta(days=540)
    count = max(1, min(round(base * min(max(tenure, 0.25), 1.0)), 40))
    if plan.profile == "omo":
        count = max(count, 2)
        channels = [SalesChannel.STORE, _other_online(ctx=ctx, plan=plan, primary=True)]
        for _ in range(count - 2):
            channels.append(
                SalesChannel.STORE if rng.random() < 0.55 else _other_online(ctx=ctx, plan=plan)
            )
    elif plan.profile == "offline":
        channels = [SalesChannel.STORE] * count
    else:
        channels = [_other_online(ctx=ctx, plan=plan) for _ in range(count)]

    # A store-acquired member usually joined at the till, with a purchase.
    joined_with_purchase = (
        member.acquisition_channel == SalesChannel.STORE
        and channels[0] == SalesChannel.STORE
        and member.joined_at >= ctx.now - ORDER_SPAN
    )
    returns: list[Order] = []
    for position, channel in enumerate(channels):
        at = _placed_at(ctx=ctx, since=since, in_store=channel == SalesChannel.STORE)
        if position == 0 and joined_with_purchase:
            at = min(member.joined_at + timedelta(minutes=rng.randrange(1, 10)), ctx.now)
        sale, refund = _sale(ctx=ctx, member=member, channel=channel, at=at, plan=plan)
        plan.sales.append(sale)
        if refund is not None:
            returns.append(refund)
    return returns


def _other_online(*, ctx: _Context, plan: _Plan, primary: bool = False) -> str:
    rng = ctx.rng
    if primary or rng.random() < 0.75:
        return plan.online_channel
    return rng.choice([c for c in _ONLINE_CHANNELS if c != plan.online_channel])


def _sale(
    *,
    ctx: _Context,
    member: Member | None,
    channel: str,
    at: datetime,
    plan: _Plan | None,
    returnable: bool = True,
) -> tuple[Order, Order | None]:
    rng = ctx.rng
    numbers = ctx.numbers
    store: Store | None = None
    status = Order.Status.PLACED
    draw = rng.random()
    if channel == SalesChannel.STORE:
        store = (
            member.home_store
            if member is not None and member.home_store is not None and rng.random() < 0.8
            else ctx.pick_store()
        )
        external_no = numbers.store(store_code=store.code, local_day=_local(ctx, at))
        amount = _amount(rng=rng, median=1_100 if member is not None else 650)
    else:
        if draw < 0.05:
            status = Order.Status.CANCELLED
        elif draw < 0.08:
            status = Order.Status.RETURNED  # web and marketplace report it as the order status
        if channel == SalesChannel.MARKETPLACE:
            platform = plan.platform if plan is not None else "shopee"
            external_no = numbers.marketplace(platform=platform, local_day=_local(ctx, at))
        elif channel == SalesChannel.APP:
            external_no = numbers.app(local_day=_local(ctx, at))
        else:
            external_no = numbers.web(local_day=_local(ctx, at))
        amount = _amount(rng=rng, median=1_300)
    sale = Order(
        member=member,
        channel=channel,
        store=store,
        external_no=external_no,
        amount_twd=amount,
        placed_at=at,
        status=status,
    )
    if store is None or not returnable or draw >= 0.015:
        return sale, None
    # A POS return is its own receipt a few days later that names the sale (formats/README.md);
    # both rows are marked returned so neither counts as revenue.
    returned_at = at + timedelta(days=rng.randint(1, 14), minutes=rng.randrange(0, 240))
    if returned_at >= ctx.now:
        return sale, None
    sale.status = Order.Status.RETURNED
    refund = Order(
        member=member,
        channel=SalesChannel.STORE,
        store=store,
        external_no=numbers.store(store_code=store.code, local_day=_local(ctx, returned_at)),
        amount_twd=-amount,
        placed_at=returned_at,
        status=Order.Status.RETURNED,
        returns_order=sale,
        returns_external_no=external_no,
    )
    return sale, refund


def _anonymous_sales(*, ctx: _Context, count: int) -> list[Order]:
    since = ctx.now - ORDER_SPAN
    sales = []
    for _ in range(count):
        at = _placed_at(ctx=ctx, since=since, in_store=True)
        # A walk-in refund without card or phone is rare in the data; keep these simple.
        sale, _ = _sale(
            ctx=ctx, member=None, channel=SalesChannel.STORE, at=at, plan=None, returnable=False
        )
        sales.append(sale)
    return sales


def _placed_at(*, ctx: _Context, since: datetime, in_store: bool) -> datetime:
    at = since + (ctx.now - since) * ctx.rng.random()
    if in_store:
        local = at.astimezone(ctx.tz)
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


def _local(ctx: _Context, at: datetime) -> date:
    return at.astimezone(ctx.tz).date()


class _OrderNumbers:
    """Order numbers in the shapes of formats/README.md, unique per channel by per-day counters.

    TPE01-20250312-0042 (store), W2025031200017 (web), APP2025031200003 (app),
    shopee:250312K7Q2ZB9X and momo:20250313000123 (marketplace).
    """

    _PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
        (SalesChannel.STORE, re.compile(r"^([A-Z0-9]+-\d{8}-)(\d{4,})$")),
        (SalesChannel.WEB, re.compile(r"^(W\d{8})(\d{5,})$")),
        (SalesChannel.APP, re.compile(r"^(APP\d{8})(\d{5,})$")),
        (SalesChannel.MARKETPLACE, re.compile(r"^(momo:\d{8})(\d{6,})$")),
        (SalesChannel.MARKETPLACE, re.compile(r"^(shopee:\d{6})([0-9A-Z]{8})$")),
    )

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def _next(self, prefix: str) -> int:
        seq = self._last.get(prefix, 0) + 1
        self._last[prefix] = seq
        return seq

    def store(self, *, store_code: str, local_day: date) -> str:
        prefix = f"{store_code}-{local_day:%Y%m%d}-"
        return f"{prefix}{self._next(prefix):04d}"

    def web(self, *, local_day: date) -> str:
        prefix = f"W{local_day:%Y%m%d}"
        return f"{prefix}{self._next(prefix):05d}"

    def app(self, *, local_day: date) -> str:
        prefix = f"APP{local_day:%Y%m%d}"
        return f"{prefix}{self._next(prefix):05d}"

    def marketplace(self, *, platform: str, local_day: date) -> str:
        if platform == "shopee":
            prefix = f"shopee:{local_day:%y%m%d}"
            scrambled = (_SHOPEE_A * self._next(prefix) + _SHOPEE_B) % _SHOPEE_MOD
            return prefix + _encode(scrambled, alphabet=_SHOPEE_ALPHABET, width=8)
        prefix = f"momo:{local_day:%Y%m%d}"
        return f"{prefix}{self._next(prefix):06d}"

    def continue_from_database(self) -> None:
        """Start every counter after the highest number of that shape already stored."""
        for channel in {channel for channel, _ in self._PATTERNS}:
            patterns = [pattern for c, pattern in self._PATTERNS if c == channel]
            numbers = Order.objects.filter(channel=channel).values_list("external_no", flat=True)
            for number in numbers.iterator(chunk_size=10_000):
                for pattern in patterns:
                    if match := pattern.match(number):
                        prefix, suffix = match.groups()
                        seq = _shopee_seq(suffix) if prefix.startswith("shopee:") else int(suffix)
                        # A real Shopee number decodes to a huge "counter": not one of ours.
                        if seq < 10**7 and seq > self._last.get(prefix, 0):
                            self._last[prefix] = seq
                        break


def _encode(value: int, *, alphabet: str, width: int) -> str:
    base = len(alphabet)
    chars = []
    for _ in range(width):
        value, digit = divmod(value, base)
        chars.append(alphabet[digit])
    return "".join(reversed(chars))


def _shopee_seq(suffix: str) -> int:
    return ((int(suffix, 36) - _SHOPEE_B) * _SHOPEE_A_INVERSE) % _SHOPEE_MOD


# --- Identities, consent, tags, touchpoints -------------------------------------------------


def _identities(*, ctx: _Context, plan: _Plan) -> list[Identity]:
    rng = ctx.rng
    member = plan.member
    index = plan.index
    last_seen = max((sale.placed_at for sale in plan.sales), default=member.joined_at)
    online = plan.profile in ("online", "omo")
    found: list[tuple[str, str, str]] = []  # (kind, value, source)

    if rng.random() < 0.96:
        third_digit = rng.choice("0123456789")
        national = f"09{third_digit}{(_PHONE_A * index + _PHONE_B) % _PHONE_MOD:07d}"
        raw = _spell_phone(rng=rng, national=national)
        found.append((Identity.Kind.PHONE, normalize_phone(raw), member.acquisition_channel))
    if rng.random() < (0.92 if online else 0.5):
        raw = _spell_email(rng=rng, plan=plan)
        source = SalesChannel.WEB if online else member.acquisition_channel
        found.append((Identity.Kind.EMAIL, normalize_email(raw), source))
    if rng.random() < 0.7:
        line_user_id = f"U{(_LINE_A * index + _LINE_B) % _LINE_MOD:032x}"
        found.append((Identity.Kind.LINE_USER_ID, line_user_id, MessagingChannel.LINE))
    if member.home_store is not None and (
        plan.profile in ("offline", "omo") or member.acquisition_channel == SalesChannel.STORE
    ):
        found.append((Identity.Kind.POS_CARD, f"A{index:08d}", SalesChannel.STORE))
    if plan.profile in ("offline", "omo") and rng.random() < 0.25:
        carrier = _encode(
            (_CARRIER_A * index + _CARRIER_B) % _CARRIER_MOD, alphabet=_CARRIER_ALPHABET, width=7
        )
        found.append((Identity.Kind.EINVOICE_CARRIER, f"/{carrier}", SalesChannel.STORE))
    channels = {sale.channel for sale in plan.sales}
    if SalesChannel.WEB in channels:
        found.append((Identity.Kind.WEB_CUSTOMER_ID, f"C-{index + 10_000}", SalesChannel.WEB))
    if SalesChannel.MARKETPLACE in channels and plan.platform == "shopee":
        account = f"shopee:{plan.given_rom}_{plan.surname_rom}{index}"
        found.append((Identity.Kind.MARKETPLACE_BUYER, account, SalesChannel.MARKETPLACE))

    plan.kinds = {kind for kind, _, _ in found}
    return [
        Identity(
            member=member,
            kind=kind,
            value=value,
            source=source,
            first_seen_at=member.joined_at,
            last_seen_at=last_seen,
        )
        for kind, value, source in found
    ]


def _spell_phone(*, rng: random.Random, national: str) -> str:
    """A mobile number (0912345678) the way some export or some person wrote it."""
    n = national
    draw = rng.random()
    if draw < 0.35:
        return n
    if draw < 0.60:
        return f"{n[:4]}-{n[4:7]}-{n[7:]}"
    if draw < 0.68:
        return f"{n[:4]} {n[4:7]} {n[7:]}"
    if draw < 0.80:
        return f"+886 {n[1:4]} {n[4:7]} {n[7:]}"
    if draw < 0.85:
        return f"+886{n[1:]}"
    if draw < 0.88:
        return f"886{n[1:]}"
    if draw < 0.91:
        return f"00886-{n[1:4]}-{n[4:7]}-{n[7:]}"
    if draw < 0.93:
        return f"({n[:2]}){n[2:4]}-{n[4:7]}-{n[7:]}"
    if draw < 0.95:
        return f"{n[:4]}.{n[4:7]}.{n[7:]}"
    return n.translate(_FULL_WIDTH_DIGITS)


def _spell_email(*, rng: random.Random, plan: _Plan) -> str:
    # The local part ends in the member's number, so it is unique whatever the name.
    given, surname, index = plan.given_rom, plan.surname_rom, plan.index
    local = rng.choice(
        (f"{given}.{surname}{index}", f"{surname}{given}{index}", f"{given}_{surname}{index}")
    )
    domain = rng.choices(_EMAIL_DOMAINS, cum_weights=_EMAIL_DOMAIN_CUM)[0][0]
    draw = rng.random()
    if draw < 0.55:
        return f"{local}@{domain}"
    if draw < 0.80:
        return f"{local.title()}@{domain.title()}"
    if draw < 0.90:
        return f" {local}@{domain} "
    if draw < 0.95:
        return f"{local}＠{domain}"
    return f"{local}@{domain}".upper()


# Per messaging channel: the identity it needs, share of holders with a recorded decision,
# share of decisions that are opt-ins, share of opt-ins later withdrawn, source of the decision.
_CONSENT_RULES: tuple[tuple[str, str | None, float, float, float, str], ...] = (
    (MessagingChannel.SMS, Identity.Kind.PHONE, 0.75, 0.88, 0.06, ""),
    (MessagingChannel.EMAIL, Identity.Kind.EMAIL, 0.70, 0.80, 0.08, SalesChannel.WEB),
    (MessagingChannel.LINE, Identity.Kind.LINE_USER_ID, 0.90, 0.90, 0.10, MessagingChannel.LINE),
    (MessagingChannel.PUSH, None, 0.80, 0.70, 0.05, SalesChannel.APP),
)


def _consents(*, ctx: _Context, plan: _Plan) -> Iterable[Consent]:
    rng = ctx.rng
    member = plan.member
    uses_app = member.acquisition_channel == SalesChannel.APP or any(
        sale.channel == SalesChannel.APP for sale in plan.sales
    )
    for channel, needs, recorded, opt_in, withdrawn, source in _CONSENT_RULES:
        holds = uses_app if needs is None else needs in plan.kinds
        if not holds or rng.random() >= recorded:
            continue
        at = member.joined_at + timedelta(minutes=rng.randrange(0, 30))
        at = min(at, ctx.now)
        source = source or member.acquisition_channel
        if rng.random() >= opt_in:
            yield Consent(
                member=member, channel=channel, state=Consent.State.OPTED_OUT, source=source, at=at
            )
            continue
        yield Consent(
            member=member, channel=channel, state=Consent.State.OPTED_IN, source=source, at=at
        )
        if rng.random() < withdrawn:
            later = at + (ctx.now - at) * rng.random()
            yield Consent(
                member=member,
                channel=channel,
                state=Consent.State.OPTED_OUT,
                source=source,
                at=later,
            )


def _tag_links(*, ctx: _Context, plan: _Plan) -> Iterable[tuple[Tag, Member]]:
    rng = ctx.rng
    tags = ctx.tags
    placed = [sale for sale in plan.sales if sale.status == Order.Status.PLACED]
    if rng.random() < 0.07:
        yield tags[TAG_NEW_ARRIVALS], plan.member
    if not plan.sales:
        return
    if sum(sale.amount_twd for sale in placed) >= VIP_SPEND_TWD:
        yield tags[TAG_VIP], plan.member
    if len(plan.sales) >= 8 and rng.random() < 0.3:
        yield tags[TAG_GROUP_BUYER], plan.member
    if max(sale.placed_at for sale in plan.sales) < ctx.now - DORMANT_AFTER:
        yield tags[TAG_DORMANT], plan.member


def _touchpoints(*, ctx: _Context, plan: _Plan) -> Iterable[Touchpoint]:
    rng = ctx.rng
    member = plan.member
    if rng.random() >= 0.3:
        return
    since = max(member.joined_at, ctx.now - TOUCHPOINT_SPAN)
    for _ in range(rng.randint(1, 3)):
        at = since + (ctx.now - since) * rng.random()
        if member.home_store is not None and rng.random() < 0.5:
            yield Touchpoint(
                member=member,
                channel=SalesChannel.STORE,
                kind="store_visit",
                at=at,
                properties={"store": member.home_store.code},
            )
        else:
            yield Touchpoint(
                member=member,
                channel=SalesChannel.WEB,
                kind="page_view",
                at=at,
                properties={"path": rng.choice(_PAGE_PATHS)},
            )
