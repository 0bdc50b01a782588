"""The one rule for "reachable on channel X" (STYLE.md 23), and each channel's addresses.

A member is reachable on a channel when they have an address there, their current consent on
it is opted in (crm's consent_current_q), and no active Suppression (a LINE block, a bounce, a
spam complaint) stands. The launch plans each member's channel with these expressions set-wise,
the worker checks them again for each batch at send time, and the confirm page counts with them.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Q

from campaigns.models import DeliveryReason, Suppression, WebPushSubscription
from crm.models import CONSENT_NONE, Consent, Identity, consent_current_q

ADDRESS_KIND = {
    "line": Identity.Kind.LINE_USER_ID,
    "email": Identity.Kind.EMAIL,
    "sms": Identity.Kind.PHONE,
    "push": Identity.Kind.PUSH_TOKEN,
}


def sms_capable_q(prefix: str = "") -> Q:
    """Phones an SMS can reach: any foreign number, and Taiwan's mobiles (+8869…), not its
    landlines."""
    return ~Q(**{f"{prefix}value__startswith": "+886"}) | Q(
        **{f"{prefix}value__startswith": "+8869"}
    )


def _identities(channel: str, member: str):
    identities = Identity.objects.filter(member_id=OuterRef(member), kind=ADDRESS_KIND[channel])
    return identities.filter(sms_capable_q()) if channel == "sms" else identities


def address_q(channel: str, member: str = "pk") -> Q:
    """Members (through `member`, the path to the member's id) with an address on the channel."""
    has = Q(Exists(_identities(channel, member)))
    if channel == "push":
        has |= Q(Exists(WebPushSubscription.objects.filter(member_id=OuterRef(member))))
    return has


def suppressed_q(channel: str, member: str = "pk", reason: str | None = None) -> Q:
    active = Suppression.objects.filter(
        member_id=OuterRef(member), channel=channel, lifted_at__isnull=True
    )
    if reason:
        active = active.filter(reason=reason)
    return Q(Exists(active))


def reachable_q(channel: str, member: str = "pk") -> Q:
    return (
        address_q(channel, member)
        & consent_current_q(channel, Consent.State.OPTED_IN, member=member)
        & ~suppressed_q(channel, member)
    )


def unreachable_reasons(channels: Sequence[str], member: str = "pk") -> list[tuple[str, Q]]:
    """(reason, condition) in the order a member unreachable on every channel is explained:
    the most telling reason first (they opted out; they blocked us; they never consented; we
    have no address), on the first channel of the strategy where it applies."""
    rules: list[tuple[str, Q]] = []
    for channel in channels:
        rules.append(
            (
                DeliveryReason.UNSUBSCRIBED,
                address_q(channel, member)
                & consent_current_q(channel, Consent.State.OPTED_OUT, member=member),
            )
        )
    for channel in channels:
        for reason in Suppression.Reason.values:
            rules.append(
                (reason, address_q(channel, member) & suppressed_q(channel, member, reason))
            )
    for channel in channels:
        rules.append(
            (
                DeliveryReason.NO_CONSENT,
                address_q(channel, member)
                & consent_current_q(channel, CONSENT_NONE, member=member),
            )
        )
    rules.append((DeliveryReason.NO_CHANNEL, Q()))
    return rules


@dataclass(frozen=True)
class Address:
    value: str
    extra: dict = field(default_factory=dict)


def addresses_for(*, channel: str, member_ids: Iterable[int]) -> dict[int, Address]:
    """Each member's address on the channel: the most recently seen one (a member with two
    phones gets the one they used last). One query per kind of address."""
    ids = list(member_ids)
    found: dict[int, Address] = {}
    identities = (
        Identity.objects.filter(member_id__in=ids, kind=ADDRESS_KIND[channel])
        .order_by("member_id", "last_seen_at", "pk")
        .values_list("member_id", "value")
    )
    if channel == "sms":
        identities = identities.filter(sms_capable_q())
    extra = {"transport": "fcm"} if channel == "push" else {}
    for member_id, value in identities:  # ascending, so the newest wins
        found[member_id] = Address(value, extra)
    if channel == "push":
        # A browser subscription is the newest device when it is newer than the app token;
        # without an app token it is the only one.
        subscriptions = (
            WebPushSubscription.objects.filter(member_id__in=ids)
            .exclude(member_id__in=list(found))
            .order_by("member_id", "created_at", "pk")
            .values_list("member_id", "endpoint", "p256dh", "auth")
        )
        for member_id, endpoint, p256dh, auth in subscriptions:
            found[member_id] = Address(
                endpoint, {"transport": "webpush", "p256dh": p256dh, "auth": auth}
            )
    return found
