"""The brand's export files, written: the layouts of formats/README.md and the spellings they use.

The import reads these files (crm/imports); this module writes them, for the demo data
(crm/demo/) and the import bench (bench/gen_orders.py), so both produce what the brand's
systems really hand over: the same headers in the same order, identifiers in every spelling
the formats file lists, masked marketplace phones, amounts with thousands separators, Minguo
birthdays. Plain Python (no Django), so the bench's generator can run on its own.
"""

import csv
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

# formats/README.md, column for column.
HEADERS: dict[str, tuple[str, ...]] = {
    "pos_orders": (
        "門市代碼",
        "門市名稱",
        "交易序號",
        "交易時間",
        "會員卡號",
        "會員手機",
        "發票號碼",
        "載具號碼",
        "銷售金額",
        "交易類型",
        "原交易序號",
    ),
    "web_orders": (
        "訂單號碼",
        "訂單日期",
        "訂單狀態",
        "顧客ID",
        "顧客姓名",
        "顧客Email",
        "顧客電話",
        "會員卡號",
        "訂單合計",
        "付款方式",
    ),
    "marketplace_orders": (
        "平台",
        "訂單編號",
        "訂單成立日期",
        "訂單狀態",
        "買家帳號",
        "收件者姓名",
        "收件者電話",
        "商品總價",
    ),
    "members": (
        "會員編號",
        "姓名",
        "手機",
        "Email",
        "生日",
        "性別",
        "LINE UID",
        "會員卡號",
        "載具號碼",
        "加入日期",
        "加入管道",
        "簡訊同意",
        "Email同意",
        "LINE同意",
    ),
}

# How each system writes a time (Taipei local time; the web shop adds the offset).
POS_TIME = "%Y/%m/%d %H:%M:%S"
WEB_TIME = "%Y-%m-%dT%H:%M:%S+08:00"
MARKETPLACE_TIME = "%Y-%m-%d %H:%M"
MEMBER_DATE = "%Y/%m/%d"

POS_SALE, POS_RETURN = "銷售", "退貨"
GENDERS = {"female": "女", "male": "男", "other": "其他", "": ""}

_FULL_WIDTH = str.maketrans("0123456789-", "０１２３４５６７８９－")
# (spelling of 0912345678, weight): the spellings of formats/README.md, plain ones most often.
_PHONE_SPELLINGS: tuple[tuple[str, int], ...] = (
    ("{n}", 30),  # 0912345678
    ("{a}-{b}-{c}", 22),  # 0912-345-678
    ("{a} {b} {c}", 6),  # 0912 345 678
    ("+886 {a1} {b} {c}", 12),  # +886 912 345 678
    ("+886{n1}", 5),  # +886912345678
    ("886{n1}", 4),  # 886912345678
    ("00886{n1}", 3),  # 00886912345678
    ("00886-{a1}-{b}-{c}", 2),  # 00886-912-345-678
    ("({n0}){a2}-{b}-{c}", 3),  # (09)12-345-678
    ("{a}.{b}.{c}", 3),  # 0912.345.678
    ("full:{n}", 5),  # ０９１２３４５６７８
    ("full:{a}-{b}-{c}", 5),  # ０９１２－３４５－６７８
)
_PHONE_FORMATS = tuple(spelling for spelling, _ in _PHONE_SPELLINGS)
_PHONE_CUM = tuple(
    sum(weight for _, weight in _PHONE_SPELLINGS[: i + 1]) for i in range(len(_PHONE_SPELLINGS))
)


def spell_phone(national: str, rng: random.Random) -> str:
    """A Taiwan mobile number (national form, 0912345678) as some system or person wrote it."""
    spelling = rng.choices(_PHONE_FORMATS, cum_weights=_PHONE_CUM)[0]
    full_width = spelling.startswith("full:")
    value = spelling.removeprefix("full:").format(
        n=national,
        n0=national[:2],
        n1=national[1:],
        a=national[:4],
        a1=national[1:4],
        a2=national[2:4],
        b=national[4:7],
        c=national[7:],
    )
    return value.translate(_FULL_WIDTH) if full_width else value


def mask_phone(national: str, rng: random.Random) -> str:
    """A phone as a marketplace shows it to the seller: 09******78 or 0912***678."""
    if rng.random() < 0.7:
        return f"{national[:2]}******{national[-2:]}"
    return f"{national[:4]}***{national[-3:]}"


def spell_email(normal: str, rng: random.Random) -> str:
    """An address (normal form: lower-case) with the case, ＠ and blanks real exports carry."""
    value = normal
    local, _, domain = normal.partition("@")
    choice = rng.randrange(7)
    if choice == 0:
        value = ".".join(part.capitalize() for part in local.split(".")) + "@" + domain.title()
    elif choice == 1:
        value = normal.upper()
    elif choice == 2:
        value = normal.replace("@", "＠")
    elif choice == 3:
        value = local.capitalize() + "＠" + domain.upper()
    if rng.random() < 0.3:
        value += " " * rng.randint(1, 3)  # "Meiling.Chen@Example.com "
    if rng.random() < 0.05:
        value = " " + value
    return value


def spell_card(normal: str, rng: random.Random) -> str:
    """A member card number (normal form: upper-case) as typed or scanned."""
    value = normal.lower() if rng.random() < 0.4 else normal
    choice = rng.randrange(5)
    if choice == 0:
        return f" {value} "
    if choice == 1:
        return value + "  "
    return value


def spell_carrier(normal: str, rng: random.Random) -> str:
    """An e-invoice mobile barcode (/ABC+123), sometimes keyed in lower-case."""
    return normal.lower() if rng.random() < 0.35 else normal


def spell_buyer(account: str, rng: random.Random) -> str:
    """A marketplace account name with the case and blanks the platform exports carry."""
    choice = rng.randrange(4)
    if choice == 0:
        return account.lower()
    if choice == 1:
        return account.capitalize()
    if choice == 2:
        return account.lower() + " "
    return account


def spell_amount(amount: int, rng: random.Random) -> str:
    """Whole NT$, with thousands separators half the time ("1,280", quoted by the writer)."""
    if abs(amount) >= 1000 and rng.random() < 0.5:
        return f"{amount:,}"
    return str(amount)


def spell_birthday(day: date, rng: random.Random) -> str:
    """1990/02/28, 1990-02-28 or the Minguo year 79/02/28 (民國 79 = 1990)."""
    draw = rng.random()
    if draw < 0.6:
        return f"{day:%Y/%m/%d}"
    if draw < 0.85:
        return f"{day:%Y-%m-%d}"
    return f"{day.year - 1911}/{day:%m/%d}"


@contextmanager
def source_csv(path: Path, preset: str, *, bom: bool = False) -> Iterator[Any]:
    """A csv writer for a file of one preset, its header already written; streamed to disk.

    POS exports come out of Excel with a byte-order mark (`bom=True`); the others have none.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    encoding = "utf-8-sig" if bom else "utf-8"
    with open(path, "w", encoding=encoding, newline="", buffering=1 << 20) as file:
        writer = csv.writer(file)
        writer.writerow(HEADERS[preset])
        yield writer
