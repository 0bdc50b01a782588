"""Points data for the tests of loyalty in crm's pages, made the one way points move."""

import importlib
from datetime import date, timedelta

from django.utils import timezone

from loyalty.models import Coupon, PointsAccount, PointsTransaction, Reward, Tier
from loyalty.services.ledger import Entry, accounts_ensure, entries_post

EARN = PointsTransaction.Kind.EARN
SOURCE = PointsTransaction.Source.ORDER


def account_of(member) -> PointsAccount:
    account_id = accounts_ensure(member_ids=[member.pk])[member.pk]
    return PointsAccount.objects.get(pk=account_id)


def earn(account: PointsAccount, points: int, key: str, *, expires_in_days: int | None, **extra):
    expires_on = (
        timezone.localdate() + timedelta(days=expires_in_days)
        if expires_in_days is not None
        else None
    )
    entries_post(entries=[Entry(account.pk, EARN, points, key, SOURCE, expires_on, **extra)])


def post(account: PointsAccount, kind: str, points: int, key: str, **extra) -> None:
    entries_post(
        entries=[Entry(account.pk, kind, points, key, extra.pop("source", SOURCE), **extra)]
    )


def default_tiers() -> None:
    """The four tiers of the default migration, back after a transactional test's flush."""
    defaults = importlib.import_module("loyalty.migrations.0002_default_programme").DEFAULT_TIERS
    for name, rank, threshold, multiplier, colour in defaults:
        Tier.objects.get_or_create(
            name=name,
            defaults={
                "rank": rank,
                "threshold_twd": threshold,
                "earn_multiplier": multiplier,
                "colour": colour,
            },
        )


def tier(name: str) -> Tier:
    return Tier.objects.get(name=name)


def set_tier(account: PointsAccount, name: str | None, spend_12m_twd: int) -> None:
    PointsAccount.objects.filter(pk=account.pk).update(
        tier=tier(name) if name else None, spend_12m_twd=spend_12m_twd, tier_since=timezone.now()
    )


def reward(name: str = "咖啡券", points_price: int = 100) -> Reward:
    return Reward.objects.create(name=name, points_price=points_price, discount_twd=50)


def coupon(account, reward_, code: str, *, days_valid: int = 30, used: bool = False, **extra):
    now = timezone.now()
    return Coupon.objects.create(
        code=code,
        reward=reward_,
        account=account,
        issued_at=extra.pop("issued_at", now),
        expires_at=now + timedelta(days=days_valid),
        status=Coupon.Status.USED if used else extra.pop("status", Coupon.Status.ISSUED),
        used_at=now if used else None,
        **extra,
    )


def today_plus(days: int) -> date:
    return timezone.localdate() + timedelta(days=days)
