"""The seeding: write the files, import them through the presets and the services, then the
home stores, tags, RFM groups and segment counts; what came out (`DemoSeedResult`)."""

import tempfile
import time
import zlib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from crm.demo.app_feed import _app_feed_import
from crm.demo.constants import (
    APP_FEED,
    DEMO_FILES,
    DORMANT_AFTER,
    ERROR_BAD_COUNT,
    ERROR_IMPORT,
    ERROR_NOT_EMPTY,
    ERROR_TOO_MANY,
    MAX_PEOPLE,
    DemoDatabaseNotEmpty,
    DemoSeedError,
)
from crm.demo.context import DemoPlan
from crm.demo.files import demo_files_write
from crm.demo.vocabulary import (
    DEMO_STORES,
    DEMO_TAGS,
    TAG_DORMANT,
    TAG_GROUP_BUYER,
    TAG_NEW_ARRIVALS,
    TAG_VIP,
    VIP_SPEND_TWD,
)
from crm.models import Consent, Identity, Member, MergeLog, Order, Store, Tag, Touchpoint
from crm.services.imports import ImportResult, import_file_run
from crm.services.profiles import members_home_store_fill
from crm.services.segments import segment_counts_refresh
from crm.services.stats import member_stats_rfm_score


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
