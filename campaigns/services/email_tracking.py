"""What an ESP tells us after the send (through django-anymail's tracking webhooks): a hard
bounce or a spam complaint suppresses the address's member on e-mail.

The receiver (campaigns/signals_email.py) turns anymail's normalised event into one call here.
Each event is handled once: its id is written to WebhookEvent in the same transaction as the
suppression, so an ESP that redelivers (they retry until they get a 2xx) changes nothing the
second time, and a failure rolls both back for the ESP's retry to do again.
"""

import hashlib
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.models import Suppression, WebhookEvent
from campaigns.services.suppressions import suppression_record
from crm.identifiers import identifiers_normalize
from crm.models import Identity

EVENT_ID_MAX = WebhookEvent._meta.get_field("event_id").max_length
PROVIDER_MAX = WebhookEvent._meta.get_field("provider").max_length


def email_event_id(*, provider: str, event_id: str | None, parts: tuple) -> str:
    """The ESP's event id, or (for ESPs that send none with some events) a digest of what
    identifies the event, so a redelivered copy has the same id."""
    if event_id:
        value = str(event_id)
        if len(value) <= EVENT_ID_MAX:
            return value
    return "h:" + hashlib.sha256(repr((provider, event_id, *parts)).encode()).hexdigest()[:64]


def member_ids_for_email(addresses: list[str]) -> list[int]:
    """Members whose e-mail identity is one of these addresses, in any spelling."""
    keys = identifiers_normalize([(Identity.Kind.EMAIL, a) for a in addresses]).identifiers
    if not keys:
        return []
    return list(
        Identity.objects.filter(
            kind=Identity.Kind.EMAIL, value__in=[key.value for key in keys]
        ).values_list("member_id", flat=True)
    )


def email_event_record(
    *,
    provider: str,
    event_id: str,
    reason: str,
    recipients: list[str],
    detail: str = "",
    at: datetime | None = None,
) -> int:
    """Suppress the members of `recipients` on e-mail for `reason` (bounced or complained),
    once per (provider, event_id). Answers how many suppressions are new (0 for a replay, an
    address no member has, or a member already suppressed)."""
    if reason not in (Suppression.Reason.BOUNCED, Suppression.Reason.COMPLAINED):
        raise ValueError(f"not an e-mail suppression reason: {reason!r}")
    try:
        with transaction.atomic():
            # The unique (provider, event_id) decides: a concurrent or later copy fails here.
            WebhookEvent.objects.create(provider=provider[:PROVIDER_MAX], event_id=event_id)
            return suppression_record(
                member_ids=member_ids_for_email(recipients),
                channel="email",
                reason=reason,
                source=provider,
                detail=detail,
                at=at or timezone.now(),
            )
    except IntegrityError:
        return 0
