"""Reads of the till: which member a till means, and a member's points as the till shows them.

A till names a member by member number or by any identifier in any spelling (a phone typed
"0912-345-678", a card, an e-invoice carrier): crm's own search rule (crm.selectors.
member_ids_for_term_query) says which members that is; no second normaliser lives here. A merged
member's number still works and means the member it was merged into (its points moved there).
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Member
from crm.selectors import member_ids_for_term_query
from loyalty.expiry import expiring_by
from loyalty.models import PointsAccount, PointsHold, PointsTransaction, Tier
from loyalty.selectors import points_held, tier_next

EXPIRING_SOON_DAYS = 30
MERGE_HOPS_MAX = 5  # a merged member's survivor merged again, and so on


class MemberNotFound(Exception):
    """No active member, or several, answer to what the till typed: `reason` says which."""

    MESSAGES = {
        "member_unknown": _("No member has this number or identifier."),
        "member_ambiguous": _("Several members answer to this identifier; use the member number."),
    }

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(self.MESSAGES[reason])


def member_for_till(*, term: str) -> Member:
    """The active member `term` names (number or identifier, any spelling); raises
    MemberNotFound. One query (crm's lookup as a subquery, the members and their accounts
    read with it), one more per merge hop."""
    query = member_ids_for_term_query(term)
    if query is None:
        raise MemberNotFound("member_unknown")
    found: dict[int, Member] = {}
    members_of = Member.objects.select_related("points_account")
    members = list(members_of.filter(pk__in=query))
    for hop in range(1, MERGE_HOPS_MAX + 1):
        ids = set()
        for member in members:
            if member.status == Member.Status.ACTIVE:
                found[member.pk] = member
            elif member.status == Member.Status.MERGED and member.merged_into_id:
                ids.add(member.merged_into_id)
        ids -= found.keys()
        if not ids or hop == MERGE_HOPS_MAX:
            break
        members = list(members_of.filter(pk__in=ids))
    if not found:
        raise MemberNotFound("member_unknown")
    if len(found) > 1:
        raise MemberNotFound("member_ambiguous")
    return next(iter(found.values()))


def account_of(member: Member) -> PointsAccount | None:
    try:
        return member.points_account
    except PointsAccount.DoesNotExist:
        return None


@dataclass(frozen=True)
class Expiring:
    on: date
    points: int


@dataclass(frozen=True)
class TillPoints:
    """A member's points as the till shows them (no personal data: the number only)."""

    member_no: str
    balance: int
    held: int
    available: int
    tier: Tier | None
    next_tier: Tier | None
    spend_12m_twd: int
    expiring: list[Expiring] = field(default_factory=list)  # the next EXPIRING_SOON_DAYS

    @property
    def spend_to_next_tier_twd(self) -> int | None:
        if self.next_tier is None:
            return None
        return max(0, self.next_tier.threshold_twd - self.spend_12m_twd)

    @property
    def expiring_total(self) -> int:
        return sum(item.points for item in self.expiring)


def till_points(*, member: Member, now: datetime | None = None) -> TillPoints:
    """Balance, held and available points, tier and the next one, and the points expiring in
    the next 30 days by day (loyalty.expiry's first-in-first-out rule). At most five queries."""
    now = now or timezone.now()
    account = account_of(member)
    if account is None:
        return TillPoints(
            member_no=member.member_no,
            balance=0,
            held=0,
            available=0,
            tier=None,
            next_tier=tier_next(tier=None),
            spend_12m_twd=0,
        )
    held = points_held(account_id=account.pk, now=now)
    tier = account.tier
    next_tier = tier_next(tier=tier)
    return TillPoints(
        member_no=member.member_no,
        balance=account.balance,
        held=held,
        available=max(0, account.balance - held),
        tier=tier,
        next_tier=next_tier,
        spend_12m_twd=account.spend_12m_twd,
        expiring=_expiring_soon(account, today=timezone.localdate(now)),
    )


def _expiring_soon(account: PointsAccount, *, today: date) -> list[Expiring]:
    """Points expiring on each day of the next EXPIRING_SOON_DAYS: the days credits fall due
    (one query, at most 31), then the shared rule's running total by each (one query)."""
    until = today + timedelta(days=EXPIRING_SOON_DAYS)
    days = list(
        PointsTransaction.objects.filter(
            account=account, points__gt=0, expires_on__gte=today, expires_on__lte=until
        )
        .order_by("expires_on")
        .values_list("expires_on", flat=True)
        .distinct()
    )
    if not days:
        return []
    # Points past their day that the nightly job has not taken yet count in the first figure.
    totals = (
        PointsAccount.objects.filter(pk=account.pk)
        .annotate(**{f"by_{index}": expiring_by(day) for index, day in enumerate(days)})
        .values(*(f"by_{index}" for index in range(len(days))))
        .get()
    )
    expiring, before = [], 0
    for index, day in enumerate(days):
        running = totals[f"by_{index}"]
        if running > before:
            expiring.append(Expiring(on=day, points=running - before))
        before = max(before, running)
    return expiring


def hold_of(*, hold_id: int) -> PointsHold | None:
    return PointsHold.objects.select_related("account__member").filter(pk=hold_id).first()
