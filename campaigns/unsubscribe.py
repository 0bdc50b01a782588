"""One-click unsubscribe links (RFC 8058): a signed token that names one delivery.

The token carries the delivery's id only (no personal data), signed with the secret key; the
view (campaigns/views_public.py) records an opt-out Consent for the delivery's member and
channel, with the token's delivery as proof.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

UNSUBSCRIBE_SALT = "campaigns.unsubscribe"


def unsubscribe_token(*, delivery_id: int) -> str:
    return signing.dumps(delivery_id, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_token_read(token: str) -> int | None:
    """The delivery id a token names, or None for a forged or mangled token."""
    try:
        value = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) else None


def unsubscribe_url(*, delivery_id: int) -> str:
    path = reverse(
        "campaigns_public:unsubscribe", args=[unsubscribe_token(delivery_id=delivery_id)]
    )
    return f"{settings.OMNICHANNEL_PUBLIC_URL}{path}"


@dataclass(frozen=True)
class UnsubscribeTarget:
    """What an unsubscribe link names: a delivery of a campaign to a member on a channel."""

    delivery_id: int
    campaign_id: int
    member_id: int
    channel: str


def unsubscribe_target(token: str) -> UnsubscribeTarget | None:
    """The delivery a token names, or None for a forged token or a delivery that is gone."""
    delivery_id = unsubscribe_token_read(token)
    if delivery_id is None:
        return None
    from campaigns.models import Delivery

    row = (
        Delivery.objects.filter(pk=delivery_id)
        .exclude(channel="")
        .values_list("campaign_id", "member_id", "channel")
        .first()
    )
    if row is None:
        return None
    return UnsubscribeTarget(delivery_id, *row)
