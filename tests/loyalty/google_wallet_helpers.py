"""Members with points and a tier, and their Google cards, for the Google Wallet tests."""

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


def google_pass(member) -> WalletPass:
    return wallet_pass_issue(member_id=member.pk, platform=WalletPass.Platform.GOOGLE)
