"""What the member's 360° profile shows of loyalty: the points card, in a handful of queries.

One query reads the account with its tier, the points held at tills, and the points expiring
in 30 and 60 days and ever (loyalty.expiry.expiring_by, the one first-in-first-out rule); one
the next tier; one the days the unspent credits expire on (only when some will); two the
coupons (a few, unused first, and the counts). Nothing here depends on how many entries or
coupons the member has beyond those bounded reads.

A member without a points account gets no card (crm.profile_cards: the profile shows no empty
or made-up figures); an account at 0 points is shown as it is. The card shows no personal data:
figures, the tier, reward names, and coupon codes masked (a code is as good as money at the
till, and the card is seen by roles that may not use coupons).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import quote

from django.db.models import (
    Case,
    Count,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.pii import mask_token
from loyalty.expiry import expiring_by
from loyalty.models import Coupon, PointsAccount, PointsTransaction, Tier, WalletPass
from loyalty.selectors import holds_open, tier_next

EXPIRING_SOON_DAYS = (30, 60)
CARD_COUPONS = 3
# Credits expire at most a programme's expiry months ahead: a year's days, with room to spare.
EXPIRY_DAYS_READ = 1_000


def member_points_url(member_no: str) -> str:
    """The member's full points history (/loyalty/members/<no>/points/, the loyalty pages').

    Linked by path: the page belongs to the loyalty pages, which name their own routes."""
    return f"/loyalty/members/{quote(member_no, safe='')}/points/"


@dataclass(frozen=True)
class TierProgress:
    next_tier: Tier | None  # None: the member is at the top tier
    spend_12m_twd: int
    to_go_twd: int  # NT$ of 12-month net spend still missing for the next tier
    percent: int  # 0–100, from the current tier's threshold to the next one's


@dataclass(frozen=True)
class CardCoupon:
    reward_name: str
    code_masked: str
    status: str
    status_label: str
    unused: bool
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True)
class PointsCard:
    account_id: int
    balance: int
    held: int  # reserved at tills for sales in progress
    available: int
    tier: Tier | None
    tier_since: datetime | None
    downgrade_due_at: datetime | None
    progress: TierProgress
    expiring: dict[int, int]  # days ahead -> points expiring by then
    next_expiry_on: date | None
    next_expiry_points: int
    coupons: list[CardCoupon]
    coupons_count: int
    coupons_unused: int
    history_url: str


def _open_holds() -> Subquery:
    return Subquery(
        holds_open(now=timezone.now())
        .filter(account=OuterRef("pk"))
        .values("account")
        .annotate(total=Sum("points"))
        .values("total")[:1],
        output_field=IntegerField(),
    )


def tier_progress(*, tier: Tier | None, spend_12m_twd: int) -> TierProgress:
    """How far the member's 12-month spend is from the next tier up (one query)."""
    next_tier = tier_next(tier=tier)
    if next_tier is None:
        return TierProgress(None, spend_12m_twd, 0, 100)
    floor = tier.threshold_twd if tier is not None else 0
    span = max(next_tier.threshold_twd - floor, 1)
    percent = round(100 * (spend_12m_twd - floor) / span)
    return TierProgress(
        next_tier=next_tier,
        spend_12m_twd=spend_12m_twd,
        to_go_twd=max(next_tier.threshold_twd - spend_12m_twd, 0),
        percent=min(max(percent, 0), 100),
    )


def _next_expiry(account_id: int, *, today: date, expiring_ever: int) -> tuple[date | None, int]:
    """The next day some of the account's points expire, and how many.

    `expiring_ever` is expiring_by(a day past every credit): Σ dated credits + Σ debits when
    positive. Walking the credits due from today in order from what is left of that sum
    (loyalty.expiry's rule, read day by day) finds the first day the running figure turns
    positive: what expires that day. The tests check it against expiring_points.
    """
    if expiring_ever <= 0:
        return None, 0
    days = list(
        PointsTransaction.objects.filter(account_id=account_id, points__gt=0, expires_on__gte=today)
        .values("expires_on")
        .annotate(points=Sum("points"))
        .order_by("expires_on")
        .values_list("expires_on", "points")[:EXPIRY_DAYS_READ]
    )
    running = expiring_ever - sum(points for _day, points in days)  # due before today + debits
    if running > 0:  # the nightly job has not expired these yet: they are due today
        return today, running
    for day, points in days:
        running += points
        if running > 0:
            return day, running
    return None, 0


def _card_coupons(account_id: int, now: datetime) -> tuple[list[CardCoupon], int, int]:
    unused = Q(status=Coupon.Status.ISSUED, expires_at__gt=now)
    coupons = Coupon.objects.filter(account_id=account_id)
    counts = coupons.aggregate(total=Count("pk"), unused=Count("pk", filter=unused))
    if not counts["total"]:
        return [], 0, 0
    rows = (
        coupons.select_related("reward")
        .annotate(is_unused=Case(When(unused, then=Value(True)), default=Value(False)))
        .order_by("-is_unused", "-issued_at", "-pk")[:CARD_COUPONS]
    )
    return (
        [
            CardCoupon(
                reward_name=coupon.reward.name,
                code_masked=mask_token(coupon.code),
                status=coupon.status if not coupon.is_unused else Coupon.Status.ISSUED,
                # An issued coupon past its date is expired, whether or not the nightly job
                # has marked it yet.
                status_label=(
                    str(Coupon.Status.EXPIRED.label)
                    if coupon.status == Coupon.Status.ISSUED and not coupon.is_unused
                    else coupon.get_status_display()
                ),
                unused=coupon.is_unused,
                expires_at=coupon.expires_at,
                used_at=coupon.used_at,
            )
            for coupon in rows
        ],
        counts["total"],
        counts["unused"],
    )


def points_card(
    *, member_id: int, member_no: str, now: datetime | None = None
) -> PointsCard | None:
    """The member's points card, or None when the member has no points account."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    expiring = {
        f"expiring_{days}": expiring_by(today + timedelta(days=days)) for days in EXPIRING_SOON_DAYS
    }
    account = (
        PointsAccount.objects.filter(member_id=member_id)
        .select_related("tier")
        .annotate(
            held=Coalesce(_open_holds(), Value(0)),
            expiring_ever=expiring_by(date.max),
            **expiring,
        )
        .first()
    )
    if account is None:
        return None
    next_on, next_points = _next_expiry(
        account.pk, today=today, expiring_ever=account.expiring_ever
    )
    coupons, coupons_count, coupons_unused = _card_coupons(account.pk, now)
    return PointsCard(
        account_id=account.pk,
        balance=account.balance,
        held=account.held,
        available=max(account.balance - account.held, 0),
        tier=account.tier,
        tier_since=account.tier_since,
        downgrade_due_at=account.downgrade_due_at,
        progress=tier_progress(tier=account.tier, spend_12m_twd=account.spend_12m_twd),
        expiring={days: getattr(account, f"expiring_{days}") for days in EXPIRING_SOON_DAYS},
        next_expiry_on=next_on,
        next_expiry_points=next_points,
        coupons=coupons,
        coupons_count=coupons_count,
        coupons_unused=coupons_unused,
        history_url=member_points_url(member_no),
    )


def points_card_context(member) -> dict | None:
    """crm.profile_cards' context function: {"points": PointsCard}, or None for no card."""
    card = points_card(member_id=member.pk, member_no=member.member_no)
    return None if card is None else {"points": card}


# --- The wallet card on the profile --------------------------------------------------------


@dataclass(frozen=True)
class WalletStatus:
    platform: str
    label: str  # "Apple Wallet", "Google Wallet"
    state: str  # "installed", "removed", "issued" (downloaded, never added), "never"
    installed_at: datetime | None
    removed_at: datetime | None


def wallet_statuses(*, member_id: int) -> list[WalletStatus]:
    """Whether the member holds the card, per wallet: in it since when, removed when, or never
    (one query). A card issued but never added (Apple's pass downloaded and not kept, Google's
    link made and not saved) reads as never added."""
    rows = {
        row.platform: row
        for row in WalletPass.objects.filter(member_id=member_id).only(
            "platform", "installed", "installed_at", "removed_at"
        )
    }
    statuses = []
    for platform, label in WalletPass.Platform.choices:
        row = rows.get(platform)
        if row is None:
            state = "never"
        elif row.installed:
            state = "installed"
        elif row.removed_at is not None:
            state = "removed"
        else:
            state = "issued"
        statuses.append(
            WalletStatus(
                platform=platform,
                label=str(label),
                state=state,
                installed_at=row.installed_at if row else None,
                removed_at=row.removed_at if row else None,
            )
        )
    return statuses


def wallet_card_context(member) -> dict | None:
    """crm.profile_cards' context function: every active member has the card (both wallets may
    read never); the add-to-wallet link and its QR code are drawn by the template, for roles
    with crm.unmask_personal_data only. An erased member's profile shows no card."""
    if member.status != member.Status.ACTIVE:
        return None
    return {"wallets": wallet_statuses(member_id=member.pk)}
