"""What members do after a sandbox send, simulated so the demo has life (never with a real
provider: the pipeline asks for this only after a sandbox batch).

Rates are what Taiwanese retail programmes report (e-mail opens ~25 %, LINE clicks ~5 %, a LINE
block per ~200 messages); each member's draw is fixed by the delivery, so a rerun writes the same.
Events go through the same writes the real webhooks make: touchpoints (crm) for opens and
clicks, a suppression for a LINE block. An address the sandbox refuses is a hard bounce the
pipeline itself suppresses as it writes the result, as for a real provider's refusal.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from campaigns.backends.sandbox import sandbox_draw
from campaigns.models import Delivery, SendBatch, Suppression
from campaigns.services.suppressions import suppression_record
from crm.models import Touchpoint
from crm.services.touchpoints import TouchpointIn, touchpoints_write_batch

OPEN_RATE = {"email": 0.25, "push": 0.08, "line": 0.0, "sms": 0.0}
CLICK_RATE = {"email": 0.03, "push": 0.02, "line": 0.05, "sms": 0.02}
LINE_BLOCK_RATE = 0.005


def sandbox_events_simulate(*, batch_id: int) -> int:
    """Write the simulated opens, clicks and LINE blocks of one sandbox batch; returns how
    many events. Safe twice: a batch already simulated (its touchpoints exist) writes nothing."""
    batch = SendBatch.objects.filter(pk=batch_id, status=SendBatch.Status.DONE).first()
    if batch is None:
        return 0
    rows = list(Delivery.objects.filter(batch=batch).values_list("pk", "member_id", "status"))
    if Touchpoint.objects.filter(
        member_id__in=[row[1] for row in rows[:50]],
        properties__batch_id=batch.pk,
    ).exists():
        return 0
    now = timezone.now()
    touchpoints: list[TouchpointIn] = []
    member_ids: list[int] = []
    blocked: set[int] = set()
    channel = batch.channel
    for delivery_id, member_id, status in rows:
        key = f"d{delivery_id}"
        properties = {
            "campaign_id": batch.campaign_id,
            "delivery_id": delivery_id,
            "batch_id": batch.pk,
            "simulated": True,
        }
        # An address the sandbox refused (a hard bounce) was suppressed by the pipeline as it
        # wrote the result, as for a real provider's refusal.
        if status != Delivery.Status.SENT:
            continue
        delay = timedelta(minutes=1 + int(sandbox_draw(key, "delay") * 90))
        if sandbox_draw(key, "open") < OPEN_RATE.get(channel, 0):
            touchpoints.append(TouchpointIn(channel, "message_opened", now, properties))
            member_ids.append(member_id)
        if sandbox_draw(key, "click") < CLICK_RATE.get(channel, 0):
            touchpoints.append(
                TouchpointIn(channel, "link_clicked", now, {**properties, "after": str(delay)})
            )
            member_ids.append(member_id)
        if channel == "line" and sandbox_draw(key, "block") < LINE_BLOCK_RATE:
            touchpoints.append(TouchpointIn(channel, "line_block", now, properties))
            member_ids.append(member_id)
            blocked.add(member_id)
    with transaction.atomic():
        written = touchpoints_write_batch(touchpoints=touchpoints, member_ids=member_ids)
        new = suppression_record(
            member_ids=blocked,
            channel=channel,
            reason=Suppression.Reason.LINE_BLOCKED,
            source="sandbox",
            at=now,
        )
    return written + new
