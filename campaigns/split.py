"""Who gets which variant and who is held out: the rules in Python, the same ones the launch
writes in SQL (campaigns/services/audience.py), so tests and pages can compute what a launch
does and a test proves both agree on SQLite and PostgreSQL.

- Rank: the audience members a launch randomises are ordered by md5("<campaign id>:<member
  id>") (hex text, then member id): deterministic per campaign, independent across campaigns.
- Sizes are exact: round(N × holdout % / 100) held out first, then the rest split across the
  variants by largest remainder (`split_sizes`).
- The global control group is a property of the member brand-wide (campaigns/control_group.py,
  the one rule): held out before the random holdout, in marketing campaigns only.
"""

import hashlib
import math
from collections.abc import Mapping

from django.db.backends.signals import connection_created

from campaigns.models import VARIANT_DEFAULT, VARIANTS


def _md5(text) -> str | None:
    if text is None:
        return None
    return hashlib.md5(str(text).encode(), usedforsecurity=False).hexdigest()


def member_rank_key(*, campaign_id: int, member_id: int) -> tuple[str, int]:
    """The order of a campaign's members for the split (the SQL's ORDER BY)."""
    return _md5(f"{campaign_id}:{member_id}"), member_id


def variant_split_of(split: Mapping[str, int] | None) -> dict[str, int]:
    """The campaign's split in variant order; empty = everything to A."""
    split = {v: int(p) for v, p in (split or {}).items() if int(p) > 0}
    if not split:
        return {VARIANT_DEFAULT: 100}
    return {v: split[v] for v in VARIANTS if v in split}


def split_sizes(total: int, split: Mapping[str, int] | None) -> dict[str, int]:
    """Exact sizes of `total` members per variant (largest remainder; ties in variant order)."""
    shares = variant_split_of(split)
    whole = sum(shares.values())
    exact = {v: total * p / whole for v, p in shares.items()}
    sizes = {v: math.floor(x) for v, x in exact.items()}
    left = total - sum(sizes.values())
    by_remainder = sorted(shares, key=lambda v: (-(exact[v] - sizes[v]), VARIANTS.index(v)))
    for v in by_remainder[:left]:
        sizes[v] += 1
    return sizes


def holdout_size(total: int, percent: int) -> int:
    """round(N × percent / 100), halves up (Python's round() would round halves to even): the
    size of a holdout, and of winner mode's test share."""
    return math.floor(total * percent / 100 + 0.5)


def split_plan(
    *,
    campaign_id: int,
    member_ids,
    holdout_percent: int = 0,
    variant_split: Mapping[str, int] | None = None,
    winner_test_percent: int | None = None,
) -> dict[int, str]:
    """What the launch gives each randomised member: "holdout", a variant, or "" (waiting for
    the winner). Members already taken by a store holdout or the control group are not in
    `member_ids`."""
    ranked = sorted(member_ids, key=lambda m: member_rank_key(campaign_id=campaign_id, member_id=m))
    held = holdout_size(len(ranked), holdout_percent)
    rest = len(ranked) - held
    tested = rest if winner_test_percent is None else holdout_size(rest, winner_test_percent)
    plan = dict.fromkeys(ranked[:held], "holdout")
    position = held
    for variant, size in split_sizes(tested, variant_split).items():
        for m in ranked[position : position + size]:
            plan[m] = variant
        position += size
    for m in ranked[position:]:
        plan[m] = ""
    return plan


def _register_sqlite_md5(sender, connection, **kwargs) -> None:
    """SQLite has no md5(): the launch's SQL calls this one (deterministic, so indexes and the
    planner may use it)."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("md5", 1, _md5, deterministic=True)


def register_sqlite_md5() -> None:
    connection_created.connect(_register_sqlite_md5, dispatch_uid="campaigns_sqlite_md5")
