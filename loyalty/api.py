"""loyalty's operations on the project's API (/api/v1/): points as money at the till.

Each operation maps its body to one loyalty service or selector call and its refusals to 4xx
(the API object, keys, scopes, idempotency and error shapes are omnichannel/api/core.py's).
Every one needs the `points` scope. The till names a member by member number or by any
identifier in any spelling (crm's search rule, loyalty.selectors_till.member_for_till).

Status codes, the same for every refusal of its kind:
- 404: the member, hold or coupon named does not exist (reason member_unknown, hold_unknown,
  coupon_unknown);
- 409: the request is well formed but the state of the points, the hold or the coupon refuses
  it (insufficient_points, over_order_share, hold_expired, hold_released, hold_committed,
  hold_committed_other_order, member_ambiguous, coupon_used, coupon_expired, coupon_void);
  a retry may succeed once the state changes (points earned, a hold released), which a 422 (a
  body that can never succeed as sent) would not say;
- 422: a body or parameter that breaks the schema (ninja's shape, as elsewhere in /api/v1).
A refusal answers {"detail": "why, translated", "reason": "a stable code"}.

Answers carry the member number and figures, never a member's personal data.
"""

import json
from datetime import date, datetime
from typing import Annotated

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Path, Router, Schema, Status
from ninja.responses import NinjaJSONEncoder
from pydantic import ConfigDict, Field

from crm.api.schemas import IDENTIFIER_MAX, ErrorOut, ExternalNo, StoreCode, WholeTwd, text_field
from crm.models import Store
from loyalty.models import Coupon, PointsHold, Programme
from loyalty.selectors import points_available
from loyalty.selectors_till import (
    MemberNotFound,
    TillPoints,
    account_of,
    member_for_till,
    till_points,
)
from loyalty.services.coupons import CouponRefused, coupon_use
from loyalty.services.till import (
    Committed,
    TillRefused,
    hold_commit,
    hold_create,
    hold_release,
    points_quote,
)
from omnichannel.api.auth import ApiKeyAuth
from omnichannel.api.core import IdempotencyKeyParam, api, field_error, idempotent
from omnichannel.api.scopes import Scope
from omnichannel.channels import SalesChannel

router = Router(tags=["points"])

POINTS = ApiKeyAuth(Scope.POINTS)
AMOUNT_MAX = 2**31 - 1
ID_MAX = 2**63 - 1

ERROR_STORE_UNKNOWN = _("No store has the code %(code)s.")

ERRORS = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    413: ErrorOut,
    422: ErrorOut,
    429: ErrorOut,
}


class RefusalOut(Schema):
    detail: str = Field(description="Why, in the caller's language (Accept-Language).")
    reason: str = Field(
        description="A stable code: member_unknown, member_ambiguous, insufficient_points, "
        "over_order_share, hold_unknown, hold_expired, hold_released, hold_committed, "
        "hold_committed_other_order, coupon_unknown, coupon_used, coupon_expired, coupon_void."
    )


REFUSALS = {404: RefusalOut, 409: RefusalOut}

# A member number or identifier in a path: anything but "/" and control characters, with at
# least one character that is no dot or space (so "." and ".." are no path segments). An
# e-invoice mobile carrier starts with "/": name such a member by number, or in a body (quote,
# holds).
MemberPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=IDENTIFIER_MAX,
        pattern=r"^[^/\x00-\x1f\x7f]*[^/\x00-\x1f\x7f.\s][^/\x00-\x1f\x7f]*$",
        description="The member number (M000123) or any identifier in any spelling: a phone "
        "as typed at the till (0912-345-678), an email, a member card. URL-encode it.",
    ),
]
HoldId = Annotated[int, Path(ge=1, le=ID_MAX)]
MemberText = Annotated[
    text_field(IDENTIFIER_MAX, min_length=1),
    Field(
        description="The member number or any identifier in any spelling (0912-345-678).",
        examples=["0912-345-678"],
    ),
]


class StoreUnknown(Exception):
    def __init__(self, code: str):
        self.code = code
        super().__init__(str(ERROR_STORE_UNKNOWN % {"code": code}))


class _In(Schema):
    model_config = ConfigDict(extra="forbid")


# --- Bodies ------------------------------------------------------------------------------------


class TierOut(Schema):
    name: str
    rank: int = Field(description="0 is the entry tier.")


class NextTierOut(TierOut):
    threshold_twd: int = Field(description="12-month net spend that reaches it.")
    spend_needed_twd: int = Field(description="NT$ of net spend still missing.")


class ExpiringOut(Schema):
    on: date = Field(description="The day (Asia/Taipei) these points expire unless spent.")
    points: int


class PointsOut(Schema):
    member_no: str
    balance: int = Field(description="Points on the account (the ledger's sum).")
    held: int = Field(description="Points reserved by open holds at tills.")
    available: int = Field(description="balance − held: what a quote or a hold may use.")
    point_value_twd: int = Field(description="NT$ one point pays.")
    tier: TierOut | None
    next_tier: NextTierOut | None
    spend_12m_twd: int = Field(description="Net spend of the last 12 months (the tier basis).")
    expiring_30d: int = Field(description="Points expiring in the next 30 days.")
    expiring: list[ExpiringOut] = Field(description="Those points by the day they expire.")


class QuoteIn(_In):
    member: MemberText
    order_amount_twd: WholeTwd = Field(ge=0, le=AMOUNT_MAX, description="The order's total.")
    points: int | None = Field(
        None, ge=1, le=AMOUNT_MAX, description="Points the member asks to use; none: the most."
    )


class QuoteOut(Schema):
    member_no: str
    order_amount_twd: int
    available: int = Field(description="The member's available points.")
    max_points: int = Field(description="The most this order may use.")
    points: int = Field(description="Points used: those asked for (at most max_points).")
    discount_twd: int = Field(description="What the points pay, NT$.")
    pay_twd: int = Field(description="What is left to pay, NT$.")


class HoldIn(_In):
    member: MemberText
    order_amount_twd: WholeTwd = Field(ge=1, le=AMOUNT_MAX, description="The sale's total.")
    points: int | None = Field(
        None,
        ge=1,
        le=AMOUNT_MAX,
        description="Points to reserve; none: the most the order may use (see /points/quote).",
    )
    channel: SalesChannel | None = Field(
        None, description="Where the sale happens; none: the API key's channel."
    )
    store_code: StoreCode = Field("", description="The store of the till, if a store.")


class CommitIn(_In):
    order_no: ExternalNo = Field(description="The sale's order number: the points pay for it.")


class RedeemedOut(Schema):
    entry_id: int
    points: int = Field(description="Negative: points taken from the account.")
    balance_after: int


class HoldOut(Schema):
    id: int
    member_no: str
    status: PointsHold.Status
    points: int
    discount_twd: int
    order_amount_twd: int | None
    channel: str
    order_no: str = Field(description="The order it was committed to (committed holds).")
    expires_at: datetime = Field(description="Uncommitted, it gives the points back then.")
    created_at: datetime
    closed_at: datetime | None
    available: int = Field(description="The member's available points after this call.")
    redeemed: RedeemedOut | None = Field(description="The ledger entry of a committed hold.")


class CouponRedeemIn(_In):
    order_no: text_field(64) = Field("", description="The sale the coupon is used on.")
    store_code: StoreCode = Field("", description="The store of the till, if a store.")


class RewardOut(Schema):
    id: int
    name: str


class CouponOut(Schema):
    code: str
    status: Coupon.Status
    reward: RewardOut
    discount_twd: int = Field(description="NT$ off at the till; 0: a gift, not money off.")
    member_no: str
    used_at: datetime | None
    order_no: str
    expires_at: datetime


# --- Answers -----------------------------------------------------------------------------------


def _answer(out: Schema) -> dict:
    """The answer as the API renders it (times to the millisecond, "Z"), so an answer replayed
    for an Idempotency-Key is the same text as the first."""
    return json.loads(json.dumps(out, cls=NinjaJSONEncoder))


def _points_out(points: TillPoints, *, programme: Programme) -> dict:
    tier, following = points.tier, points.next_tier
    return _answer(
        PointsOut(
            member_no=points.member_no,
            balance=points.balance,
            held=points.held,
            available=points.available,
            point_value_twd=programme.point_value_twd,
            tier=TierOut(name=tier.name, rank=tier.rank) if tier else None,
            next_tier=NextTierOut(
                name=following.name,
                rank=following.rank,
                threshold_twd=following.threshold_twd,
                spend_needed_twd=points.spend_to_next_tier_twd or 0,
            )
            if following
            else None,
            spend_12m_twd=points.spend_12m_twd,
            expiring_30d=points.expiring_total,
            expiring=[ExpiringOut(on=item.on, points=item.points) for item in points.expiring],
        )
    )


def _hold_out(
    hold: PointsHold, *, committed: Committed | None = None, available: int | None = None
) -> dict:
    """The hold's answer; `hold.account.member` loaded. `available`: the member's available
    points when the caller knows them (read under the account's lock); else one query."""
    if available is None:
        available = points_available(account=hold.account, now=timezone.now())
    return _answer(
        HoldOut(
            id=hold.pk,
            member_no=hold.account.member.member_no,
            status=hold.status,
            points=hold.points,
            discount_twd=hold.discount_twd,
            order_amount_twd=hold.order_amount_twd,
            channel=hold.channel,
            order_no=hold.order_no,
            expires_at=hold.expires_at,
            created_at=hold.created_at,
            closed_at=hold.closed_at,
            available=available,
            redeemed=RedeemedOut(
                entry_id=committed.entry.pk,
                points=committed.entry.points,
                balance_after=committed.entry.balance_after,
            )
            if committed
            else None,
        )
    )


def _store_id(code: str) -> int | None:
    if not code:
        return None
    store_id = Store.objects.filter(code=code).values_list("pk", flat=True).first()
    if store_id is None:
        raise StoreUnknown(code)
    return store_id


# --- Operations --------------------------------------------------------------------------------


@router.get(
    "/members/{member}/points",
    response={200: PointsOut, **REFUSALS, **ERRORS},
    summary="A member's points",
    description="Balance, points held at tills, available points, tier and the next one, and "
    "the points expiring in the next 30 days by day. 404 when no member answers to the "
    "number or identifier.",
    auth=POINTS,
)
def member_points(request: HttpRequest, member: MemberPath):
    found = member_for_till(term=member)
    return Status(200, _points_out(till_points(member=found), programme=Programme.current()))


@router.post(
    "/points/quote",
    response={200: QuoteOut, **REFUSALS, **ERRORS},
    summary="How many points an order may use",
    description="The most points an order of NT$X may use (the programme's share of an order "
    "points may pay, and the member's available points) and the discount they give. Writes "
    "nothing.",
    auth=POINTS,
)
def points_quote_post(request: HttpRequest, payload: QuoteIn):
    member = member_for_till(term=payload.member)
    account = account_of(member)
    available = points_available(account=account, now=timezone.now())
    quote = points_quote(
        order_amount_twd=payload.order_amount_twd,
        available=available,
        programme=Programme.current(),
        wanted=payload.points,
    )
    return Status(
        200,
        _answer(
            QuoteOut(
                member_no=member.member_no,
                order_amount_twd=quote.order_amount_twd,
                available=quote.available,
                max_points=quote.max_points,
                points=quote.points,
                discount_twd=quote.discount_twd,
                pay_twd=quote.pay_twd,
            )
        ),
    )


@router.post(
    "/points/holds",
    response={201: HoldOut, **REFUSALS, **ERRORS},
    summary="Hold points for a sale in progress",
    description="Reserves points (none given: the most the order may use) until the hold is "
    "committed with the order number or released; left alone it expires after "
    "LOYALTY_HOLD_MINUTES (15). 409 insufficient_points or over_order_share.",
    auth=POINTS,
)
def points_hold_create(
    request: HttpRequest, payload: HoldIn, idempotency_key: str | None = IdempotencyKeyParam
):
    def write() -> tuple[int, dict]:
        member = member_for_till(term=payload.member)
        account = account_of(member)
        if account is None:
            raise TillRefused("insufficient_points", available=0, wanted=payload.points or 1)
        channel = payload.channel or request.auth.channel
        if channel not in SalesChannel.values:
            channel = SalesChannel.STORE
        hold = hold_create(
            account_id=account.pk,
            order_amount_twd=payload.order_amount_twd,
            points=payload.points,
            channel=channel,
            store_id=_store_id(payload.store_code),
            api_key_id=request.auth.pk,
        )
        hold.account.member = member  # the locked account, as fresh as it gets
        return 201, _hold_out(hold, available=hold.available_after)

    return idempotent(request, idempotency_key, write)


@router.post(
    "/points/holds/{hold_id}/commit",
    response={200: HoldOut, **REFUSALS, **ERRORS},
    summary="Spend held points on an order",
    description="The held points are redeemed on the order (one ledger entry). Committing "
    "again with the same order number answers the same entry; with another, 409 "
    "hold_committed_other_order. 409 hold_expired (even before the sweep has marked it), "
    "hold_released.",
    auth=POINTS,
)
def points_hold_commit(
    request: HttpRequest,
    hold_id: HoldId,
    payload: CommitIn,
    idempotency_key: str | None = IdempotencyKeyParam,
):
    def write() -> tuple[int, dict]:
        # The hold as the commit left it, its account (and member) read under the lock.
        committed = hold_commit(
            hold_id=hold_id, order_no=payload.order_no, api_key_id=request.auth.pk
        )
        return 200, _hold_out(committed.hold, committed=committed)

    return idempotent(request, idempotency_key, write)


@router.post(
    "/points/holds/{hold_id}/release",
    response={200: HoldOut, **REFUSALS, **ERRORS},
    summary="Give held points back",
    description="The sale was abandoned or paid otherwise. Releasing again, or a hold that "
    "expired, answers the hold as it is; 409 hold_committed once it paid for an order.",
    auth=POINTS,
)
def points_hold_release(
    request: HttpRequest, hold_id: HoldId, idempotency_key: str | None = IdempotencyKeyParam
):
    def write() -> tuple[int, dict]:
        return 200, _hold_out(hold_release(hold_id=hold_id, api_key_id=request.auth.pk))

    return idempotent(request, idempotency_key, write)


@router.post(
    "/coupons/{code}/redeem",
    response={200: CouponOut, **REFUSALS, **ERRORS},
    summary="Use a coupon at the till",
    description="Marks the coupon used (once) and answers its reward and value. The code may "
    "be typed with spaces or dashes, in any case. 404 coupon_unknown; 409 coupon_used, "
    "coupon_expired, coupon_void.",
    auth=POINTS,
)
def coupon_redeem(
    request: HttpRequest,
    code: Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z -]+$")],
    payload: CouponRedeemIn,
    idempotency_key: str | None = IdempotencyKeyParam,
):
    def write() -> tuple[int, dict]:
        coupon = coupon_use(
            code=code,
            via=Coupon.UsedVia.TILL,
            order_no=payload.order_no,
            store_id=_store_id(payload.store_code),
        )
        return 200, _answer(
            CouponOut(
                code=coupon.code,
                status=coupon.status,
                reward=RewardOut(id=coupon.reward.pk, name=coupon.reward.name),
                discount_twd=coupon.reward.discount_twd,
                member_no=coupon.account.member.member_no,
                used_at=coupon.used_at,
                order_no=coupon.used_order_no,
                expires_at=coupon.expires_at,
            )
        )

    return idempotent(request, idempotency_key, write)


# --- loyalty's errors ---------------------------------------------------------------------------

NOT_FOUND_REASONS = {"member_unknown", "hold_unknown", "coupon_unknown"}


def _refusal(request: HttpRequest, exc: Exception) -> HttpResponse:
    reason = exc.reason
    if isinstance(exc, CouponRefused):
        reason = f"coupon_{reason}"
    status = 404 if reason in NOT_FOUND_REASONS else 409
    return api.create_response(request, {"detail": str(exc), "reason": reason}, status=status)


def _store_unknown(request: HttpRequest, exc: StoreUnknown) -> HttpResponse:
    detail = [field_error(["body", "store_code"], str(exc), "store_unknown")]
    return api.create_response(request, {"detail": detail}, status=422)


for _refused in (TillRefused, MemberNotFound, CouponRefused):
    api.add_exception_handler(_refused, _refusal)
api.add_exception_handler(StoreUnknown, _store_unknown)
