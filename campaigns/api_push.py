"""campaigns' push operations on the project's API (/api/v1/): the web shop registers and
removes a member's browser Web Push subscription, and the brand's app its FCM registration
token (a crm Identity of kind push_token, through crm's member_push_token_attach).

The site's service worker subscribes (`pushManager.subscribe({applicationServerKey: <VAPID
public key>})`) and the shop's backend, holding an API key, sends the PushSubscription's JSON
with the signed-in member's number. Keys, idempotency, limits and the error shapes are
omnichannel/api/core.py's, as for crm's operations.
"""

from enum import StrEnum
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import AfterValidator, ConfigDict, StringConstraints

from campaigns.models import WebPushSubscription
from campaigns.services.push_addresses import (
    WebPushSubscriptionInvalid,
    push_addresses_forget,
    webpush_subscription_delete,
    webpush_subscription_save,
)
from crm.api.schemas import ErrorOut
from crm.models import Identity, Member
from crm.services import PushTokenError, member_push_token_attach, member_survivor
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
TOKEN_MAX = Identity._meta.get_field("value").max_length

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


def _active_member(member_no: str) -> Member:
    """The member a device registers for (the survivor of a merge); UnknownMember (422) when
    there is none or they were erased."""
    member = member_survivor(member_no=member_no)
    if member is None or member.status != Member.Status.ACTIVE:
        raise UnknownMember(member_no)
    return member


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
        member = _active_member(payload.member_no)
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


# --- the app's FCM tokens -----------------------------------------------------------------------


class Platform(StrEnum):
    ANDROID = "android"
    IOS = "ios"


class TokenRegisterIn(_In):
    member_no: _text(MEMBER_NO_MAX) = Field(description="The signed-in member's number.")
    token: _text(TOKEN_MAX) = Field(
        description="The app's FCM registration token (getToken()): about 100 to 255 "
        "characters of letters, digits, '_', '-' and ':'."
    )
    platform: Platform | None = Field(
        None, description="The phone's platform; informational (FCM tokens serve both)."
    )


class TokenOut(Schema):
    member_no: str = Field(description="The member's number (the survivor after a merge).")
    token: str
    platform: Platform | None = None
    created: bool = Field(
        description="False: the member already had this token. True also when the token "
        "moved here from another member."
    )


class TokenDeletedOut(Schema):
    token: str
    deleted: bool = Field(description="False: no member had this token.")


@router.post(
    "/push/tokens",
    auth=INGEST,
    response={200: TokenOut, 201: TokenOut, **ERRORS},
    summary="Register the app's FCM token for a member",
    description="Adds the app's FCM registration token to the member (a merged number "
    "registers on its survivor), so campaigns on the push channel reach this phone; 201 when "
    "the token is new to the member, 200 when they had it already. A token another member "
    "held moves to this one: a phone changes hands or the app is reinstalled, and the newest "
    "registration wins. Registering a token is NOT consent to marketing push: a member is "
    "sent campaigns on push only with their push consent, recorded apart (members' consents). "
    "A token FCM later calls unregistered is removed when a message to it fails.",
)
def push_token_register(
    request: HttpRequest,
    payload: TokenRegisterIn,
    idempotency_key: str | None = IdempotencyKeyParam,
):
    def write() -> tuple[int, dict]:
        member = _active_member(payload.member_no)
        created = member_push_token_attach(
            member=member, token=payload.token, source=request.auth.channel
        )
        out = TokenOut(
            member_no=member.member_no,
            token=payload.token,
            platform=payload.platform,
            created=created,
        )
        return (201 if created else 200), out.model_dump(mode="json")

    return idempotent(request, idempotency_key, write)


class TokenDeleteQuery(Schema):
    # The pattern also keeps a Web Push endpoint (https://…/…) out: push_addresses_forget
    # removes subscriptions by endpoint too, which is not this operation's to do.
    token: _text(TOKEN_MAX) = Field(
        description="The FCM registration token.", pattern=r"^[A-Za-z0-9_:\-]+$"
    )


@router.delete(
    "/push/tokens",
    auth=INGEST,
    response={200: TokenDeletedOut, **ERRORS},
    summary="Remove the app's FCM token",
    description="The member signed out of the app, or it was uninstalled. Deleting is "
    "idempotent by nature: a repeat answers deleted=false. Consent is left as it was.",
)
def push_token_delete(request: HttpRequest, query: Query[TokenDeleteQuery]):
    deleted = push_addresses_forget(addresses=[query.token]) > 0
    return Status(200, TokenDeletedOut(token=query.token, deleted=deleted))


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
api_error(
    PushTokenError,
    422,
    lambda exc: [
        field_error(
            ["body", "member_no" if exc.field == "member" else exc.field], exc.reason, "value_error"
        )
    ],
)
