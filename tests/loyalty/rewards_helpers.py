"""Members with points and rewards for the rewards and coupons tests (real services)."""

from loyalty.models import PointsAccount, PointsTransaction, Reward
from loyalty.services.ledger import Entry, accounts_ensure, entries_post
from tests.factories import MemberFactory


def member_with_points(points: int, **member_fields):
    """A member whose account holds `points`, earned through the ledger."""
    member = MemberFactory(**member_fields)
    account_id = accounts_ensure(member_ids=[member.pk])[member.pk]
    if points:
        entries_post(
            entries=[
                Entry(
                    account_id,
                    PointsTransaction.Kind.EARN,
                    points,
                    f"test-earn:{member.pk}",
                    PointsTransaction.Source.ADMIN,
                )
            ]
        )
    return member, PointsAccount.objects.get(pk=account_id)


def reward(**fields) -> Reward:
    values = {"name": "星巴克中杯拿鐵", "points_price": 100, "discount_twd": 120}
    return Reward.objects.create(**{**values, **fields})
