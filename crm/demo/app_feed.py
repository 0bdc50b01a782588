"""What the app sends the ingest API (app orders, push consent, store visits, page views),
written as JSON lines and fed through the same batch services the API uses."""

import json
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from crm.demo.constants import FEED_BATCH_SIZE, SHARE_WITH_TOUCHPOINTS, TOUCHPOINT_SPAN
from crm.demo.context import _Context, _Out, member_no_for
from crm.demo.member_lists import PUSH_DECIDED, PUSH_YES
from crm.demo.people import _Person
from crm.demo.vocabulary import _PAGE_PATHS
from crm.models import Identity
from crm.services import BatchRecord, identifiers_normalize, members_resolve_batch
from crm.services.consent import consents_record_batch
from crm.services.orders import OrderIn, orders_upsert
from crm.services.touchpoints import TouchpointIn, touchpoints_write_batch
from omnichannel.channels import MessagingChannel, SalesChannel


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
