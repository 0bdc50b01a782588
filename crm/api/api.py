"""crm's operations on the project's API (/api/v1/): members, orders, returns, events.

Each operation maps its schema to one crm.services.ingest call and its errors to 4xx; the API
object, keys, idempotency, limits and the shared error shapes are omnichannel/api/core.py's.
"""

from django.http import HttpRequest
from ninja import Query, Router, Status

from crm.api.schemas import (
    PAGE_LIMIT_DEFAULT,
    PAGE_LIMIT_MAX,
    ErrorOut,
    EventIn,
    EventOut,
    IdentifiersIn,
    MemberIn,
    MemberOut,
    OrderIn,
    OrderOut,
    ReturnIn,
    ReturnOut,
    SegmentOut,
    SegmentsPageOut,
)
from crm.selectors import segments_count_live, segments_page
from crm.services import Resolution, ingest
from omnichannel.api.auth import ApiKeyAuth
from omnichannel.api.core import IdempotencyKeyParam, api_error, field_error, idempotent
from omnichannel.api.scopes import Scope

router = Router()

# Every operation names its scope (the API's default opens nothing).
INGEST = ApiKeyAuth(Scope.INGEST)
READ = ApiKeyAuth(Scope.CAMPAIGNS, Scope.READ)

ERRORS = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    413: ErrorOut,
    422: ErrorOut,
    429: ErrorOut,
}


# --- Operations --------------------------------------------------------------------------------


@router.post(
    "/members",
    response={200: MemberOut, 201: MemberOut, **ERRORS},
    summary="Create or update a member",
    description="Resolves the identifiers to one member (new, or existing ones merged), fills "
    "its blank profile fields and records the consent decisions. 201 when a member was made.",
    tags=["members"],
    auth=INGEST,
)
def members_upsert(
    request: HttpRequest, payload: MemberIn, idempotency_key: str | None = IdempotencyKeyParam
):
    def write() -> tuple[int, dict]:
        profile = payload.profile
        resolution = ingest.member_upsert(
            api_key=request.auth,
            identifiers=_identifiers(payload.identifiers),
            profile=ingest.ProfileInput(
                name=profile.name or "",
                birthday=profile.birthday,
                gender=profile.gender.value if profile.gender else "",
                joined_at=profile.joined_at,
                acquisition_channel=(
                    profile.acquisition_channel.value if profile.acquisition_channel else ""
                ),
            ),
            consents=payload.consents.model_dump(exclude_none=True),
        )
        out = MemberOut(
            member_no=resolution.member.member_no,
            created=resolution.created,
            merged=_merged(resolution),
        )
        return (201 if resolution.created else 200), out.model_dump(mode="json")

    return idempotent(request, idempotency_key, write)


@router.post(
    "/orders",
    response={200: OrderOut, 201: OrderOut, **ERRORS},
    summary="Record a sale",
    description="Inserts the order, or updates the one with the same channel and number. With "
    "identifiers it lands on their member; without, it is an anonymous sale. 201 when new.",
    tags=["orders"],
    auth=INGEST,
)
def orders_record(
    request: HttpRequest, payload: OrderIn, idempotency_key: str | None = IdempotencyKeyParam
):
    def write() -> tuple[int, dict]:
        written = ingest.order_record(
            api_key=request.auth,
            channel=payload.channel.value,
            external_no=payload.external_no,
            amount_twd=payload.amount_twd,
            placed_at=payload.placed_at,
            status=payload.status.value,
            store_code=payload.store_code or "",
            identifiers=_identifiers(payload.identifiers),
        )
        out = OrderOut(**_order_fields(written))
        return (201 if written.created else 200), out.model_dump(mode="json")

    return idempotent(request, idempotency_key, write)


@router.post(
    "/returns",
    response={200: ReturnOut, 201: ReturnOut, **ERRORS},
    summary="Record a return",
    description="A return is its own order with a negative amount naming its sale; it is "
    "linked whichever arrives first, and a sale returned in full is marked returned.",
    tags=["orders"],
    auth=INGEST,
)
def returns_record(
    request: HttpRequest, payload: ReturnIn, idempotency_key: str | None = IdempotencyKeyParam
):
    def write() -> tuple[int, dict]:
        written = ingest.return_record(
            api_key=request.auth,
            channel=payload.channel.value,
            external_no=payload.external_no,
            returns_external_no=payload.returns_external_no,
            amount_twd=payload.amount_twd,
            placed_at=payload.placed_at,
            store_code=payload.store_code or "",
            identifiers=_identifiers(payload.identifiers),
        )
        out = ReturnOut(**_order_fields(written), sale_linked=written.sale_linked)
        return (201 if written.created else 200), out.model_dump(mode="json")

    return idempotent(request, idempotency_key, write)


@router.post(
    "/events",
    response={201: EventOut, **ERRORS},
    summary="Record a touchpoint",
    description="Something the person did on the key's channel: store_visit, page_view, "
    "line_follow, line_block, app_open, …",
    tags=["events"],
    auth=INGEST,
)
def events_record(
    request: HttpRequest, payload: EventIn, idempotency_key: str | None = IdempotencyKeyParam
):
    def write() -> tuple[int, dict]:
        recorded = ingest.event_record(
            api_key=request.auth,
            channel=payload.channel.value,
            kind=payload.kind,
            at=payload.at,
            identifiers=_identifiers(payload.identifiers),
            properties=payload.properties,
        )
        out = EventOut(
            touchpoint_id=recorded.touchpoint.pk,
            member_no=recorded.resolution.member.member_no,
            member_created=recorded.resolution.created,
            merged=_merged(recorded.resolution),
        )
        return 201, out.model_dump(mode="json")

    return idempotent(request, idempotency_key, write)


@router.get(
    "/segments",
    response={200: SegmentsPageOut, **ERRORS},
    summary="List segments with their live counts",
    description="Saved and ready-made segments by name, each with how many active members it "
    "matches now (one count over the members for the whole page). Pages with limit and offset.",
    tags=["segments"],
    auth=READ,
)
def segments_list(
    request: HttpRequest,
    limit: int = Query(PAGE_LIMIT_DEFAULT, ge=1, le=PAGE_LIMIT_MAX),
    offset: int = Query(0, ge=0, le=2**31 - 1),
):
    segments, total = segments_page(limit=limit, offset=offset)
    counts = segments_count_live(segments)
    items = [SegmentOut(id=s.pk, name=s.name, count=counts.get(s.pk)) for s in segments]
    return Status(200, SegmentsPageOut(items=items, count=total))


def _identifiers(identifiers: IdentifiersIn) -> dict[str, str]:
    return identifiers.model_dump(exclude_none=True)


def _merged(resolution: Resolution | None) -> list[str]:
    return [log.merged.member_no for log in resolution.merges] if resolution else []


def _order_fields(written: ingest.OrderWritten) -> dict:
    order, resolution = written.order, written.resolution
    return {
        "channel": order.channel,
        "external_no": order.external_no,
        "created": written.created,
        "member_no": order.member.member_no if order.member else None,
        "member_created": resolution.created if resolution else False,
        "merged": _merged(resolution),
    }


# --- crm's errors -------------------------------------------------------------------------------

api_error(
    ingest.InputError,
    422,
    lambda exc: [field_error(["body", *loc], msg, "value_error") for loc, msg in exc.errors],
)
api_error(ingest.ChannelNotAllowed, 403, str)
