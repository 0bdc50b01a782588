"""The brand's export files: every person's rows written to the member lists, POS, web shop,
marketplace files and the app feed, one person at a time."""

import random
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path

from django.utils import timezone

from crm.demo.app_feed import _app_records
from crm.demo.constants import (
    APP_FEED,
    DEMO_FILES,
    SHARE_DUPLICATED_WEB_BUYERS,
    WALK_INS_PER_MEMBER_SALE,
)
from crm.demo.context import DemoPlan, _Context, _Out, member_no_for
from crm.demo.member_lists import _consent_changes, _members_rows
from crm.demo.orders import _app_order, _marketplace_order, _pos_sale, _sales_planned, _web_order
from crm.demo.people import _Person, _person
from crm.source_files import (
    source_csv,
)
from omnichannel.channels import SalesChannel

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
