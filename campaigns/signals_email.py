"""anymail's `tracking` signal → campaigns (connected in CampaignsConfig.ready).

Every ESP's webhook under /hooks/anymail/<esp>/tracking/ (basic auth: ANYMAIL_WEBHOOK_SECRET)
ends here with a normalised event. Hard bounces and the ESP's refusals of a bad or bounced
address suppress the member as "bounced", complaints as "complained"; opens, clicks and
deliveries go to the campaign's figures (campaigns.services.tracking), found by the delivery
key our message carries in its metadata (or in its Message-ID, for an ESP that echoes that);
soft bounces that the ESP will retry are left alone.
"""

import re

from anymail.signals import EventType, RejectReason, tracking

from campaigns.backends.email import message_id_for
from campaigns.models import Suppression
from campaigns.services.email_tracking import email_event_id, email_event_record
from campaigns.services.tracking import email_engagement_record

# Rejections that mean the address cannot receive mail (not "our account is paused").
HARD_REJECT_REASONS = {RejectReason.INVALID, RejectReason.BOUNCED}
# ESPs that report a soft bounce as "bounced" say so in their own words (Postmark's Type).
SOFT_BOUNCE_TYPES = {"SoftBounce", "Transient", "DnsError"}


def suppression_reason_of(event) -> str | None:
    """bounced / complained for the events that suppress, None for the rest."""
    if event.event_type == EventType.COMPLAINED:
        return Suppression.Reason.COMPLAINED
    if event.event_type == EventType.BOUNCED:
        if _is_soft(event):
            return None
        return Suppression.Reason.BOUNCED
    if event.event_type == EventType.REJECTED and event.reject_reason in HARD_REJECT_REASONS:
        return Suppression.Reason.BOUNCED
    return None


def _is_soft(event) -> bool:
    raw = event.esp_event
    if isinstance(raw, dict) and raw.get("Type") in SOFT_BOUNCE_TYPES:
        return True
    # An SMTP 4xx reply is temporary by definition (RFC 5321 4.2.1).
    return str(event.mta_response or "").lstrip().startswith("4")


ENGAGEMENT = {
    EventType.OPENED: "opened",
    EventType.CLICKED: "clicked",
    EventType.DELIVERED: "delivered",
}
DELIVERY_KEY = re.compile(r"^d(\d{1,18})$")
MESSAGE_ID_KEY = re.compile(r"^<?(d\d{1,18})\.")


def delivery_of(event) -> int | None:
    """The delivery an ESP's event is about: the key in the message's metadata, or the key of
    our own Message-ID (checked against its MAC, so a made-up id names nothing)."""
    metadata = event.metadata if isinstance(event.metadata, dict) else {}
    key = str(metadata.get("delivery") or "")
    if not DELIVERY_KEY.match(key):
        match = MESSAGE_ID_KEY.match(str(event.message_id or ""))
        if match is None:
            return None
        key = match.group(1)
        if message_id_for(key).strip("<>") != str(event.message_id).strip("<>"):
            return None
    return int(key[1:])


def on_tracking(sender, event, esp_name: str, **kwargs) -> None:
    kind = ENGAGEMENT.get(event.event_type)
    if kind is not None:
        _on_engagement(event, esp_name, kind)
        return
    reason = suppression_reason_of(event)
    if reason is None or not event.recipient:
        return
    provider = f"anymail:{esp_name}".lower()
    email_event_record(
        provider=provider,
        event_id=email_event_id(
            provider=provider,
            event_id=event.event_id,
            parts=(event.event_type, event.recipient, event.message_id, str(event.timestamp)),
        ),
        reason=reason,
        recipients=[event.recipient],
        detail=str(event.description or event.mta_response or "")[:500],
        at=event.timestamp,
    )


def _on_engagement(event, esp_name: str, kind: str) -> None:
    delivery_id = delivery_of(event)
    if delivery_id is None:
        return
    provider = f"anymail:{esp_name}".lower()
    email_engagement_record(
        provider=provider,
        event_id=email_event_id(
            provider=provider,
            event_id=event.event_id,
            parts=(event.event_type, delivery_id, event.click_url, str(event.timestamp)),
        ),
        kind=kind,
        delivery_id=delivery_id,
        user_agent=str(event.user_agent or ""),
        url=str(event.click_url or ""),
        at=event.timestamp,
    )


def connect_email_tracking() -> None:
    tracking.connect(on_tracking, dispatch_uid="campaigns.email_tracking")
