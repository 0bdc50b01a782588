"""Synthetic order files for the import bench, with their ground truth.

    uv run python bench/gen_orders.py --rows 1000000 --seed 1 --out /tmp/orders [--truth t.json]

`generate(rows, seed=…, out_dir=…)` writes pos_orders.csv, web_orders.csv and
marketplace_orders.csv in the layouts of formats/README.md (the presets pos_orders, web_orders,
marketplace_orders), `rows` rows in all, streamed to disk: per person it keeps a few bytes of
habits; identifier values are computed from the person's index, never stored.

People have a phone, maybe an email, a member card, an e-invoice carrier, a web-shop customer id
and a marketplace account, and shop in one to three channels. Each channel sees only some of
them (the till a card, the web shop an email and a phone, Shopee an account and a masked phone),
written in every spelling formats/README.md lists, so a person is found only through chains of
shared identifiers, or not at all. Also: anonymous store sales, masked marketplace phones, store
returns of earlier sales (some written before their sale), cancelled and returned web orders.

The ground truth is computed over what was written, not over the simulated people: a union-find
over the normal forms of the identifiers of every row (each normal form belongs to one person
and one kind, so the node `person * KINDS + kind` stands for exactly one normal form; the bench
test checks this against the files themselves). `people` is the number of connected components:
a person seen only anonymously or masked is not counted, and a person whose identifiers were
written in two groups that no row ties together counts twice — as any resolver must count them.
For a sample of orders it records the component, so a check can see that orders of one
component sit on one member and orders of different components on different members.
"""

import argparse
import json
import random
import sys
from array import array
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from math import gcd
from pathlib import Path

if __package__ in (None, ""):  # run as a script (bench/import_orders.py does): find crm/
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crm.source_files import (
    MARKETPLACE_TIME,
    POS_RETURN,
    POS_SALE,
    POS_TIME,
    WEB_TIME,
    mask_phone,
    source_csv,
    spell_amount,
    spell_buyer,
    spell_card,
    spell_carrier,
    spell_email,
    spell_phone,
)

FILES = (
    ("pos_orders", "pos_orders.csv"),
    ("web_orders", "web_orders.csv"),
    ("marketplace_orders", "marketplace_orders.csv"),
)
CHANNEL = {"pos_orders": "store", "web_orders": "web", "marketplace_orders": "marketplace"}
SHARES = (0.5, 0.3)  # POS and web; the marketplace gets the rest
PEOPLE_PER_ROW = 0.2  # 1,000,000 rows: 200,000 people
SAMPLE = 20_000  # orders whose component is recorded
# Naive on purpose: Taipei local time, as the files write it.
YEAR_START = datetime(2025, 1, 1)  # noqa: DTZ001
DAYS = 365

# Identifier kinds: a node of the union-find is person * KINDS + kind.
PHONE, EMAIL, CARD, CARRIER, WEB_ID, BUYER = range(6)
KINDS = 6
KIND_NAMES = (
    "phone",
    "email",
    "pos_card",
    "einvoice_carrier",
    "web_customer_id",
    "marketplace_buyer",
)

# Person flags (one byte each).
F_EMAIL, F_CARD, F_CARRIER, F_STORE, F_WEB, F_MARKET, F_MOMO, F_MOMO_ACCOUNT = (
    1 << bit for bit in range(8)
)

STORES = (
    ("TPE01", "台北信義店"),
    ("TPE02", "台北東區店"),
    ("TPE03", "台北西門店"),
    ("TPE04", "台北南港店"),
    ("NTP01", "板橋車站店"),
    ("NTP02", "新莊宏匯店"),
    ("NTP03", "中和環球店"),
    ("TYN01", "桃園統領店"),
    ("TYN02", "中壢大江店"),
    ("HSZ01", "新竹巨城店"),
    ("TXG01", "台中勤美店"),
    ("TXG02", "台中中友店"),
    ("TXG03", "台中大遠百店"),
    ("TNN01", "台南新天地店"),
    ("TNN02", "台南南紡店"),
    ("KHH01", "高雄夢時代店"),
    ("KHH02", "高雄漢神巨蛋店"),
    ("KHH03", "高雄大立店"),
    ("ILA01", "宜蘭新月店"),
    ("HUN01", "花蓮遠百店"),
)
SURNAMES = (
    ("陳", "chen"),
    ("林", "lin"),
    ("黃", "huang"),
    ("張", "chang"),
    ("李", "lee"),
    ("王", "wang"),
    ("吳", "wu"),
    ("劉", "liu"),
    ("蔡", "tsai"),
    ("楊", "yang"),
    ("許", "hsu"),
    ("鄭", "cheng"),
    ("謝", "hsieh"),
    ("郭", "kuo"),
    ("洪", "hung"),
    ("曾", "tseng"),
    ("邱", "chiu"),
    ("廖", "liao"),
    ("賴", "lai"),
    ("周", "chou"),
)
GIVEN = (
    ("美玲", "meiling"),
    ("志豪", "chihhao"),
    ("淑芬", "shufen"),
    ("家豪", "chiahao"),
    ("雅婷", "yating"),
    ("俊傑", "chunchieh"),
    ("怡君", "yichun"),
    ("建宏", "chienhung"),
    ("佳穎", "chiaying"),
    ("宗翰", "tsunghan"),
    ("欣怡", "hsinyi"),
    ("冠宇", "kuanyu"),
    ("詩涵", "shihhan"),
    ("承恩", "chengen"),
    ("宜蓁", "yichen"),
    ("柏翰", "pohan"),
    ("思妤", "szuyu"),
    ("彥廷", "yenting"),
    ("曉雯", "hsiaowen"),
    ("子軒", "tzuhsuan"),
)
EMAIL_DOMAINS = ("gmail.com", "yahoo.com.tw", "hotmail.com", "outlook.com", "msa.hinet.net")
PAYMENTS = ("信用卡", "信用卡", "信用卡", "ATM", "貨到付款", "LINE Pay", "街口支付")
WEB_STATUSES = (("已付款", 40), ("已出貨", 15), ("已完成", 30), ("已取消", 8), ("已退貨", 7))
MARKET_STATUSES = (
    ("完成", 55),
    ("已出貨", 15),
    ("待出貨", 10),
    ("取消", 10),
    ("退貨", 5),
    ("退款", 5),
)
CARRIER_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.+-"
BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass
class GroundTruth:
    rows: int
    seed: int
    people: int  # identifiable people: connected components over the identifiers written
    population: int  # simulated people (some never identifiable, some split in two)
    counts: dict[str, int]  # rows per preset
    files: dict[str, str]  # preset -> file name in out_dir
    anonymous_rows: int = 0  # orders with no identifier at all (after masked values are dropped)
    masked_phones: int = 0
    returns: int = 0
    returns_before_sale: int = 0
    cancelled: int = 0
    identifiers: dict[str, int] = field(default_factory=dict)  # distinct normal forms by kind
    # (channel, external order number as imported, component or None for an anonymous order)
    sample: list[tuple[str, str, int | None]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "GroundTruth":
        data = json.loads(text)
        data["sample"] = [tuple(item) for item in data["sample"]]
        return cls(**data)


# --- Identifier values from a person's index (bijections: one value per person and kind) ----


def _affine(modulus: int, multiplier: int, offset: int):
    if gcd(multiplier, modulus) != 1:
        raise ValueError("not a bijection")
    return lambda index: (index * multiplier + offset) % modulus


_phone_no = _affine(10**8, 7_919_347, 13_572_468)
_card_no = _affine(10**8, 48_271, 1_234)
_carrier_no = _affine(len(CARRIER_CHARS) ** 7, 2_654_435_761, 977_123)


def phone_digits(person: int) -> str:
    """The 9 digits after +886: 9 and 8 more (every 09xxxxxxxx is a valid TW mobile)."""
    return f"9{_phone_no(person):08d}"


def phone_e164(person: int) -> str:
    return "+886" + phone_digits(person)


def _romanised(person: int) -> tuple[str, str]:
    return GIVEN[(person // len(SURNAMES)) % len(GIVEN)][1], SURNAMES[person % len(SURNAMES)][1]


def person_name(person: int) -> str:
    surname = SURNAMES[person % len(SURNAMES)][0]
    return surname + GIVEN[(person // len(SURNAMES)) % len(GIVEN)][0]


def email_normal(person: int) -> str:
    given, surname = _romanised(person)
    return f"{given}.{surname}{person}@{EMAIL_DOMAINS[person % len(EMAIL_DOMAINS)]}"


def card_normal(person: int) -> str:
    return f"A{_card_no(person):08d}"


def carrier_normal(person: int) -> str:
    value, chars = _carrier_no(person), []
    for _ in range(7):
        value, digit = divmod(value, len(CARRIER_CHARS))
        chars.append(CARRIER_CHARS[digit])
    return "/" + "".join(chars)


def web_id_normal(person: int) -> str:
    return f"C-{100_000 + person}"


def buyer_account(person: int) -> str:
    """The account as the marketplace spells it; its normal form is platform:account lower."""
    given, surname = _romanised(person)
    return f"{given}_{surname}{person}"


def buyer_normal(person: int, platform: str) -> str:
    return f"{platform}:{buyer_account(person).lower()}"


def normal_form(kind: int, person: int, flags: int = 0) -> tuple[str, str]:
    """(kind as crm names it, normal form) of a node: what the generator claims it wrote."""
    if kind == PHONE:
        return "phone", phone_e164(person)
    if kind == EMAIL:
        return "email", email_normal(person)
    if kind == CARD:
        return "pos_card", card_normal(person)
    if kind == CARRIER:
        return "einvoice_carrier", carrier_normal(person)
    if kind == WEB_ID:
        return "web_customer_id", web_id_normal(person)
    return "marketplace_buyer", buyer_normal(person, "momo" if flags & F_MOMO else "shopee")


# --- Spellings ------------------------------------------------------------------------------


def phone_spelled(person: int, rng: random.Random) -> str:
    return spell_phone("0" + phone_digits(person), rng)


def phone_masked(person: int, rng: random.Random) -> str:
    return mask_phone("0" + phone_digits(person), rng)


def email_spelled(person: int, rng: random.Random) -> str:
    return spell_email(email_normal(person), rng)


def card_spelled(person: int, rng: random.Random) -> str:
    return spell_card(card_normal(person), rng)


def carrier_spelled(person: int, rng: random.Random) -> str:
    return spell_carrier(carrier_normal(person), rng)


def buyer_spelled(person: int, rng: random.Random) -> str:
    return spell_buyer(buyer_account(person), rng)


# --- The generator --------------------------------------------------------------------------


class _Forest:
    """Union-find over identifier nodes (person * KINDS + kind), path halving, arrays only."""

    def __init__(self, size: int):
        self.parent = array("i", range(size))
        self.seen = bytearray(size)

    def find(self, node: int) -> int:
        parent = self.parent
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def add(self, nodes: list[int]) -> None:
        """The nodes of one row: all the same person."""
        seen = self.seen
        for node in nodes:
            seen[node] = 1
        if len(nodes) > 1:
            root = self.find(nodes[0])
            for node in nodes[1:]:
                other = self.find(node)
                if other != root:
                    self.parent[other] = root


def _weighted(choices: tuple[tuple[str, int], ...]) -> tuple[list[str], list[int]]:
    values, weights = zip(*choices, strict=True)
    total, cumulative = 0, []
    for weight in weights:
        total += weight
        cumulative.append(total)
    return list(values), cumulative


class _Generator:
    def __init__(self, rows: int, seed: int, out_dir: Path):
        self.rows = rows
        self.seed = seed
        self.out_dir = out_dir
        self.rng = random.Random(seed)
        self.population = max(20, round(rows * PEOPLE_PER_ROW))
        self.forest = _Forest(self.population * KINDS)
        self.sample_rate = min(1.0, SAMPLE / max(rows, 1))
        self.sample: list[tuple[str, str, int]] = []  # node, or -1 for anonymous
        self.stats: Counter[str] = Counter()
        pos = round(rows * SHARES[0])
        web = round(rows * SHARES[1])
        self.counts = {"pos_orders": pos, "web_orders": web, "marketplace_orders": rows - pos - web}
        self._people()

    # People: a byte of flags and a byte of habits each; everything else comes from the index.
    def _people(self) -> None:
        rng, n = self.rng, self.population
        self.flags = bytearray(n)
        self.habit = bytearray(n)  # POS habit (low nibble) and web habit (high nibble)
        store, web, market = array("i"), array("i"), array("i")
        for person in range(n):
            flags = 0
            if rng.random() < 0.75:
                flags |= F_EMAIL
            if rng.random() < 0.65:
                flags |= F_CARD
            if rng.random() < 0.3:
                flags |= F_CARRIER
            channels = 0
            while not channels:
                channels = (
                    (F_STORE if rng.random() < 0.75 else 0)
                    | (F_WEB if rng.random() < 0.5 else 0)
                    | (F_MARKET if rng.random() < 0.4 else 0)
                )
            flags |= channels
            if rng.random() < 0.3:
                flags |= F_MOMO
                if rng.random() < 0.4:
                    flags |= F_MOMO_ACCOUNT
            self.flags[person] = flags
            pos_habit = rng.choices(range(5), weights=(35, 25, 15, 10, 15))[0]
            web_habit = rng.choices(range(4), weights=(50, 25, 15, 10))[0]
            self.habit[person] = pos_habit | (web_habit << 4)
            if flags & F_STORE:
                store.append(person)
            if flags & F_WEB:
                web.append(person)
            if flags & F_MARKET:
                market.append(person)
        self.channel_people = {
            "pos_orders": store,
            "web_orders": web,
            "marketplace_orders": market,
        }

    def _pick(self, preset: str) -> int:
        people = self.channel_people[preset]
        # Mildly skewed: the first people of each list shop more often.
        return people[int(len(people) * self.rng.random() ** 1.4)]

    def _when(self, index: int, total: int) -> datetime:
        day = index * DAYS // max(total, 1)
        return YEAR_START + timedelta(days=day, seconds=self.rng.randrange(10 * 3600, 22 * 3600))

    def _record(self, preset: str, external_no: str, nodes: list[int]) -> None:
        if nodes:
            self.forest.add(nodes)
        else:
            self.stats["anonymous_rows"] += 1
        if self.rng.random() < self.sample_rate:
            self.sample.append((CHANNEL[preset], external_no, nodes[0] if nodes else -1))

    def run(self) -> GroundTruth:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for preset, filename in FILES:
            # POS exports from Excel carry a BOM; the others do not.
            bom = preset == "pos_orders"
            with source_csv(self.out_dir / filename, preset, bom=bom) as writer:
                getattr(self, f"_{preset}")(writer, self.counts[preset])
        return self._truth()

    def _truth(self) -> GroundTruth:
        forest = self.forest
        roots: set[int] = set()
        kinds: Counter[str] = Counter()
        for node in range(len(forest.seen)):
            if forest.seen[node]:
                roots.add(forest.find(node))
                kinds[KIND_NAMES[node % KINDS]] += 1
        sample = [
            (channel, external_no, forest.find(node) if node >= 0 else None)
            for channel, external_no, node in self.sample
        ]
        return GroundTruth(
            rows=self.rows,
            seed=self.seed,
            people=len(roots),
            population=self.population,
            counts=dict(self.counts),
            files=dict(FILES),
            anonymous_rows=self.stats["anonymous_rows"],
            masked_phones=self.stats["masked_phones"],
            returns=self.stats["returns"],
            returns_before_sale=self.stats["returns_before_sale"],
            cancelled=self.stats["cancelled"],
            identifiers=dict(sorted(kinds.items())),
            sample=sample,
        )

    # Store POS ---------------------------------------------------------------------------

    def _pos_identifiers(self, person: int) -> tuple[str, str, str, list[int]]:
        """(card, phone, carrier) as written at the till, and their nodes."""
        rng, flags = self.rng, self.flags[person]
        habit = self.habit[person] & 0x0F
        card = phone = carrier = ""
        nodes: list[int] = []
        if rng.random() < 0.05:  # forgot the card, gave nothing
            return card, phone, carrier, nodes
        has_card, has_carrier = flags & F_CARD, flags & F_CARRIER
        want_card = habit in (0, 1, 4) or (habit == 3 and rng.random() < 0.1)
        want_phone = (
            (habit == 0 and rng.random() < 0.05)
            or (habit == 1 and rng.random() < 0.6)
            or habit == 2
        )
        want_carrier = habit in (3, 4)
        if want_card and not has_card:
            want_card, want_phone = False, True
        if want_carrier and not has_carrier:
            want_carrier = False
            want_phone = want_phone or not want_card
        base = person * KINDS
        if want_card:
            card = card_spelled(person, rng)
            nodes.append(base + CARD)
        if want_phone:
            phone = phone_spelled(person, rng)
            nodes.append(base + PHONE)
        if want_carrier:
            carrier = carrier_spelled(person, rng)
            nodes.append(base + CARRIER)
        return card, phone, carrier, nodes

    def _pos_orders(self, writer, total: int) -> None:
        rng = self.rng
        recent: deque[tuple[str, int, int]] = deque(maxlen=5_000)  # (number, person, amount)
        deferred: list[tuple[int, list]] = []  # (write at row, the sale's row) for early returns
        written = seq = 0

        def number(store: str, when: datetime) -> str:
            nonlocal seq
            seq += 1
            return f"{store}-{when:%Y%m%d}-{seq:07d}"

        def invoice() -> str:
            return f"{BASE36[10 + seq % 26]}{BASE36[10 + seq // 26 % 26]}-{seq * 7919 % 10**8:08d}"

        def sale(person: int, when: datetime) -> tuple[list, str, int, list[int]]:
            store, store_name = self._store(person)
            if person < 0:
                card = phone = carrier = ""
                nodes: list[int] = []
            else:
                card, phone, carrier, nodes = self._pos_identifiers(person)
            amount = self._amount()
            external_no = number(store, when)
            row = [
                store,
                store_name,
                external_no,
                when.strftime(POS_TIME),
                card,
                phone,
                invoice(),
                carrier,
                spell_amount(amount, rng),
                POS_SALE,
                "",
            ]
            return row, external_no, amount, nodes

        def return_row(person: int, when: datetime, sale_no: str, amount: int):
            store, store_name = self._store(person)
            if person < 0:
                card = phone = carrier = ""
                nodes: list[int] = []
            else:
                card, phone, carrier, nodes = self._pos_identifiers(person)
            refund = amount if rng.random() < 0.7 else max(1, amount * rng.randint(1, 9) // 10)
            external_no = number(store, when)
            row = [
                store,
                store_name,
                external_no,
                when.strftime(POS_TIME),
                card,
                phone,
                invoice(),
                carrier,
                spell_amount(-refund, rng),
                POS_RETURN,
                sale_no,
            ]
            self.stats["returns"] += 1
            return row, external_no, nodes

        def write(row, external_no, nodes) -> None:
            nonlocal written
            writer.writerow(row)
            self._record("pos_orders", external_no, nodes)
            written += 1

        while written < total:
            if deferred and (deferred[0][0] <= written or total - written <= len(deferred)):
                _, pending = deferred.pop(0)
                write(*pending)
                continue
            when = self._when(written, total)
            roll = rng.random()
            person = -1 if rng.random() < 0.08 else self._pick("pos_orders")
            if roll < 0.003 and total - written > len(deferred) + 1:
                # A return written before its sale: the sale follows a few hundred rows later.
                row, sale_no, amount, nodes = sale(person, when - timedelta(days=rng.randint(1, 6)))
                write(*return_row(person, when, sale_no, amount))
                self.stats["returns_before_sale"] += 1
                deferred.append((written + rng.randint(1, 500), [row, sale_no, nodes]))
                deferred.sort(key=lambda item: item[0])
            elif roll < 0.03 and recent:
                sale_no, sale_person, amount = recent[rng.randrange(len(recent))]
                write(*return_row(sale_person, when, sale_no, amount))
            elif roll < 0.0305:
                # A return naming a sale never seen (made before the export window).
                write(*return_row(person, when, f"TPE01-20241231-{rng.randrange(10**7):07d}", 500))
            else:
                row, sale_no, amount, nodes = sale(person, when)
                write(row, sale_no, nodes)
                recent.append((sale_no, person, amount))

    def _store(self, person: int) -> tuple[str, str]:
        if person >= 0 and self.rng.random() < 0.8:
            return STORES[person % len(STORES)]
        return STORES[self.rng.randrange(len(STORES))]

    def _amount(self) -> int:
        return int(round(10 ** self.rng.uniform(2, 4.3), -1))  # NT$100 to ~20,000

    # Web shop ----------------------------------------------------------------------------

    def _web_orders(self, writer, total: int) -> None:
        rng = self.rng
        statuses, weights = _weighted(WEB_STATUSES)
        for index in range(total):
            person = self._pick("web_orders")
            flags, habit = self.flags[person], self.habit[person] >> 4
            base = person * KINDS
            nodes: list[int] = []
            customer_id = email = phone = card = ""
            has_email = flags & F_EMAIL
            with_id = habit != 2
            with_email = has_email and habit in (0, 1, 2)
            with_phone = (
                (habit == 0 and rng.random() < 0.7)
                or (habit == 1 and rng.random() < 0.1)
                or habit in (2, 3)
                or not (with_id or with_email)
            )
            if with_id:
                customer_id = web_id_normal(person)
                nodes.append(base + WEB_ID)
            if with_email:
                email = email_spelled(person, rng)
                nodes.append(base + EMAIL)
            if with_phone:
                phone = phone_spelled(person, rng)
                nodes.append(base + PHONE)
            if flags & F_CARD and rng.random() < 0.08:
                card = card_spelled(person, rng)
                nodes.append(base + CARD)
            when = self._when(index, total)
            external_no = f"W{when:%Y%m%d}{index:07d}"
            status = rng.choices(statuses, cum_weights=weights)[0]
            self.stats["cancelled"] += status == "已取消"
            writer.writerow(
                (
                    external_no,
                    when.strftime(WEB_TIME),
                    status,
                    customer_id,
                    person_name(person),
                    email,
                    phone,
                    card,
                    self._amount(),
                    PAYMENTS[rng.randrange(len(PAYMENTS))],
                )
            )
            self._record("web_orders", external_no, nodes)

    # Marketplace -------------------------------------------------------------------------

    def _marketplace_orders(self, writer, total: int) -> None:
        rng = self.rng
        statuses, weights = _weighted(MARKET_STATUSES)
        for index in range(total):
            person = self._pick("marketplace_orders")
            flags = self.flags[person]
            base = person * KINDS
            nodes: list[int] = []
            when = self._when(index, total)
            momo = flags & F_MOMO
            account = ""
            if not momo or flags & F_MOMO_ACCOUNT:
                account = buyer_spelled(person, rng)
                nodes.append(base + BUYER)
            if rng.random() < (0.15 if momo else 0.75):
                phone = phone_masked(person, rng)
                self.stats["masked_phones"] += 1
            else:
                phone = phone_spelled(person, rng)
                nodes.append(base + PHONE)
            if momo:
                platform, order_no = "momo", f"{when:%Y%m%d}{index:06d}"
            else:
                code, value = [], index
                for _ in range(8):
                    value, digit = divmod(value, 36)
                    code.append(BASE36[digit])
                platform, order_no = "shopee", f"{when:%y%m%d}{''.join(reversed(code))}"
            status = rng.choices(statuses, cum_weights=weights)[0]
            self.stats["cancelled"] += status == "取消"
            writer.writerow(
                (
                    platform,
                    order_no,
                    when.strftime(MARKETPLACE_TIME),
                    status,
                    account,
                    person_name(person),
                    phone,
                    self._amount(),
                )
            )
            self._record("marketplace_orders", f"{platform}:{order_no}", nodes)


def generate(rows: int, *, seed: int, out_dir: Path) -> GroundTruth:
    """Write the three order files into out_dir (`rows` rows in all) and return the truth."""
    return _Generator(rows, seed, Path(out_dir)).run()


def misplaced_orders(
    sample: Iterable[tuple[str, str, int | None]],
    member_of: Mapping[tuple[str, str], int | None],
) -> int:
    """Sampled orders not on the member their component says.

    member_of maps (channel, external_no) to the member id the import gave the order (a
    missing order counts as misplaced). A component's member is the one most of its orders
    sit on: the other orders of the component are misplaced (split), and so are all orders of
    a component whose member another component already has (merged), and an anonymous order
    with a member.
    """
    by_component: dict[int, list[int | None]] = {}
    misplaced = 0
    for channel, external_no, component in sample:
        key = (channel, external_no)
        if key not in member_of:
            misplaced += 1
        elif component is None:
            misplaced += member_of[key] is not None
        else:
            by_component.setdefault(component, []).append(member_of[key])
    owner: dict[int, int] = {}  # member -> component
    for component, members in sorted(by_component.items()):
        member, count = Counter(members).most_common(1)[0]
        misplaced += len(members) - count
        if member is None or owner.setdefault(member, component) != component:
            misplaced += count
    return misplaced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True, help="directory for the CSV files")
    parser.add_argument("--truth", type=Path, help="write the ground truth here as JSON")
    args = parser.parse_args()
    truth = generate(args.rows, seed=args.seed, out_dir=args.out)
    if args.truth:
        args.truth.write_text(truth.to_json(), encoding="utf-8")
    summary = {k: v for k, v in asdict(truth).items() if k != "sample"}
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
