"""anymail's `tracking` signal → campaigns (connected in CampaignsConfig.ready).

Every ESP's webhook under /hooks/anymail/<esp>/tracking/ (basic auth: ANYMAIL_WEBHOOK_SECRET)
ends here with a normalised event. Hard bounces and the ESP's refusals of a bad or bounced
address suppress the member as "bounced", complaints as "complained"; everything else (opens,
deliveries, soft bounces that the ESP will retry) is left to the tracking issue.
"""

from anymail.signals import EventType, RejectReason, tracking

from campaigns.models import Suppression
from campaigns.services.email_tracking import email_event_id, email_event_record

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


def on_tracking(sender, event, esp_name: str, **kwargs) -> None:
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


def connect_email_tracking() -> None:
    tracking.connect(on_tracking, dispatch_uid="campaigns.email_tracking")
