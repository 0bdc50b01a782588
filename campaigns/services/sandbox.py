"""What members do after a sandbox send, simulated so the demo has life (never with a real
provider: the pipeline asks for this only after a sandbox batch).

Rates are what Taiwanese retail programmes report (e-mail opens ~25 %, LINE clicks ~5 %, a LINE
block per ~200 messages, about a third of e-mail recipients on Apple Mail with Privacy
Protection); each member's draw is fixed by the delivery, so a rerun draws the same.
Events go through the same services the real requests call (campaigns.services.tracking):
an open as the pixel's or the app's, a click as a request of the message's first tracked link,
a LINE block as the webhook's (touchpoint, suppression, the campaign's figure). An address the
sandbox refuses is a hard bounce the pipeline itself suppresses as it writes the result, as for
a real provider's refusal.
"""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.backends.sandbox import sandbox_draw
from campaigns.models import Delivery, SendBatch, Suppression, TrackedLink, WebhookEvent
from campaigns.services.suppressions import suppression_record
from campaigns.services.tracking import (
    line_blocks_attribute,
    link_click_record,
    message_open_record,
)
from campaigns.tracking import tracking_code
from crm.services.touchpoints import TouchpointIn, touchpoints_write_batch

OPEN_RATE = {"email": 0.25, "push": 0.08, "line": 0.0, "sms": 0.0}
# E-mail recipients whose Apple Mail fetches the pixel through Apple's proxy on arrival.
MPP_RATE = 0.35
CLICK_RATE = {"email": 0.03, "push": 0.02, "line": 0.05, "sms": 0.02}
LINE_BLOCK_RATE = 0.005
PROVIDER = "sandbox"
USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 Line/14.9.0"
)


def sandbox_events_simulate(*, batch_id: int, now: datetime | None = None) -> int:
    """Write the simulated opens, clicks and LINE blocks of one sandbox batch; returns how
    many events. Safe twice: a batch is simulated once (a WebhookEvent row names it)."""
    batch = SendBatch.objects.filter(pk=batch_id, status=SendBatch.Status.DONE).first()
    if batch is None:
        return 0
    now = now or timezone.now()
    channel = batch.channel
    rows = list(
        Delivery.objects.filter(batch=batch, status=Delivery.Status.SENT).values_list(
            "pk", "member_id", "variant", "sent_at"
        )
    )
    # The first tracked link of each variant's message: where a simulated click goes.
    first_link = dict(
        TrackedLink.objects.filter(campaign_id=batch.campaign_id, channel=channel, tracked=True)
        .order_by("variant", "-number")
        .values_list("variant", "number")
    )
    try:
        with transaction.atomic():
            WebhookEvent.objects.create(provider=PROVIDER, event_id=f"batch:{batch.pk}")
            return _simulate(rows, channel=channel, first_link=first_link, now=now)
    except IntegrityError:
        return 0


def _simulate(rows, *, channel: str, first_link: dict[str, int], now: datetime) -> int:
    events = 0
    blocked: dict[int, datetime] = {}
    for delivery_id, member_id, variant, sent_at in rows:
        key = f"d{delivery_id}"
        sent_at = sent_at or now
        delay = timedelta(minutes=1 + int(sandbox_draw(key, "delay") * 90))
        at = min(sent_at + delay, now)
        if channel == "email" and sandbox_draw(key, "mpp") < MPP_RATE:
            message_open_record(delivery_id=delivery_id, source=PROVIDER, machine=True, at=sent_at)
            events += 1
        if sandbox_draw(key, "open") < OPEN_RATE.get(channel, 0):
            message_open_record(delivery_id=delivery_id, source=PROVIDER, machine=False, at=at)
            events += 1
        number = first_link.get(variant)
        if number and sandbox_draw(key, "click") < CLICK_RATE.get(channel, 0):
            link_click_record(
                code=tracking_code(delivery_id=delivery_id, number=number),
                user_agent=USER_AGENT,
                ip=None,
                at=min(at + timedelta(minutes=1), now),
            )
            events += 1
        if channel == "line" and sandbox_draw(key, "block") < LINE_BLOCK_RATE:
            blocked[member_id] = at
    if blocked:
        touchpoints_write_batch(
            touchpoints=[
                TouchpointIn(channel, "line_block", at, {"simulated": True})
                for at in blocked.values()
            ],
            member_ids=list(blocked),
        )
        suppression_record(
            member_ids=list(blocked),
            channel=channel,
            reason=Suppression.Reason.LINE_BLOCKED,
            source=PROVIDER,
            at=max(blocked.values()),
        )
        line_blocks_attribute(at_by_member=blocked)
        events += len(blocked)
    return events
