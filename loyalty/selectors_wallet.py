"""What a member's wallet card shows, for many members at once (Apple's pass, Google's object).

One query for any number of members: the member number and name, the points balance and tier,
and the points that expire within the next EXPIRING_DAYS days (loyalty.expiry.expiring_by, the
one first-in-first-out rule) with the first day any of them expire. Apple's pass and Google's
loyalty object are both built from a `WalletCard`, so the two wallets never disagree.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import F, Min, OuterRef, Subquery
from django.utils import timezone

from crm.models import Member
from loyalty.expiry import expiring_by
from loyalty.models import PointsAccount, PointsTransaction, WalletPass

EXPIRING_DAYS = 30
CHUNK = 5_000


@dataclass(frozen=True)
class WalletCard:
    member_id: int
    member_no: str
    name: str
    points: int
    tier_colour: str  # #rrggbb, "" without a tier
    tier_name: str
    expiring_points: int  # within EXPIRING_DAYS days
    expiring_on: date | None  # the first day some of them expire
    member_since: date


def wallet_cards(*, member_ids: Iterable[int], today: date | None = None) -> dict[int, WalletCard]:
    """{member_id: WalletCard}; a member without a points account shows 0 points, no tier."""
    today = today or timezone.localdate()
    horizon = today + timedelta(days=EXPIRING_DAYS)
    ids = list(member_ids)
    cards: dict[int, WalletCard] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        accounts = {
            row["member_id"]: row
            for row in PointsAccount.objects.filter(member_id__in=chunk)
            .annotate(
                tier_colour=F("tier__colour"),
                tier_name=F("tier__name"),
                expiring=expiring_by(horizon),
                first_expiry=Subquery(
                    PointsTransaction.objects.filter(
                        account=OuterRef("pk"),
                        points__gt=0,
                        expires_on__gte=today,
                        expires_on__lte=horizon,
                    )
                    .values("account")
                    .annotate(first=Min("expires_on"))
                    .values("first")[:1]
                ),
            )
            .values("member_id", "balance", "tier_colour", "tier_name", "expiring", "first_expiry")
        }
        members = Member.objects.filter(pk__in=chunk).values("pk", "member_no", "name", "joined_at")
        for member in members:
            account = accounts.get(member["pk"], {})
            expiring = account.get("expiring") or 0
            cards[member["pk"]] = WalletCard(
                member_id=member["pk"],
                member_no=member["member_no"],
                name=member["name"],
                points=account.get("balance") or 0,
                tier_colour=account.get("tier_colour") or "",
                tier_name=account.get("tier_name") or "",
                expiring_points=expiring,
                expiring_on=account.get("first_expiry") if expiring else None,
                member_since=timezone.localdate(member["joined_at"]),
            )
    return cards


def wallet_holders(*, member_ids: Iterable[int]) -> dict[int, list[str]]:
    """{member_id: [platform, …]} of the cards now in a wallet (installed)."""
    holders: dict[int, list[str]] = {}
    ids = list(member_ids)
    for start in range(0, len(ids), CHUNK):
        rows = WalletPass.objects.filter(
            member_id__in=ids[start : start + CHUNK], installed=True
        ).values_list("member_id", "platform")
        for member_id, platform in rows:
            holders.setdefault(member_id, []).append(platform)
    return holders
