"""What one call of the ingest API writes: identifiers normalised, the member resolved, the row
written, on behalf of an API key.

Each function is the whole of one call and runs inside the caller's transaction
(omnichannel.api.core.idempotent opens it together with the Idempotency-Key record). Inputs
are plain values, already shaped as the API's schema checks them (sales channel values, aware
times, whole NT$); identifiers are raw values by kind, in any spelling the source has. On top
of the crm services these add what a remote caller needs: input that cannot be used raises
InputError naming every field at fault, and a key writing another channel than its own raises
ChannelNotAllowed.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm import normalize
from crm.events import RecordedEvent, event_handlers_run
from crm.models import ApiKey, Identity, Member, Order
from crm.services import (
    MemberProfile,
    NormalizedIdentifiers,
    Resolution,
    identifiers_normalize,
    member_resolve,
    member_survivor,
)
from crm.services import orders as order_services
from crm.services.consent import consents_record_batch
from crm.services.identity import NORMALIZERS
from crm.services.touchpoints import ERROR_NO_PERSON, TouchpointRecorded, touchpoint_record
from omnichannel.channels import Channel

# A location under the request body, as the API reports it: ("identifiers", "phone").
Loc = tuple[str | int, ...]

IDENTIFIER_MAX = Identity._meta.get_field("value").max_length
MEMBER_NO_MAX = Member._meta.get_field("member_no").max_length

ERROR_CHANNEL = _("This API key writes channel %(own)s; it may not write channel %(channel)s.")
ERROR_IDENTIFIER = _("Not a valid identifier of this kind (%(reason)s).")
ERROR_MASKED = _("A masked value is no identifier; leave the field out.")
ERROR_TOO_LONG = _("Longer than %(max)s characters once normalised.")
ERROR_ERASED = _("This member's personal data was erased; the number cannot be used again.")
ERROR_NO_PERSON_MEMBER = _("Give at least one identifier or the member number.")
ERROR_STORE_REQUIRED = _("Required for channel store.")
ERROR_ACQUISITION_CHANNEL = _("Unknown channel; expected one of %(expected)s.")
ERROR_IS_A_SALE = _("%(no)s is a sale in channel %(channel)s, not a return.")
ERROR_IS_A_RETURN = _("%(no)s is a return in channel %(channel)s; send it to /returns.")
ERROR_OTHER_SALE = _("This return was recorded for sale %(sale)s.")
ERROR_RETURNS_ITSELF = _("A return cannot name itself as its sale.")


class InputError(ValueError):
    """Input that passed the schema but cannot be used: (location under the body, message)."""

    def __init__(self, errors: list[tuple[Loc, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in errors))


class ChannelNotAllowed(PermissionError):
    pass


@dataclass(frozen=True)
class ProfileInput:
    """Profile fields a source may send; they fill the member's blanks only."""

    name: str = ""
    birthday: date | None = None
    gender: str = ""
    joined_at: datetime | None = None
    acquisition_channel: str = ""  # any Channel value; "" for the key's channel


@dataclass
class OrderWritten:
    order: Order
    created: bool
    resolution: Resolution | None

    @property
    def sale_linked(self) -> bool:
        return self.order.returns_order_id is not None


def member_upsert(
    *,
    api_key: ApiKey,
    identifiers: Mapping[str, str],
    profile: ProfileInput | None = None,
    consents: Mapping[str, bool] | None = None,
) -> Resolution:
    """The member of these identifiers, created or merged as needed, profile blanks filled and
    consent decisions (messaging channel -> opted in) recorded.

    Raises InputError for no usable identifier, or one that is invalid, masked, too long or the
    number of an erased member, and for an acquisition channel that is no Channel.
    """
    profile = profile or ProfileInput()
    if profile.acquisition_channel and profile.acquisition_channel not in Channel.values:
        expected = {"expected": ", ".join(Channel.values)}
        loc = ("profile", "acquisition_channel")
        raise InputError([(loc, str(ERROR_ACQUISITION_CHANNEL % expected))])
    normalized = identifiers_parse(identifiers)
    if not normalized.identifiers and not normalized.member_no:
        raise InputError([(("identifiers",), str(ERROR_NO_PERSON_MEMBER))])
    resolution = member_resolve(
        identifiers=normalized.identifiers,
        member_no=normalized.member_no,
        source=api_key.channel,
        profile=MemberProfile(
            name=profile.name,
            birthday=profile.birthday,
            gender=profile.gender,
            # A member registered through this key's system joined through its channel, a
            # messaging one (the LINE Official Account) included.
            acquisition_channel=profile.acquisition_channel or api_key.channel,
            joined_at=profile.joined_at,
        ),
    )
    decisions = [
        (resolution.member.pk, channel, opted_in) for channel, opted_in in (consents or {}).items()
    ]
    if decisions:
        consents_record_batch(decisions=decisions, source=f"api:{api_key.name}", at=timezone.now())
    return resolution


def order_record(
    *,
    api_key: ApiKey,
    channel: str,
    external_no: str,
    amount_twd: int,
    placed_at: datetime,
    status: str = Order.Status.PLACED,
    store_code: str = "",
    identifiers: Mapping[str, str] | None = None,
) -> OrderWritten:
    """A sale inserted, or updated by its channel and number, on the member its identifiers
    resolve to (anonymous without identifiers).

    Raises ChannelNotAllowed for another channel than the key's; InputError for a store sale
    without store code, a number that is a return, or unusable identifiers.
    """
    return _order_write(
        api_key=api_key,
        channel=channel,
        external_no=external_no,
        amount_twd=amount_twd,
        placed_at=placed_at,
        status=status,
        store_code=store_code,
        identifiers=identifiers or {},
        returns_external_no=None,
    )


def return_record(
    *,
    api_key: ApiKey,
    external_no: str,
    returns_external_no: str,
    amount_twd: int,
    placed_at: datetime,
    channel: str = Channel.STORE,
    store_code: str = "",
    identifiers: Mapping[str, str] | None = None,
) -> OrderWritten:
    """A return (its own order, negative amount, naming its sale) inserted or updated; linked
    to its sale now or when the sale arrives, and a sale returned in full is marked returned.

    Raises ChannelNotAllowed for another channel than the key's; InputError for a store return
    without store code, a return naming itself, a number that is a sale or a return recorded
    for another sale, or unusable identifiers.
    """
    return _order_write(
        api_key=api_key,
        channel=channel,
        external_no=external_no,
        amount_twd=amount_twd,
        placed_at=placed_at,
        # A return is its own negative order, so revenue nets out (as the POS import).
        status=Order.Status.PLACED,
        store_code=store_code,
        identifiers=identifiers or {},
        returns_external_no=returns_external_no,
    )


def _order_write(
    *,
    api_key: ApiKey,
    channel: str,
    external_no: str,
    amount_twd: int,
    placed_at: datetime,
    status: str,
    store_code: str,
    identifiers: Mapping[str, str],
    returns_external_no: str | None,
) -> OrderWritten:
    """A sale (returns_external_no None) or a return; one answer lists every problem."""
    channel_check(api_key=api_key, channel=channel)
    is_return = returns_external_no is not None
    returns_external_no = returns_external_no or ""
    errors: list[tuple[Loc, str]] = []
    if channel == Channel.STORE and not store_code:
        errors.append((("store_code",), str(ERROR_STORE_REQUIRED)))
    if is_return and returns_external_no == external_no:
        errors.append((("returns_external_no",), str(ERROR_RETURNS_ITSELF)))
    # The upsert overwrites amounts by number: a sale must not be overwritten by a return or a
    # return by a sale, and a return keeps the sale it was first recorded for.
    existing = (
        Order.objects.filter(channel=channel, external_no=external_no)
        .values_list("returns_external_no", flat=True)
        .first()
    )
    params = {"no": external_no, "channel": channel}
    if existing is not None:
        if is_return and not existing:
            errors.append((("external_no",), str(ERROR_IS_A_SALE % params)))
        elif is_return and existing != returns_external_no:
            errors.append((("returns_external_no",), str(ERROR_OTHER_SALE % {"sale": existing})))
        elif not is_return and existing:
            errors.append((("external_no",), str(ERROR_IS_A_RETURN % params)))
    normalized = identifiers_parse(identifiers, errors=errors)

    resolution = None
    if normalized.identifiers or normalized.member_no:
        resolution = member_resolve(
            identifiers=normalized.identifiers,
            member_no=normalized.member_no,
            source=channel,
            # A person first met through an order joined at it, and was seen then.
            profile=MemberProfile(acquisition_channel=channel, joined_at=placed_at),
            seen_at=placed_at,
        )
    order_services.orders_upsert(
        orders=[
            order_services.OrderIn(
                channel=channel,
                external_no=external_no,
                amount_twd=amount_twd,
                placed_at=placed_at,
                status=status,
                store_code=store_code,
                is_return=is_return,
                returns_external_no=returns_external_no,
            )
        ],
        member_ids=[resolution.member.pk if resolution else None],
    )
    order = Order.objects.select_related("member").get(channel=channel, external_no=external_no)
    # Two first calls racing may both say created; the order itself is written once.
    return OrderWritten(order=order, created=existing is None, resolution=resolution)


def event_record(
    *,
    api_key: ApiKey,
    channel: str,
    kind: str,
    at: datetime,
    identifiers: Mapping[str, str],
    properties: Mapping[str, Any] | None = None,
) -> TouchpointRecorded:
    """A touchpoint on the member its identifiers resolve to (created or merged as needed).

    Raises ChannelNotAllowed for another channel than the key's; InputError for no usable
    identifier; TouchpointError (crm.services.touchpoints) for a kind that is no slug or a
    naive time.
    """
    channel_check(api_key=api_key, channel=channel)
    normalized = identifiers_parse(identifiers)
    if not normalized.identifiers and not normalized.member_no:
        raise InputError([(("identifiers",), str(ERROR_NO_PERSON))])
    with transaction.atomic():
        recorded = touchpoint_record(
            identifiers=normalized.identifiers,
            member_no=normalized.member_no,
            channel=channel,
            kind=kind,
            at=at,
            source=channel,
            properties=properties,
        )
        touchpoint = recorded.touchpoint
        # Other apps' reactions (crm/events.py), in the same transaction as the touchpoint.
        event_handlers_run(
            RecordedEvent(
                touchpoint_id=touchpoint.pk,
                member_id=touchpoint.member_id,
                channel=channel,
                kind=kind,
                at=at,
                properties=touchpoint.properties,
            )
        )
    return recorded


def channel_check(*, api_key: ApiKey, channel: str) -> None:
    """Raises ChannelNotAllowed unless `channel` is the one the key may write."""
    if channel != api_key.channel:
        raise ChannelNotAllowed(str(ERROR_CHANNEL % {"own": api_key.channel, "channel": channel}))


def identifiers_parse(
    raw: Mapping[str, str], *, errors: list[tuple[Loc, str]] | None = None
) -> NormalizedIdentifiers:
    """Normal forms of raw identifiers by kind (member_no among them).

    Raises InputError for any value that is no identifier of its kind, masked, too long once
    normalised, or the number of an erased member, together with `errors` found earlier in the
    body, so one answer lists every problem.
    """
    errors = list(errors or [])
    try:
        normalized = identifiers_normalize(raw)
    except normalize.InvalidIdentifier as exc:  # a member number that normalises to nothing
        normalized = NormalizedIdentifiers()
        errors.append((("identifiers", "member_no"), str(ERROR_IDENTIFIER % {"reason": exc})))
    for kind, value, reason in normalized.skipped:
        errors.append((("identifiers", kind), _skip_message(kind, value, reason)))
    for identifier in normalized.identifiers:
        if len(identifier.value) > IDENTIFIER_MAX:
            errors.append(
                (("identifiers", identifier.kind), str(ERROR_TOO_LONG % {"max": IDENTIFIER_MAX}))
            )
    if len(normalized.member_no) > MEMBER_NO_MAX:
        errors.append((("identifiers", "member_no"), str(ERROR_TOO_LONG % {"max": MEMBER_NO_MAX})))
    elif normalized.member_no:
        member = member_survivor(member_no=normalized.member_no)
        # member_resolve would attach the new identifiers to the erased tombstone.
        if member is not None and member.status == Member.Status.ERASED:
            errors.append((("identifiers", "member_no"), str(ERROR_ERASED)))
    if errors:
        raise InputError(errors)
    return normalized


def _skip_message(kind: str, value: str, reason: str) -> str:
    try:
        NORMALIZERS[kind](value)
    except normalize.MaskedIdentifier:
        return str(ERROR_MASKED)
    except normalize.InvalidIdentifier:
        pass
    return str(ERROR_IDENTIFIER % {"reason": reason})
