"""The demo's wallet cards: a few hundred holders, mostly repeat buyers, Apple and Google, some
removed since, Apple ones with a device, touchpoints at plausible times; nothing pending for a
push; a second run writes nothing; `seed_demo_loyalty` says what it wrote."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from crm.models import Member, MemberStats, Touchpoint
from crm.segments import segment_count
from loyalty.demo_wallets import demo_wallets_seed
from loyalty.models import WalletDeviceRegistration, WalletPass
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def members():
    """60 members joined a year ago: 40 repeat buyers, 20 who bought once; one merged away."""
    joined = timezone.now() - timedelta(days=365)
    people = [MemberFactory(joined_at=joined) for _ in range(60)]
    MemberStats.objects.bulk_create(
        MemberStats(member=member, orders_count=3 if n < 40 else 1)
        for n, member in enumerate(people)
    )
    MemberFactory(status=Member.Status.MERGED, merged_into=people[0])
    return people


def test_the_demo_gives_holders_their_cards_as_the_services_would(
    members, django_assert_max_num_queries
):
    now = timezone.now()
    with django_assert_max_num_queries(12):
        result = demo_wallets_seed(now=now, holders=40)

    cards = list(WalletPass.objects.all())
    holders = {card.member_id for card in cards}
    assert len(holders) == 40 and result.cards == len(cards) > 40  # some hold both wallets
    repeat = set(
        MemberStats.objects.filter(orders_count__gte=2).values_list("member_id", flat=True)
    )
    assert len(holders & repeat) >= 32  # mostly repeat buyers
    assert Member.objects.filter(pk__in=holders, status="active").count() == 40
    assert {card.platform for card in cards} == {"apple", "google"}

    installed = [card for card in cards if card.installed]
    removed = [card for card in cards if card.removed_at is not None]
    never = [card for card in cards if card.installed_at is None]
    assert (result.installed, result.removed) == (len(installed), len(removed))
    assert installed and removed and never
    for card in cards:
        assert card.created_at <= now and card.changed_at is None  # nothing to push
        if card.installed_at:
            assert card.created_at < card.installed_at < now
        if card.removed_at:
            assert not card.installed and card.installed_at < card.removed_at <= now

    # A device for each Apple card in a wallet, none for the others.
    devices = set(WalletDeviceRegistration.objects.values_list("wallet_pass_id", flat=True))
    assert devices == {card.pk for card in installed if card.platform == "apple"}
    assert result.devices == len(devices)

    # The touchpoints: one added per card ever added, one removed per removal, at those times.
    touchpoints = Touchpoint.objects.filter(channel="wallet")
    added = touchpoints.filter(kind="wallet_added")
    assert added.count() == len(installed) + len(removed)
    assert set(added.values_list("member_id", "at", "properties__wallet")) == {
        (card.member_id, card.installed_at, card.platform) for card in cards if card.installed_at
    }
    assert set(touchpoints.filter(kind="wallet_removed").values_list("member_id", "at")) == {
        (card.member_id, card.removed_at) for card in removed
    }

    # The segment rule sees the holders.
    rule = {"rule": "wallet_card", "operator": "added", "value": "any"}
    assert segment_count({"op": "and", "rules": [rule]}) == len(
        {card.member_id for card in installed}
    )


def test_a_second_run_writes_nothing(members):
    first = demo_wallets_seed(holders=20)
    count = WalletPass.objects.count()
    assert first is not None
    assert demo_wallets_seed(holders=20) is None
    assert WalletPass.objects.count() == count
    assert Touchpoint.objects.filter(channel="wallet").count() == first.installed + 2 * (
        first.removed
    )


def test_the_demo_is_the_same_each_time(members):
    now = timezone.now()
    demo_wallets_seed(now=now, holders=20)
    first = sorted(WalletPass.objects.values_list("member_id", "platform", "installed", "serial"))
    WalletPass.objects.all().delete()
    demo_wallets_seed(now=now, holders=20)
    again = sorted(WalletPass.objects.values_list("member_id", "platform", "installed", "serial"))
    assert first == again


def test_the_command_says_what_it_wrote_and_then_that_nothing_is_left(members):
    out = StringIO()
    call_command("seed_demo_loyalty", stdout=out)
    assert "Demo wallet cards written: " in out.getvalue()
    assert WalletPass.objects.filter(installed=True).exists()
    out = StringIO()
    call_command("seed_demo_loyalty", stdout=out)
    assert "Wallet cards exist already" in out.getvalue()
