"""Members with points and a tier, and their Google cards, for the Google Wallet tests."""

from django.utils import timezone

from loyalty.models import PointsAccount, Tier, WalletPass
from loyalty.services.adjustments import points_adjust
from loyalty.services.wallet import wallet_pass_issue
from tests.factories import MemberFactory


def member_with_points(points: int = 1_280, *, tier_rank: int | None = None):
    member = MemberFactory()
    if points:
        points_add(member, points, key=f"{member.member_no}-start")
    if tier_rank is not None:
        tier = Tier.objects.order_by("rank")[tier_rank]
        PointsAccount.objects.filter(member=member).update(tier=tier)
    return member


def points_add(member, points: int, *, key: str) -> None:
    points_adjust(member=member, points=points, reason="test", actor_id=None, idempotency_key=key)


def google_pass(member, *, saved: bool = False) -> WalletPass:
    """The member's Google card; `saved`: in the member's wallet (Google's save callback came)."""
    card = wallet_pass_issue(member_id=member.pk, platform=WalletPass.Platform.GOOGLE)
    if saved:
        WalletPass.objects.filter(pk=card.pk).update(installed=True, installed_at=timezone.now())
        card.refresh_from_db()
    return card
