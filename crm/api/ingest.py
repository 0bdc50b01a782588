"""What one ingest API call writes: identifiers normalised, the member resolved, the row written.

Each function is the whole of one call and runs inside the caller's transaction (api.py opens it
together with the Idempotency-Key record). They call the crm services and add only what an API
caller needs on top: input that passed the schema but cannot be used raises InputError naming the
field; a key writing another channel than its own raises ChannelNotAllowed.
"""

from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm import normalize
from crm.api.schemas import (
    IDENTIFIER_MAX,
    MEMBER_NO_MAX,
    EventIn,
    IdentifiersIn,
    MemberIn,
    OrderIn,
    ReturnIn,
)
from crm.models import ApiKey, Member, Order
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
from omnichannel.channels import SALES_CHANNELS, Channel

Loc = tuple[str | int, ...]

ERROR_CHANNEL = _("This API key writes channel %(own)s; it may not write channel %(channel)s.")
ERROR_IDENTIFIER = _("Not a valid identifier of this kind (%(reason)s).")
ERROR_MASKED = _("A masked value is no identifier; leave the field out.")
ERROR_TOO_LONG = _("Longer than %(max)s characters once normalised.")
ERROR_ERASED = _("This member's personal data was erased; the number cannot be used again.")
ERROR_NO_PERSON_MEMBER = _("Give at least one identifier or the member number.")
ERROR_STORE_REQUIRED = _("Required for channel store.")
ERROR_IS_A_SALE = _("%(no)s is a sale in channel %(channel)s, not a return.")
ERROR_IS_A_RETURN = _("%(no)s is a return in channel %(channel)s; send it to /returns.")
ERROR_OTHER_SALE = _("This return was recorded for sale %(sale)s.")
ERROR_RETURNS_ITSELF = _("A return cannot name itself as its sale.")


class InputError(ValueError):
    """Input the schema accepted but that cannot be used: (location under the body, message)."""

    def __init__(self, errors: list[tuple[Loc, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in errors))


class ChannelNotAllowed(PermissionError):
    pass


@dataclass
class OrderWritten:
    order: Order
    created: bool
    resolution: Resolution | None

    @property
    def sale_linked(self) -> bool:
        return self.order.returns_order_id is not None


def member_upsert(*, body: MemberIn, api_key: ApiKey) -> Resolution:
    """The member of these identifiers, created or merged as needed, profile blanks filled and
    consent decisions recorded. Raises InputError."""
    identifiers = identifiers_parse(body.identifiers)
    if not identifiers.identifiers and not identifiers.member_no:
        raise InputError([(("identifiers",), str(ERROR_NO_PERSON_MEMBER))])
    profile = body.profile
    resolution = member_resolve(
        identifiers=identifiers.identifiers,
        member_no=identifiers.member_no,
        source=api_key.channel,
        profile=MemberProfile(
            name=profile.name or "",
            birthday=profile.birthday,
            gender=profile.gender.value if profile.gender else "",
            acquisition_channel=api_key.channel if api_key.channel in SALES_CHANNELS else "",
            joined_at=profile.joined_at,
        ),
    )
    decisions = [
        (resolution.member.pk, channel, opted_in)
        for channel, opted_in in body.consents.model_dump(exclude_none=True).items()
    ]
    if decisions:
        consents_record_batch(decisions=decisions, source=f"api:{api_key.name}", at=timezone.now())
    return resolution


def order_write(*, body: OrderIn | ReturnIn, api_key: ApiKey) -> OrderWritten:
    """A sale (OrderIn) or a return (ReturnIn) inserted or updated, on the member its identifiers
    resolve to, or anonymous without identifiers. Raises ChannelNotAllowed or InputError."""
    channel = body.channel.value
    channel_check(api_key=api_key, channel=channel)
    is_return = isinstance(body, ReturnIn)
    returns_external_no = body.returns_external_no if is_return else ""
    errors: list[tuple[Loc, str]] = []
    if channel == Channel.STORE and not body.store_code:
        errors.append((("store_code",), str(ERROR_STORE_REQUIRED)))
    if is_return and returns_external_no == body.external_no:
        errors.append((("returns_external_no",), str(ERROR_RETURNS_ITSELF)))
    # The upsert overwrites amounts by number: a sale must not be overwritten by a return or a
    # return by a sale, and a return keeps the sale it was first recorded for.
    existing = (
        Order.objects.filter(channel=channel, external_no=body.external_no)
        .values_list("returns_external_no", flat=True)
        .first()
    )
    params = {"no": body.external_no, "channel": channel}
    if existing is not None:
        if is_return and not existing:
            errors.append((("external_no",), str(ERROR_IS_A_SALE % params)))
        elif is_return and existing != returns_external_no:
            errors.append((("returns_external_no",), str(ERROR_OTHER_SALE % {"sale": existing})))
        elif not is_return and existing:
            errors.append((("external_no",), str(ERROR_IS_A_RETURN % params)))
    identifiers = identifiers_parse(body.identifiers, errors=errors)

    resolution = None
    if identifiers.identifiers or identifiers.member_no:
        resolution = member_resolve(
            identifiers=identifiers.identifiers,
            member_no=identifiers.member_no,
            source=channel,
            profile=MemberProfile(acquisition_channel=channel),
        )
    order_services.orders_upsert(
        orders=[
            order_services.OrderIn(
                channel=channel,
                external_no=body.external_no,
                amount_twd=body.amount_twd,
                placed_at=body.placed_at,
                # A return is its own negative order, so revenue nets out (as the POS import).
                status=Order.Status.PLACED if is_return else body.status.value,
                store_code=body.store_code or "",
                is_return=is_return,
                returns_external_no=returns_external_no,
            )
        ],
        member_ids=[resolution.member.pk if resolution else None],
    )
    order = Order.objects.select_related("member").get(
        channel=channel, external_no=body.external_no
    )
    # Two first calls racing may both say created; the order itself is written once.
    return OrderWritten(order=order, created=existing is None, resolution=resolution)


def event_record(*, body: EventIn, api_key: ApiKey) -> TouchpointRecorded:
    """A touchpoint on the member its identifiers resolve to. Raises ChannelNotAllowed or
    InputError."""
    channel = body.channel.value
    channel_check(api_key=api_key, channel=channel)
    identifiers = identifiers_parse(body.identifiers)
    if not identifiers.identifiers and not identifiers.member_no:
        raise InputError([(("identifiers",), str(ERROR_NO_PERSON))])
    return touchpoint_record(
        identifiers=identifiers.identifiers,
        member_no=identifiers.member_no,
        channel=channel,
        kind=body.kind,
        at=body.at,
        source=channel,
        properties=body.properties,
    )


def channel_check(*, api_key: ApiKey, channel: str) -> None:
    if channel != api_key.channel:
        raise ChannelNotAllowed(str(ERROR_CHANNEL % {"own": api_key.channel, "channel": channel}))


def identifiers_parse(
    raw: IdentifiersIn, *, errors: list[tuple[Loc, str]] | None = None
) -> NormalizedIdentifiers:
    """Normal forms of the identifiers; raises InputError for any that is no identifier (with
    `errors` found earlier in the body, so one answer lists every problem)."""
    errors = list(errors or [])
    values = raw.model_dump(exclude_none=True)
    try:
        normalized = identifiers_normalize(values)
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
