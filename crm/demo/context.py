"""The state of one generation run: the plan (what was written, counted), the random source
and clock (`_Context`), the open files (`_Out`), member numbers."""

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from itertools import accumulate
from typing import Any, TextIO

from django.utils import translation

from crm.demo.constants import APP_FEED, MEMBER_NO_DIGITS, MEMBER_NO_PREFIX
from crm.demo.encoding import _OrderNumbers
from crm.demo.vocabulary import DEMO_STORES, DemoStore
from omnichannel.channels import SalesChannel


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


def member_no_for(index: int) -> str:
    return f"{MEMBER_NO_PREFIX}{index:0{MEMBER_NO_DIGITS}d}"


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
