"""The API object every app's router hangs on, /api/v1/ (see omnichannel/api/__init__.py).

The API's description (the OpenAPI document's) follows in DESCRIPTION.
"""

import json
import math
from collections.abc import Callable
from importlib import import_module
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern
from ninja import Header, NinjaAPI, Status, Swagger
from ninja.errors import AuthenticationError, ValidationError
from ninja.parser import Parser

from crm.services.api_keys import (
    IdempotencyKeyReused,
    StoredResponse,
    idempotency_begin,
    idempotency_complete,
    idempotency_request_hash,
)
from omnichannel.api.auth import ApiKeyAuth, PayloadTooLarge, RateLimited

# The OpenAPI document's description (unchanged since the API lived in crm).
DESCRIPTION = (
    "The ingest API, /api/v1/: the brand's systems send members, orders, returns and events.\n"
    "\n"
    "Every call carries `Authorization: Bearer <key>` (an ApiKey, one per source system and "
    "channel).\n"
    "Each key holds scopes: `ingest` (members, orders, returns, events), `campaigns` (segments, "
    "campaigns), `read` (segments and campaign status only) and `points` (the till: members' "
    "points, holds, coupons); a key without the operation's "
    "scope gets a 403 saying which scope it lacks.\n"
    "A write may carry an `Idempotency-Key`: sent again with the same body within 24 hours, it "
    "gets\n"
    'the first answer back and writes nothing. Errors answer {"detail": "why"} or, for '
    "input,\n"
    '{"detail": [{"loc": ["body", "amount_twd"], "msg": "why", "type": "…"}]}.\n'
)

# Each app's router, added under the API's root; a later app appends its own line.
API_ROUTERS = (
    ("", "crm.api.api.router"),
    ("", "campaigns.api_push.router"),
    ("", "campaigns.api.router"),
    ("", "loyalty.api.router"),
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 255
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


class OmnichannelAPI(NinjaAPI):
    def _get_urls(self) -> list:
        urls = super()._get_urls()
        for url in urls:
            # Callers are systems with API keys (or people reading the docs), not logged-in
            # users: LoginRequiredMiddleware must let every URL of the API through.
            if isinstance(url, URLPattern):
                login_not_required(url.callback)
        return urls


api = OmnichannelAPI(
    title="Omnichannel ingest API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api-v1",
    # No scope: an operation that does not name its own (auth=ApiKeyAuth(Scope.…)) is open to
    # no key, rather than to every key.
    auth=ApiKeyAuth(),
    parser=IngestParser(),
    # Swagger UI from ninja's static files ("ninja" in INSTALLED_APPS), never a CDN; and no
    # validator badge, which would fetch the document from validator.swagger.io.
    docs=Swagger(settings={"validatorUrl": None}),
)


_installed: set[str] = set()


def api_routers_install() -> None:
    """Add every app's router, once (ninja refuses a router added twice)."""
    for prefix, path in API_ROUTERS:
        if path in _installed:
            continue
        module_path, _, name = path.rpartition(".")
        api.add_router(prefix, getattr(import_module(module_path), name))
        _installed.add(path)


IdempotencyKeyParam: Any = Header(
    None,
    alias=IDEMPOTENCY_HEADER,
    min_length=1,
    max_length=IDEMPOTENCY_KEY_MAX,
    pattern=r"^[!-~]+$",
    description="Any unique printable ASCII string (a UUID). A retry with the same key and "
    "body within 24 hours gets the first answer back and writes nothing.",
)


def idempotent(
    request: HttpRequest, key: str | None, write: Callable[[], tuple[int, dict]]
) -> HttpResponse | Status:
    """Run `write` in one transaction with the Idempotency-Key claim, or replay its answer."""
    with transaction.atomic():
        record = None
        if key is not None:
            # A body-less write (a launch) is fingerprinted by its method and path alone; one
            # sent a body anyway (ninja never parsed it) by that body's text.
            try:
                data = _parse_json(request.body) if request.body else None
            except ValueError:
                data = request.body.decode("utf-8", "replace")
            request_hash = idempotency_request_hash(
                method=request.method or "", path=request.path, data=data
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


def field_error(loc: list, msg: str, type_: str) -> dict:
    return {"loc": loc, "msg": msg, "type": type_}


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    detail = []
    for error in exc.errors:
        loc = list(error.get("loc", ()))
        if len(loc) > 1 and loc[0] == "body" and loc[1] == BODY_PARAM:
            del loc[1]
        detail.append(field_error(loc, str(error.get("msg", "")), str(error.get("type", ""))))
    return api.create_response(request, {"detail": detail}, status=422)


@api.exception_handler(IdempotencyKeyReused)
def _idempotency_reused(request: HttpRequest, exc: IdempotencyKeyReused) -> HttpResponse:
    detail = [field_error(["header", IDEMPOTENCY_HEADER], str(exc), "idempotency_key_reused")]
    return api.create_response(request, {"detail": detail}, status=422)


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


def api_error(exc_class: type[Exception], status: int, detail: Callable[[Exception], Any]):
    """Map an app's own exception to `status` with {"detail": detail(exc)} (an app's router
    module calls it for the errors of its services)."""

    def handler(request: HttpRequest, exc: Exception) -> HttpResponse:
        return api.create_response(request, {"detail": detail(exc)}, status=status)

    api.add_exception_handler(exc_class, handler)
