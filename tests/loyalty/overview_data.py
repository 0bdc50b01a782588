"""Ledger data for the overview and history tests, written through the ledger's one way in."""

from datetime import date, datetime, time

from django.utils import timezone

from loyalty.models import PointsAccount, PointsTransaction, Tier
from loyalty.services.ledger import Entry, accounts_ensure, entries_post
from tests.factories import MemberFactory

Kind = PointsTransaction.Kind
Source = PointsTransaction.Source


def taipei(day: date, hour: int = 12) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour)))


DEFAULT_TIERS = (("一般", 0, 0), ("銀卡", 1, 10_000), ("金卡", 2, 30_000), ("白金", 3, 80_000))


def tiers_ensure() -> None:
    """The default tiers (migration 0002's), after a transactional test flushed them."""
    for name, rank, threshold in DEFAULT_TIERS:
        Tier.objects.get_or_create(rank=rank, defaults={"name": name, "threshold_twd": threshold})


def account_for(member=None, *, tier_rank: int | None = None) -> PointsAccount:
    member = member or MemberFactory()
    account = PointsAccount.objects.get(pk=accounts_ensure(member_ids=[member.pk])[member.pk])
    if tier_rank is not None:
        tiers_ensure()
        account.tier = Tier.objects.get(rank=tier_rank)
        account.save(update_fields=["tier"])
    return account


_keys = iter(range(1, 10**9))


def post(account: PointsAccount, kind: str, points: int, at: datetime, **extra) -> None:
    source = extra.pop("source", Source.ORDER)
    entries_post(
        entries=[
            Entry(
                account_id=account.pk,
                kind=kind,
                points=points,
                idempotency_key=f"test:{next(_keys)}",
                source=source,
                at=at,
                **extra,
            )
        ]
    )
