"""What the add-to-wallet page shows a visitor holding a member's signed link.

The link can be forwarded, so the page shows nothing that names the member: the brand, the
member number masked to its last four characters, the points and tier (from `wallet_cards`, what
the card itself will show) and which wallets already hold the card. A link made before a merge
leads to the surviving member's card; an erased member's link leads nowhere. Four queries.
"""

from dataclasses import dataclass

from django.conf import settings

from crm.models import Member
from loyalty.models import WalletPass
from loyalty.selectors_wallet import wallet_cards

MERGE_HOPS = 5  # a member merged into one later merged again: follow a short chain
VISIBLE_DIGITS = 4


@dataclass(frozen=True)
class WalletAddPage:
    member_id: int
    member_no_masked: str
    brand: str
    points: int
    tier_name: str
    tier_colour: str
    in_wallet: dict[str, bool]  # platform -> the card is in that wallet now


def member_no_masked(member_no: str) -> str:
    """M00012345 -> ••••2345: enough for the member to recognise, too little to use."""
    return "••••" + member_no[-VISIBLE_DIGITS:]


def _member_id(member_no: str) -> int | None:
    row = Member.objects.filter(member_no=member_no).values("pk", "status", "merged_into").first()
    for _hop in range(MERGE_HOPS):
        if row is None or row["status"] == Member.Status.ERASED:
            return None
        if row["status"] == Member.Status.ACTIVE:
            return row["pk"]
        row = (
            Member.objects.filter(pk=row["merged_into"])
            .values("pk", "status", "merged_into")
            .first()
        )
    return None


def wallet_add_page(*, member_no: str) -> WalletAddPage | None:
    """The page's contents for the member a link names, or None (no such member any more)."""
    member_id = _member_id(member_no)
    if member_id is None:
        return None
    card = wallet_cards(member_ids=[member_id])[member_id]
    installed = dict(
        WalletPass.objects.filter(member_id=member_id).values_list("platform", "installed")
    )
    return WalletAddPage(
        member_id=member_id,
        member_no_masked=member_no_masked(card.member_no),
        brand=settings.APPLE_WALLET_ORGANIZATION_NAME,
        points=card.points,
        tier_name=card.tier_name,
        tier_colour=card.tier_colour,
        in_wallet={
            platform: installed.get(platform, False) for platform in WalletPass.Platform.values
        },
    )
