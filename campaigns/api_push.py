"""campaigns' push operations on the project's API (/api/v1/): the web shop registers and
removes a member's browser Web Push subscription.

The site's service worker subscribes (`pushManager.subscribe({applicationServerKey: <VAPID
public key>})`) and the shop's backend, holding an API key, sends the PushSubscription's JSON
with the signed-in member's number. Keys, idempotency, limits and the error shapes are
omnichannel/api/core.py's, as for crm's operations.
"""

from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import AfterValidator, ConfigDict, StringConstraints

from campaigns.models import WebPushSubscription
from campaigns.services.push_addresses import (
    WebPushSubscriptionInvalid,
    webpush_subscription_delete,
    webpush_subscription_save,
)
from crm.api.schemas import ErrorOut
from crm.models import Member
from crm.services.identity import member_survivor
from omnichannel.api.auth import ApiKeyAuth
from omnichannel.api.core import IdempotencyKeyParam, api_error, field_error, idempotent
from omnichannel.api.scopes import Scope

router = Router(tags=["push"])
# The brand's app and site register their members' devices, as they ingest their data.
INGEST = ApiKeyAuth(Scope.INGEST)

MEMBER_NO_MAX = Member._meta.get_field("member_no").max_length
ENDPOINT_MAX = WebPushSubscription._meta.get_field("endpoint").max_length
KEY_MAX = WebPushSubscription._meta.get_field("p256dh").max_length
AUTH_MAX = WebPushSubscription._meta.get_field("auth").max_length

ERROR_UNKNOWN_MEMBER = "no active member has this number"
ERROR_NUL = "must not contain NUL characters"

ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 413: ErrorOut, 422: ErrorOut, 429: ErrorOut}


class UnknownMember(Exception):
    pass


def _no_nul(value: str) -> str:
    if "\x00" in value:  # PostgreSQL text cannot hold U+0000
        raise ValueError(ERROR_NUL)
    return value


def _text(max_length: int) -> Any:
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length),
        AfterValidator(_no_nul),
    ]


class _In(Schema):
    model_config = ConfigDict(extra="forbid")


class SubscriptionKeysIn(_In):
    p256dh: _text(KEY_MAX) = Field(description="The browser's P-256 public key, base64url.")
    auth: _text(AUTH_MAX) = Field(description="The 16-byte auth secret, base64url.")


class PushSubscriptionIn(_In):
    """`PushSubscription.toJSON()` as the browser gives it."""

    endpoint: _text(ENDPOINT_MAX) = Field(
        description="The push service's URL for this browser (https).",
        examples=["https://fcm.googleapis.com/fcm/send/dXNlcjE6…"],
    )
    expirationTime: int | None = Field(None, ge=0, description="Ignored; browsers send null.")
    keys: SubscriptionKeysIn


class SubscriptionRegisterIn(_In):
    member_no: _text(MEMBER_NO_MAX) = Field(description="The signed-in member's number.")
    subscription: PushSubscriptionIn


class SubscriptionOut(Schema):
    member_no: str = Field(description="The member's number (the survivor after a merge).")
    endpoint: str
    created: bool = Field(description="False: this browser's subscription was updated.")


class SubscriptionDeletedOut(Schema):
    endpoint: str
    deleted: bool = Field(description="False: no subscription had this endpoint.")


@router.post(
    "/push/subscriptions",
    auth=INGEST,
    response={200: SubscriptionOut, 201: SubscriptionOut, **ERRORS},
    summary="Register a browser's Web Push subscription",
    description="Stores the member's browser subscription so campaigns on the push channel "
    "reach this browser; the same endpoint again updates it (201 when new). A subscription "
    "the push service later calls gone is removed when a message to it fails.",
)
def push_subscription_register(
    request: HttpRequest,
    payload: SubscriptionRegisterIn,
    idempotency_key: str | None = IdempotencyKeyParam,
):
    def write() -> tuple[int, dict]:
        member = member_survivor(member_no=payload.member_no)
        if member is None or member.status != Member.Status.ACTIVE:
            raise UnknownMember(payload.member_no)
        subscription = payload.subscription
        existed = WebPushSubscription.objects.filter(endpoint=subscription.endpoint).exists()
        webpush_subscription_save(
            member=member,
            endpoint=subscription.endpoint,
            p256dh=subscription.keys.p256dh,
            auth=subscription.keys.auth,
        )
        out = SubscriptionOut(
            member_no=member.member_no, endpoint=subscription.endpoint, created=not existed
        )
        return (200 if existed else 201), out.model_dump(mode="json")

    return idempotent(request, idempotency_key, write)


class SubscriptionDeleteQuery(Schema):
    endpoint: _text(ENDPOINT_MAX) = Field(description="The subscription's endpoint.")


@router.delete(
    "/push/subscriptions",
    auth=INGEST,
    response={200: SubscriptionDeletedOut, **ERRORS},
    summary="Remove a browser's Web Push subscription",
    description="The browser unsubscribed (or the member signed out of a shared browser). "
    "Deleting is idempotent by nature: a repeat answers deleted=false.",
)
def push_subscription_delete(request: HttpRequest, query: Query[SubscriptionDeleteQuery]):
    deleted = webpush_subscription_delete(endpoint=query.endpoint)
    return Status(200, SubscriptionDeletedOut(endpoint=query.endpoint, deleted=deleted))


# --- errors -------------------------------------------------------------------------------------

api_error(
    UnknownMember,
    422,
    lambda exc: [field_error(["body", "member_no"], ERROR_UNKNOWN_MEMBER, "value_error")],
)
api_error(
    WebPushSubscriptionInvalid,
    422,
    lambda exc: [
        field_error(["body", "subscription", *field.split(".")], reason, "value_error")
        for field, reason in exc.errors
    ],
)
