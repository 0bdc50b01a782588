"""Deterministic demo data for a Taiwanese retail brand (the `seed_demo` command).

The demo goes in the way the brand's data does. It writes the brand's export files in the
layouts of formats/README.md (crm.source_files) into a folder, streamed row by row:

- members.csv: the member list of the old CRM (member numbers M0000001…), every person once;
- members_app.csv: people who registered a second time in the app with another email and
  LINE account (the old CRM's duplicates), with member numbers after the people's;
- pos_orders.csv, web_orders.csv, marketplace_orders.csv: what the till, the web shop and
  Shopee/momo export, with identifiers in every spelling the formats file lists, masked
  marketplace phones, anonymous store sales, POS returns (whole and partial), cancelled and
  returned online orders;
- consent_changes.csv: a later member-list export in which some members withdrew or gave
  consent (so the consent history has more than one row);
- app_feed.jsonl: what the app sends the ingest API: app orders, push consent, store visits
  and page views (there is no preset for them).

Then it imports them in that order with `import_file_run`, one preset each, and feeds the app
records through the same batch services the API and the imports use (members_resolve_batch,
orders_upsert, consents_record_batch, touchpoints_write_batch). So identity resolution, the
merges of duplicates, the linking of returns and the consent history all come out of the real
services. Home stores are worked out from the store orders (members_home_store_fill); the tags
(VIP, dormant, …) are set from what the members bought.

The overlap between sources is deliberate and its rates are the constants below (asserted by
tests/crm/test_seed_demo.py): every person is in the member list and is exactly one active
member in the end; SHARE_STORE_AND_ONLINE of them buy both in a store and online, so the same
person shows up in the POS file and in the web, marketplace or app records; a share of web
buyers is in the member list twice and is merged by a web order that carries both the phone
of one record and the email of the other. `DemoPlan` counts what was written, so a test can
hold the database against it.

Determinism: every random draw comes from one random.Random(seed) and every date is relative
to the start of the day the seed runs (Taipei midnight; the demo ends with last night's
exports), so two runs with the same seed on one day give the same data, and on another day the
same data shifted by whole days (Taiwan has no daylight saving time). Identifiers come from a
person's index through fixed bijections, so no two people share one. Times are Taipei local
time, amounts whole NT$.

Scale: one person is generated at a time and their rows go straight to disk; the imports
stream the files. Nothing holds more than one person or one import batch of rows.
"""

import json
import math
import random
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from itertools import accumulate, islice
from pathlib import Path
from typing import Any, TextIO

from django.db import transaction
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone, translation

from crm.models import Consent, Gender, Identity, Member, MergeLog, Order, Store, Tag, Touchpoint
from crm.services import BatchRecord, identifiers_normalize, members_resolve_batch
from crm.services.consent import consents_record_batch
from crm.services.imports import ImportResult, import_file_run
from crm.services.orders import OrderIn, orders_upsert
from crm.services.profiles import members_home_store_fill
from crm.services.segments import segment_counts_refresh
from crm.services.stats import member_stats_rfm_score
from crm.services.touchpoints import TouchpointIn, touchpoints_write_batch
from crm.source_files import (
    GENDERS,
    MARKETPLACE_TIME,
    MEMBER_DATE,
    POS_RETURN,
    POS_SALE,
    POS_TIME,
    WEB_TIME,
    mask_phone,
    source_csv,
    spell_amount,
    spell_birthday,
    spell_buyer,
    spell_card,
    spell_carrier,
    spell_email,
    spell_phone,
)
from omnichannel.channels import MessagingChannel, SalesChannel

DEFAULT_MEMBERS = 20_000
DEFAULT_SEED = 1
FEED_BATCH_SIZE = 5_000  # app records resolved and written at a time

MEMBER_NO_PREFIX = "M"
MEMBER_NO_DIGITS = 7
MAX_PEOPLE = (10**MEMBER_NO_DIGITS - 1) // 2  # the duplicates' numbers follow the people's

# --- Who shows up where: the overlap between sources ----------------------------------------
# What people buy, in shares of all people (they add up to 1).
SHARE_NO_ORDERS = 0.08
SHARE_STORE_ONLY = 0.38
SHARE_ONLINE_ONLY = 0.24
SHARE_STORE_AND_ONLINE = 0.30  # in the POS file and in an online source: the omnichannel case
# Where online buyers mostly buy (web shop, marketplace, app); a quarter of their online
# orders go to another of the three.
ONLINE_WEIGHTS = (45, 35, 20)
SHARE_OTHER_ONLINE = 0.25
# Web buyers the member list holds twice: a store registration (phone, card) and an app one
# (email, LINE). Their first web order carries both phone and email, which merges the two.
SHARE_DUPLICATED_WEB_BUYERS = 0.10
# POS sales where the member gave no card, phone or carrier (anonymous, like a walk-in), and
# walk-in sales per member store sale.
SHARE_STORE_SALES_UNIDENTIFIED = 0.04
WALK_INS_PER_MEMBER_SALE = 1 / 9
SHARE_STORE_SALES_RETURNED = 0.015  # of which 30 % partly
# Marketplace: Shopee always exports the buyer account and masks most phones (never the
# first order's, so an account always meets a phone); momo exports an account for some
# buyers and masks few phones: a masked momo order without an account is anonymous.
SHARE_SHOPEE = 0.75
SHARE_SHOPEE_PHONES_MASKED = 0.6
SHARE_MOMO_ACCOUNTS = 0.4
SHARE_MOMO_PHONES_MASKED = 0.15
SHARE_WITH_TOUCHPOINTS = 0.3

JOIN_SPAN = timedelta(days=3 * 365)
ORDER_SPAN = timedelta(days=2 * 365)
TOUCHPOINT_SPAN = timedelta(days=180)
DORMANT_AFTER = timedelta(days=365)
STORE_OPENS, STORE_CLOSES = 11, 22  # local hours; POS sales happen in between

# File name → preset, in the order of import.
DEMO_FILES: tuple[tuple[str, str], ...] = (
    ("members.csv", "members"),
    ("members_app.csv", "members"),
    ("pos_orders.csv", "pos_orders"),
    ("web_orders.csv", "web_orders"),
    ("marketplace_orders.csv", "marketplace_orders"),
    ("consent_changes.csv", "members"),
)
APP_FEED = "app_feed.jsonl"

ERROR_NOT_EMPTY = (
    "The database already holds members or orders; use --if-empty to leave it alone, or seed "
    "an empty database."
)
ERROR_TOO_MANY = "At most {most:,} demo people (asked for {count:,})."
ERROR_BAD_COUNT = "Members must be at least 1 (got {members})."
ERROR_IMPORT = "The demo file {name} did not import cleanly: {detail}"


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
_ONLINE_CUM = tuple(accumulate(ONLINE_WEIGHTS))
_PROFILES = ("none", "store", "online", "both")
_PROFILE_CUM = tuple(
    accumulate((SHARE_NO_ORDERS, SHARE_STORE_ONLY, SHARE_ONLINE_ONLY, SHARE_STORE_AND_ONLINE))
)
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
_PAYMENTS = ("信用卡", "信用卡", "信用卡", "ATM", "貨到付款", "LINE Pay", "街口支付")
# (status as the source writes it, status as imported, weight)
_WEB_STATUSES = (("已付款", 25), ("已出貨", 12), ("已完成", 55), ("已取消", 5), ("已退貨", 3))
_MARKETPLACE_STATUSES = (
    ("完成", 70),
    ("已出貨", 12),
    ("待出貨", 10),
    ("取消", 5),
    ("退貨", 2),
    ("退款", 1),
)
_CANCELLED = {"已取消", "取消"}

# Fixed bijections from a person's index to their identifiers. They do not depend on the seed.
_PHONE_A, _PHONE_B, _PHONE_MOD = 7_654_321, 3_141_593, 10**7
_LINE_A = 0x9E3779B97F4A7C15F39CC0605CEDC835
_LINE_B = 0x2545F4914F6CDD1D8A5CD789635D2DFF
_LINE_MOD = 2**128
_CARRIER_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.+-"
_CARRIER_A, _CARRIER_B, _CARRIER_MOD = 2_654_435_761, 9_876_543_211, 39**7
_SHOPEE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SHOPEE_A, _SHOPEE_B, _SHOPEE_MOD = 1_103_515_247, 12_345_678_901, 36**8


# --- Public API -----------------------------------------------------------------------------


@dataclass
class DemoPlan:
    """What the generator wrote, counted as it wrote it: the truth the imports must meet."""

    people: int = 0
    duplicates: int = 0  # people in the member list twice (each becomes one merge)
    store_buyers: int = 0  # people with a store order that names them
    online_buyers: int = 0  # people with a web, marketplace or app order that names them
    store_and_online: int = 0
    orders: int = 0  # every order row: sales, returns, anonymous sales, all channels
    anonymous_orders: int = 0  # orders with no usable identifier
    returns: int = 0  # POS return rows
    cancelled: int = 0
    touchpoints: int = 0
    rows: Counter = field(default_factory=Counter)  # rows per file


@dataclass
class DemoSeedResult:
    plan: DemoPlan
    imports: list[tuple[str, ImportResult]]
    members: int = 0  # active members
    merges: int = 0
    identities: int = 0
    consents: int = 0
    orders: int = 0
    anonymous_orders: int = 0
    returns: int = 0
    touchpoints: int = 0
    tag_links: int = 0
    seconds: float = 0.0


# (step, rows done in it, seconds since the start)
ProgressCallback = Callable[[str, int, float], None]


def demo_database_has_data() -> bool:
    """True when any member or order exists (the database is then not "empty" for the seed)."""
    return Member.objects.exists() or Order.objects.exists()


def member_no_for(index: int) -> str:
    return f"{MEMBER_NO_PREFIX}{index:0{MEMBER_NO_DIGITS}d}"


def demo_seed(
    *,
    members: int,
    seed: int,
    files_dir: Path | None = None,
    on_progress: ProgressCallback | None = None,
) -> DemoSeedResult:
    """Write the demo files for `members` people and import them; return what came out.

    The files go into a temporary folder that is removed afterwards, or into `files_dir`,
    where they stay (to look at, or to import by hand on another database).

    Raises DemoDatabaseNotEmpty when members or orders exist, DemoSeedError when `members` is
    below 1 or above MAX_PEOPLE, or when a demo file does not import cleanly (a bug).
    """
    if members < 1:
        raise DemoSeedError(ERROR_BAD_COUNT.format(members=members))
    if members > MAX_PEOPLE:
        raise DemoSeedError(ERROR_TOO_MANY.format(most=MAX_PEOPLE, count=members))
    if demo_database_has_data():
        raise DemoDatabaseNotEmpty(ERROR_NOT_EMPTY)

    started = time.perf_counter()

    def progress(step: str, rows: int) -> None:
        if on_progress is not None:
            on_progress(step, rows, time.perf_counter() - started)

    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    _stores_ensure()
    with ExitStack() as stack:
        folder = files_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        plan = demo_files_write(members=members, seed=seed, folder=folder, now=today)
        progress("files written", sum(plan.rows.values()))
        imports = []
        for name, preset in DEMO_FILES:
            result = import_file_run(source=folder / name, filename=name, preset_name=preset)
            if result.failed:
                detail = "; ".join(str(issue) for _, issue in result.issues[:3])
                raise DemoSeedError(ERROR_IMPORT.format(name=name, detail=detail))
            imports.append((name, result))
            progress(name, result.imported)
        progress(APP_FEED, _app_feed_import(path=folder / APP_FEED))
    progress("home stores", members_home_store_fill())
    progress("tags", _tags_set(now=today))
    # Otherwise the RFM figures and segment counts would wait for the nightly and hourly jobs.
    progress("RFM groups", sum(member_stats_rfm_score().values()))
    progress("segment counts", segment_counts_refresh())

    active = Member.objects.filter(status=Member.Status.ACTIVE)
    return DemoSeedResult(
        plan=plan,
        imports=imports,
        members=active.count(),
        merges=MergeLog.objects.filter(undone_at__isnull=True).count(),
        identities=Identity.objects.count(),
        consents=Consent.objects.count(),
        orders=Order.objects.count(),
        anonymous_orders=Order.objects.filter(member__isnull=True).count(),
        returns=Order.objects.exclude(returns_external_no="").count(),
        touchpoints=Touchpoint.objects.count(),
        tag_links=Tag.members.through.objects.count(),
        seconds=time.perf_counter() - started,
    )


def demo_files_write(*, members: int, seed: int, folder: Path, now: datetime) -> DemoPlan:
    """Write the demo files for `members` people into `folder` (see the module docstring);
    nothing in them happens after `now` (aware)."""
    ctx = _Context(
        rng=random.Random(seed),  # noqa: S311 - demo data, not secrets; must be reproducible
        now=now,
        tz=timezone.get_default_timezone(),
        total=members,
    )
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        writers = {
            name: stack.enter_context(source_csv(folder / name, preset, bom=preset == "pos_orders"))
            for name, preset in DEMO_FILES
        }
        feed = stack.enter_context(
            open(folder / APP_FEED, "w", encoding="utf-8", buffering=1 << 20)
        )
        out = _Out(writers=writers, feed=feed, plan=ctx.plan)
        for index in range(1, members + 1):
            _person_write(ctx=ctx, out=out, person=_person(ctx=ctx, index=index))
    return ctx.plan


# --- Generation -----------------------------------------------------------------------------


@dataclass
class _Context:
    rng: random.Random
    now: datetime
    tz: tzinfo
    total: int
    plan: DemoPlan = field(default_factory=DemoPlan)
    numbers: "_OrderNumbers" = field(default_factory=lambda: _OrderNumbers())
    invoices: int = 0
    store_cum: tuple[int, ...] = field(init=False)
    channel_labels: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.store_cum = tuple(accumulate(store.weight for store in DEMO_STORES))
        with translation.override("zh-hant"):
            self.channel_labels = {c.value: str(c.label) for c in SalesChannel}

    def pick_store(self) -> DemoStore:
        return self.rng.choices(DEMO_STORES, cum_weights=self.store_cum)[0]

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.tz)

    def invoice(self, day: date) -> str:
        """A uniform invoice number: two letters of its two-month period and 8 digits."""
        self.invoices += 1
        period = day.year * 6 + (day.month - 1) // 2
        letters = chr(65 + period % 26) + chr(65 + period * 7 % 26)
        return f"{letters}-{self.invoices % 10**8:08d}"


@dataclass
class _Out:
    writers: dict[str, Any]  # file name -> csv writer
    feed: TextIO
    plan: DemoPlan

    def row(self, name: str, row: tuple | list) -> None:
        self.writers[name].writerow(row)
        self.plan.rows[name] += 1

    def app(self, record: dict) -> None:
        self.feed.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.plan.rows[APP_FEED] += 1


@dataclass(slots=True)
class _Person:
    index: int
    name: str
    given_rom: str
    surname_rom: str
    gender: str
    birthday: date | None
    joined_at: datetime  # Taipei midnight of the join day
    acquisition: str
    profile: str  # "none", "store", "online" or "both"
    online_channel: str
    store: DemoStore
    phone: str  # national form (0912345678) or ""
    email: str  # normal form or ""
    line_user_id: str
    card: str
    carrier: str
    shopee: bool
    buyer: str  # marketplace account as the platform shows it, or ""
    web_id: str
    # What the orders made of this person (filled while writing them)
    channels: set[str] = field(default_factory=set)  # channels of orders that name the person
    web_id_written: bool = False


def _person(*, ctx: _Context, index: int) -> _Person:
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

    profile = rng.choices(_PROFILES, cum_weights=_PROFILE_CUM)[0]
    online_channel = rng.choices(_ONLINE_CHANNELS, cum_weights=_ONLINE_CUM)[0]
    draw = rng.random()
    if profile == "store":
        acquisition = SalesChannel.STORE if draw < 0.95 else SalesChannel.LINE_SHOP
    elif profile == "online":
        acquisition = online_channel if draw < 0.85 else SalesChannel.LINE_SHOP
    elif profile == "both":
        acquisition = SalesChannel.STORE if draw < 0.55 else online_channel
    else:
        acquisition = rng.choices(_SIGN_UP_CHANNELS, cum_weights=_SIGN_UP_CUM)[0]

    # Member numbers grow with the join date; more people joined recently than long ago.
    position = (index - 1 + rng.random()) / ctx.total
    joined = ctx.local(ctx.now - JOIN_SPAN * (1 - math.sqrt(position)))
    joined_at = joined.replace(hour=0, minute=0, second=0, microsecond=0)

    birthday = None
    has_birthday = rng.random() < 0.88
    age = min(max(rng.gauss(36, 11), 16), 78)
    day_of_year = rng.randrange(365)
    if has_birthday:
        birthday = joined.date() - timedelta(days=int(age * 365.25) + day_of_year)

    buys_online = profile in ("online", "both")
    in_store = profile in ("store", "both") or acquisition == SalesChannel.STORE
    # The web shop and the marketplaces need an email or a phone to deliver: online buyers
    # always have a phone, web buyers an email.
    has_phone = buys_online or rng.random() < 0.96
    has_email = (buys_online and online_channel == SalesChannel.WEB) or rng.random() < (
        0.9 if buys_online else 0.5
    )
    # A store buyer without a card gives a phone at the till.
    has_card = in_store and (rng.random() < 0.85 or not has_phone)
    shopee = rng.random() < SHARE_SHOPEE
    has_buyer = shopee or rng.random() < SHARE_MOMO_ACCOUNTS
    return _Person(
        index=index,
        name=surname + first + second,
        given_rom=first_rom + second_rom,
        surname_rom=surname_rom,
        gender=gender,
        birthday=birthday,
        joined_at=joined_at,
        acquisition=acquisition,
        profile=profile,
        online_channel=online_channel,
        store=ctx.pick_store(),
        phone=f"09{rng.randrange(10)}{(_PHONE_A * index + _PHONE_B) % _PHONE_MOD:07d}"
        if has_phone
        else "",
        email=_email(rng=rng, index=index, given=first_rom + second_rom, surname=surname_rom)
        if has_email
        else "",
        line_user_id=f"U{(_LINE_A * index + _LINE_B) % _LINE_MOD:032x}"
        if rng.random() < 0.7
        else "",
        card=f"A{index:08d}" if has_card else "",
        carrier="/"
        + _encode(
            (_CARRIER_A * index + _CARRIER_B) % _CARRIER_MOD, alphabet=_CARRIER_ALPHABET, width=7
        )
        if in_store and rng.random() < 0.25
        else "",
        shopee=shopee,
        buyer=f"{first_rom.capitalize()}{second_rom}_{surname_rom}{index}" if has_buyer else "",
        web_id=f"C-{index + 10_000}",
    )


def _email(*, rng: random.Random, index: int, given: str, surname: str) -> str:
    # The local part ends in the person's index, so it is unique whatever the name.
    local = rng.choice(
        (f"{given}.{surname}{index}", f"{surname}{given}{index}", f"{given}_{surname}{index}")
    )
    return f"{local}@{rng.choices(_EMAIL_DOMAINS, cum_weights=_EMAIL_DOMAIN_CUM)[0][0]}"


# --- One person's rows ----------------------------------------------------------------------


def _person_write(*, ctx: _Context, out: _Out, person: _Person) -> None:
    rng, plan = ctx.rng, ctx.plan
    sales = _sales_planned(ctx=ctx, person=person)
    duplicate_no = ""
    if (
        any(channel == SalesChannel.WEB for channel, _ in sales)
        and person.phone
        and person.email
        and rng.random() < SHARE_DUPLICATED_WEB_BUYERS
    ):
        plan.duplicates += 1
        duplicate_no = member_no_for(ctx.total + plan.duplicates)
    consents = _members_rows(ctx=ctx, out=out, person=person, duplicate_no=duplicate_no)

    first_web, first_marketplace = True, True
    for channel, at in sales:
        if channel == SalesChannel.STORE:
            _pos_sale(ctx=ctx, out=out, person=person, at=at)
        elif channel == SalesChannel.WEB:
            _web_order(ctx=ctx, out=out, person=person, at=at, tie=first_web and duplicate_no)
            first_web = False
        elif channel == SalesChannel.MARKETPLACE:
            _marketplace_order(ctx=ctx, out=out, person=person, at=at, first=first_marketplace)
            first_marketplace = False
        else:
            _app_order(ctx=ctx, out=out, person=person, at=at)
        # Walk-ins buy in the same stores on the same days.
        if channel == SalesChannel.STORE and rng.random() < WALK_INS_PER_MEMBER_SALE:
            walk_in = min(at + timedelta(minutes=rng.randrange(90)), ctx.now)
            _pos_sale(ctx=ctx, out=out, person=None, at=walk_in)

    _consent_changes(ctx=ctx, out=out, person=person, consents=consents)
    _app_records(ctx=ctx, out=out, person=person, app_user=SalesChannel.APP in person.channels)

    plan.people += 1
    store = SalesChannel.STORE in person.channels
    online = bool(person.channels - {SalesChannel.STORE})
    plan.store_buyers += store
    plan.online_buyers += online
    plan.store_and_online += store and online


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
SHARE_NO_TURNED_YES = 0.05
# Push: share of app users with a decision, and of those that are a yes.
PUSH_DECIDED, PUSH_YES = 0.8, 0.7


def _members_rows(
    *, ctx: _Context, out: _Out, person: _Person, duplicate_no: str
) -> dict[str, str]:
    """The person's member-list row(s); returns their consent answers by channel (Y, N)."""
    rng = ctx.rng
    answers: dict[str, str] = {}
    for channel, needs, decided, yes, _ in _CONSENT_RULES:
        if getattr(person, needs) and rng.random() < decided:
            answers[channel] = "Y" if rng.random() < yes else "N"
    channel = person.acquisition
    joined_via = ctx.channel_labels[channel] if rng.random() < 0.3 else channel
    # A duplicate's first record (store: phone, card) leaves email and LINE to the app one.
    app_only = {MessagingChannel.EMAIL, MessagingChannel.LINE} if duplicate_no else set()
    out.row(
        "members.csv",
        (
            member_no_for(person.index),
            person.name,
            spell_phone(person.phone, rng) if person.phone else "",
            spell_email(person.email, rng) if person.email and not duplicate_no else "",
            spell_birthday(person.birthday, rng) if person.birthday else "",
            GENDERS[person.gender],
            person.line_user_id if not duplicate_no else "",
            spell_card(person.card, rng) if person.card else "",
            spell_carrier(person.carrier, rng) if person.carrier else "",
            f"{person.joined_at:{MEMBER_DATE}}",
            joined_via,
            answers.get(MessagingChannel.SMS, ""),
            "" if app_only else answers.get(MessagingChannel.EMAIL, ""),
            "" if app_only else answers.get(MessagingChannel.LINE, ""),
        ),
    )
    if duplicate_no:
        registered = person.joined_at + (ctx.now - person.joined_at) * rng.random()
        out.row(
            "members_app.csv",
            (
                duplicate_no,
                person.name,
                "",
                spell_email(person.email, rng),
                "",
                "",
                person.line_user_id,
                "",
                "",
                f"{ctx.local(registered):{MEMBER_DATE}}",
                SalesChannel.APP,
                "",
                answers.get(MessagingChannel.EMAIL, ""),
                answers.get(MessagingChannel.LINE, ""),
            ),
        )
    return answers


def _consent_changes(
    *, ctx: _Context, out: _Out, person: _Person, consents: dict[str, str]
) -> None:
    """A later member-list export: yeses withdrawn, a few noes turned into yeses."""
    rng = ctx.rng
    changed = {}
    for channel, _, _, _, withdrawn in _CONSENT_RULES:
        answer = consents.get(channel)
        if answer == "Y" and rng.random() < withdrawn:
            changed[channel] = "N"
        elif answer == "N" and rng.random() < SHARE_NO_TURNED_YES:
            changed[channel] = "Y"
    if changed:
        blank = ("",) * 10
        out.row(
            "consent_changes.csv",
            (
                member_no_for(person.index),
                *blank,
                changed.get(MessagingChannel.SMS, ""),
                changed.get(MessagingChannel.EMAIL, ""),
                changed.get(MessagingChannel.LINE, ""),
            ),
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


def _app_records(*, ctx: _Context, out: _Out, person: _Person, app_user: bool) -> None:
    """Push consent of app users, and store visits and page views (the app and the web shop
    report them to the ingest API)."""
    rng, plan = ctx.rng, ctx.plan
    member_no = member_no_for(person.index)
    if (app_user or person.acquisition == SalesChannel.APP) and rng.random() < PUSH_DECIDED:
        out.app(
            {
                "type": "consent",
                "member_no": member_no,
                "channel": MessagingChannel.PUSH.value,
                "opted_in": rng.random() < PUSH_YES,
            }
        )
    if rng.random() >= SHARE_WITH_TOUCHPOINTS:
        return
    since = max(person.joined_at, ctx.now - TOUCHPOINT_SPAN)
    for _ in range(rng.randint(1, 3)):
        at = since + (ctx.now - since) * rng.random()
        if person.card and rng.random() < 0.5:
            # Checked in with the member card at the door.
            record = {
                "identifiers": {Identity.Kind.POS_CARD.value: person.card},
                "channel": SalesChannel.STORE.value,
                "kind": "store_visit",
                "properties": {"store": person.store.code},
            }
        else:
            # Logged in on the web shop: its customer id once the shop exported one.
            logged_in = {Identity.Kind.WEB_CUSTOMER_ID.value: person.web_id}
            record = {
                "identifiers": logged_in if person.web_id_written else {},
                "member_no": "" if person.web_id_written else member_no,
                "channel": SalesChannel.WEB.value,
                "kind": "page_view",
                "properties": {"path": rng.choice(_PAGE_PATHS)},
            }
        out.app({"type": "event", "at": at.isoformat(), **record})
        plan.touchpoints += 1


# --- Import of the app records, stores, tags ------------------------------------------------


def _app_feed_import(*, path: Path) -> int:
    """Resolve and write the app's records a batch at a time, as the ingest API's batch path."""
    done = 0
    with open(path, encoding="utf-8") as feed:
        records: Iterator[dict] = (json.loads(line) for line in feed)
        while batch := list(islice(records, FEED_BATCH_SIZE)):
            with transaction.atomic():
                _app_batch(batch)
            done += len(batch)
    return done


def _app_batch(records: list[dict]) -> None:
    at = timezone.now()
    resolution = members_resolve_batch(
        records=[
            BatchRecord(
                identifiers=identifiers_normalize(record.get("identifiers", {})).identifiers,
                member_no=record.get("member_no", ""),
            )
            for record in records
        ],
        source=SalesChannel.APP,
        at=at,
    )
    orders, order_members, decisions, touchpoints, touchpoint_members = [], [], [], [], []
    for record, member_id in zip(records, resolution.member_ids, strict=True):
        if record["type"] == "order":
            orders.append(
                OrderIn(
                    channel=SalesChannel.APP,
                    external_no=record["external_no"],
                    amount_twd=record["amount_twd"],
                    placed_at=datetime.fromisoformat(record["placed_at"]),
                    status=record["status"],
                )
            )
            order_members.append(member_id)
        elif record["type"] == "consent":
            decisions.append((member_id, record["channel"], record["opted_in"]))
        else:
            touchpoints.append(
                TouchpointIn(
                    channel=record["channel"],
                    kind=record["kind"],
                    at=datetime.fromisoformat(record["at"]),
                    properties=record["properties"],
                )
            )
            touchpoint_members.append(member_id)
    if orders:
        orders_upsert(orders=orders, member_ids=order_members)
    if decisions:
        consents_record_batch(decisions=decisions, source=SalesChannel.APP, at=at)
    if touchpoints:
        touchpoints_write_batch(touchpoints=touchpoints, member_ids=touchpoint_members)


def _stores_ensure() -> None:
    Store.objects.bulk_create(
        [Store(code=s.code, name=s.name, city=s.city, opened_on=s.opened_on) for s in DEMO_STORES],
        ignore_conflicts=True,
    )


def _tags_set(*, now: datetime) -> int:
    """VIP (net spend), dormant (no order for a year), group buyer and new-arrivals fans (a
    fixed share, by member number); returns the number of links written."""
    Tag.objects.bulk_create([Tag(name=name) for name in DEMO_TAGS], ignore_conflicts=True)
    tags = Tag.objects.in_bulk(list(DEMO_TAGS), field_name="name")
    through = Tag.members.through
    members = (
        Member.objects.filter(status=Member.Status.ACTIVE)
        .annotate(
            spent=Sum("orders__amount_twd", filter=Q(orders__status=Order.Status.PLACED)),
            bought=Count("orders"),
            last=Max("orders__placed_at"),
        )
        .values_list("pk", "member_no", "spent", "bought", "last")
    )
    links, written = [], 0
    for member_id, member_no, spent, bought, last in members.iterator(chunk_size=10_000):
        draw = zlib.crc32(member_no.encode()) % 100
        names = [
            *([TAG_VIP] if (spent or 0) >= VIP_SPEND_TWD else []),
            *([TAG_DORMANT] if last is not None and last < now - DORMANT_AFTER else []),
            *([TAG_GROUP_BUYER] if bought >= 8 and draw < 30 else []),
            *([TAG_NEW_ARRIVALS] if draw % 15 == 0 else []),
        ]
        links += [through(tag_id=tags[name].pk, member_id=member_id) for name in names]
        if len(links) >= 10_000:
            through.objects.bulk_create(links)
            written, links = written + len(links), []
    through.objects.bulk_create(links)
    return written + len(links)


class _OrderNumbers:
    """Order numbers in the shapes of formats/README.md, unique per channel by per-day counters.

    TPE01-20250312-0042 (store), W2025031200017 (web), APP2025031200003 (app),
    shopee:250312K7Q2ZB9X and momo:20250313000123 (marketplace).
    """

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


def _encode(value: int, *, alphabet: str, width: int) -> str:
    base = len(alphabet)
    chars = []
    for _ in range(width):
        value, digit = divmod(value, base)
        chars.append(alphabet[digit])
    return "".join(reversed(chars))
