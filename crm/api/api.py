"""The ingest API, /api/v1/: the brand's systems send members, orders, returns and events.

Every call carries `Authorization: Bearer <key>` (an ApiKey, one per source system and channel).
A write may carry an `Idempotency-Key`: sent again with the same body within 24 hours, it gets
the first answer back and writes nothing. Errors answer {"detail": "why"} or, for input,
{"detail": [{"loc": ["body", "amount_twd"], "msg": "why", "type": "…"}]}.
"""

import json
import math
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern
from ninja import Header, NinjaAPI, Status, Swagger
from ninja.errors import AuthenticationError, ValidationError
from ninja.parser import Parser

from crm.api.auth import ApiKeyAuth, PayloadTooLarge, RateLimited
from crm.api.schemas import (
    IDEMPOTENCY_KEY_MAX,
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
)
from crm.services import Resolution, ingest
from crm.services.api_keys import (
    IdempotencyKeyReused,
    StoredResponse,
    idempotency_begin,
    idempotency_complete,
    idempotency_request_hash,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
BODY_PARAM = "payload"  # every operation names its body so; error locations leave it out

ERROR_BODY_NOT_OBJECT = "the body must be a JSON object"
ERROR_NOT_FINITE = "numbers must be finite"


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{ERROR_NOT_FINITE} ({name})")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses to inf, which JSON storage cannot hold
        raise ValueError(ERROR_NOT_FINITE)
    return value


def _parse_json(body: bytes) -> Any:
    return json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)


class IngestParser(Parser):
    """JSON objects only; NaN, Infinity and overflowing numbers are refused (a 400)."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = _parse_json(request.body)
        if not isinstance(data, dict):
            raise ValueError(ERROR_BODY_NOT_OBJECT)
        return data


class IngestAPI(NinjaAPI):
    def _get_urls(self) -> list:
        urls = super()._get_urls()
        for url in urls:
            # Callers are systems with API keys (or people reading the docs), not logged-in
            # users: LoginRequiredMiddleware must let every URL of the API through.
            if isinstance(url, URLPattern):
                login_not_required(url.callback)
        return urls


api = IngestAPI(
    title="Omnichannel ingest API",
    version="1",
    description=__doc__ or "",
    urls_namespace="api-v1",
    auth=ApiKeyAuth(),
    parser=IngestParser(),
    # Swagger UI from ninja's static files ("ninja" in INSTALLED_APPS), never a CDN; and no
    # validator badge, which would fetch the document from validator.swagger.io.
    docs=Swagger(settings={"validatorUrl": None}),
)

ERRORS = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    413: ErrorOut,
    422: ErrorOut,
    429: ErrorOut,
}

IdempotencyKeyParam: Any = Header(
    None,
    alias=IDEMPOTENCY_HEADER,
    min_length=1,
    max_length=IDEMPOTENCY_KEY_MAX,
    pattern=r"^[!-~]+$",
    description="Any unique printable ASCII string (a UUID). A retry with the same key and "
    "body within 24 hours gets the first answer back and writes nothing.",
)


# --- Operations --------------------------------------------------------------------------------


@api.post(
    "/members",
    response={200: MemberOut, 201: MemberOut, **ERRORS},
    summary="Create or update a member",
    description="Resolves the identifiers to one member (new, or existing ones merged), fills "
    "its blank profile fields and records the consent decisions. 201 when a member was made.",
    tags=["members"],
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
            ),
            consents=payload.consents.model_dump(exclude_none=True),
        )
        out = MemberOut(
            member_no=resolution.member.member_no,
            created=resolution.created,
            merged=_merged(resolution),
        )
        return (201 if resolution.created else 200), out.model_dump(mode="json")

    return _idempotent(request, idempotency_key, write)


@api.post(
    "/orders",
    response={200: OrderOut, 201: OrderOut, **ERRORS},
    summary="Record a sale",
    description="Inserts the order, or updates the one with the same channel and number. With "
    "identifiers it lands on their member; without, it is an anonymous sale. 201 when new.",
    tags=["orders"],
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

    return _idempotent(request, idempotency_key, write)


@api.post(
    "/returns",
    response={200: ReturnOut, 201: ReturnOut, **ERRORS},
    summary="Record a return",
    description="A return is its own order with a negative amount naming its sale; it is "
    "linked whichever arrives first, and a sale returned in full is marked returned.",
    tags=["orders"],
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

    return _idempotent(request, idempotency_key, write)


@api.post(
    "/events",
    response={201: EventOut, **ERRORS},
    summary="Record a touchpoint",
    description="Something the person did on the key's channel: store_visit, page_view, "
    "line_follow, line_block, app_open, …",
    tags=["events"],
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

    return _idempotent(request, idempotency_key, write)


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


def _idempotent(
    request: HttpRequest, key: str | None, write: Callable[[], tuple[int, dict]]
) -> HttpResponse | Status:
    """Run `write` in one transaction with the Idempotency-Key claim, or replay its answer."""
    with transaction.atomic():
        record = None
        if key is not None:
            request_hash = idempotency_request_hash(
                method=request.method or "", path=request.path, data=_parse_json(request.body)
            )
            claimed = idempotency_begin(api_key=request.auth, key=key, request_hash=request_hash)
            if isinstance(claimed, StoredResponse):
                response = api.create_response(request, claimed.body, status=claimed.status_code)
                response[REPLAYED_HEADER] = "true"
                return response
            record = claimed
        status, body = write()
        if record is not None:
            idempotency_complete(record=record, status_code=status, body=body)
    return Status(status, body)


# --- Errors ------------------------------------------------------------------------------------


def _field_error(loc: list, msg: str, type_: str) -> dict:
    return {"loc": loc, "msg": msg, "type": type_}


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    detail = []
    for error in exc.errors:
        loc = list(error.get("loc", ()))
        if len(loc) > 1 and loc[0] == "body" and loc[1] == BODY_PARAM:
            del loc[1]
        detail.append(_field_error(loc, str(error.get("msg", "")), str(error.get("type", ""))))
    return api.create_response(request, {"detail": detail}, status=422)


@api.exception_handler(ingest.InputError)
def _input_error(request: HttpRequest, exc: ingest.InputError) -> HttpResponse:
    detail = [_field_error(["body", *loc], msg, "value_error") for loc, msg in exc.errors]
    return api.create_response(request, {"detail": detail}, status=422)


@api.exception_handler(IdempotencyKeyReused)
def _idempotency_reused(request: HttpRequest, exc: IdempotencyKeyReused) -> HttpResponse:
    detail = [_field_error(["header", IDEMPOTENCY_HEADER], str(exc), "idempotency_key_reused")]
    return api.create_response(request, {"detail": detail}, status=422)


@api.exception_handler(ingest.ChannelNotAllowed)
def _channel_not_allowed(request: HttpRequest, exc: ingest.ChannelNotAllowed) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=403)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = api.create_response(request, {"detail": str(exc)}, status=401)
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(PayloadTooLarge)
def _too_large(request: HttpRequest, exc: PayloadTooLarge) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=413)


@api.exception_handler(RateLimited)
def _rate_limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    response = api.create_response(request, {"detail": str(exc)}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response
