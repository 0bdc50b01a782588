"""Push addresses: the app's FCM tokens (crm Identity rows of kind push_token) and browsers'
Web Push subscriptions (WebPushSubscription), as campaigns/reachability.py finds them.

A token or subscription the provider calls gone (FCM UNREGISTERED, Web Push 404/410) is
removed for good by `push_addresses_forget`, which the send pipeline calls with every such
address of a chunk; a member left without one is then unreachable on push. Browsers register
and drop their subscriptions through `webpush_subscription_save` / `_delete` (the API).
"""

import base64
import binascii
from collections.abc import Iterable

from cryptography.hazmat.primitives.asymmetric import ec
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from campaigns.models import WebPushSubscription
from campaigns.reachability import ADDRESS_KIND
from crm.models import Identity, Member

ENDPOINT_MAX = WebPushSubscription._meta.get_field("endpoint").max_length
AUTH_SECRET_BYTES = 16  # RFC 8291 §3.2

ERROR_ENDPOINT = _("The endpoint must be an https URL of at most %(max)s characters.")
ERROR_P256DH = _("The p256dh key must be a base64url P-256 public key (65 bytes, uncompressed).")
ERROR_AUTH = _("The auth secret must be 16 bytes, base64url encoded.")


class WebPushSubscriptionInvalid(Exception):
    """The browser's subscription cannot be pushed to; `errors` is [(field, reason)]."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in errors))


def _b64url(value: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None


def webpush_subscription_check(*, endpoint: str, p256dh: str, auth: str) -> None:
    """Raises WebPushSubscriptionInvalid unless the keys are ones pywebpush can encrypt to
    (a point on P-256 and a 16-byte secret) and the endpoint is an https URL."""
    errors: list[tuple[str, str]] = []
    if not endpoint.startswith("https://") or len(endpoint) > ENDPOINT_MAX or " " in endpoint:
        errors.append(("endpoint", str(ERROR_ENDPOINT % {"max": ENDPOINT_MAX})))
    point = _b64url(p256dh)
    try:
        if point is None or len(point) != 65:
            raise ValueError
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        errors.append(("keys.p256dh", str(ERROR_P256DH)))
    secret = _b64url(auth)
    if secret is None or len(secret) != AUTH_SECRET_BYTES:
        errors.append(("keys.auth", str(ERROR_AUTH)))
    if errors:
        raise WebPushSubscriptionInvalid(errors)


def webpush_subscription_save(
    *, member: Member, endpoint: str, p256dh: str, auth: str
) -> WebPushSubscription:
    """Store the browser's subscription for the member, or update the one with the same
    endpoint (a browser re-subscribing, or a shared browser now signed in as someone else).
    Raises WebPushSubscriptionInvalid for keys no message could be encrypted to."""
    webpush_subscription_check(endpoint=endpoint, p256dh=p256dh, auth=auth)
    # update_or_create locks the row, and a concurrent insert of the same endpoint loses on
    # the unique constraint and is read back: one row per endpoint.
    subscription, _created = WebPushSubscription.objects.update_or_create(
        endpoint=endpoint, defaults={"member": member, "p256dh": p256dh, "auth": auth}
    )
    return subscription


def webpush_subscription_delete(*, endpoint: str) -> bool:
    """Drop the subscription (the browser unsubscribed); False when there was none."""
    deleted, _rows = WebPushSubscription.objects.filter(endpoint=endpoint).delete()
    return bool(deleted)


@transaction.atomic
def push_addresses_forget(*, addresses: Iterable[str]) -> int:
    """Remove the FCM tokens and Web Push subscriptions the provider called gone (two
    statements whatever their number); answer how many rows went."""
    wanted = {address for address in addresses if address}
    if not wanted:
        return 0
    tokens, _rows = Identity.objects.filter(kind=ADDRESS_KIND["push"], value__in=wanted).delete()
    subscriptions, _rows = WebPushSubscription.objects.filter(endpoint__in=wanted).delete()
    return tokens + subscriptions
