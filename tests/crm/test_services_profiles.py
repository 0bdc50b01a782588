"""members_home_store_fill: a member's home store is where they bought most often."""

import pytest

from crm.models import Member
from crm.services.profiles import members_home_store_fill
from tests.factories import MemberFactory, OrderFactory, StoreFactory

pytestmark = pytest.mark.django_db


def test_a_member_without_a_home_store_gets_the_store_of_most_orders():
    member = MemberFactory(home_store=None)
    often, once = StoreFactory(), StoreFactory()
    OrderFactory.create_batch(2, member=member, store=often)
    OrderFactory(member=member, store=once)

    changed = members_home_store_fill()

    member.refresh_from_db()
    assert (changed, member.home_store) == (1, often)


def test_a_tie_goes_to_the_older_store():
    member = MemberFactory(home_store=None)
    first, second = StoreFactory(), StoreFactory()
    OrderFactory(member=member, store=second)
    OrderFactory(member=member, store=first)

    members_home_store_fill()

    member.refresh_from_db()
    assert member.home_store == first


def test_a_chosen_home_store_and_online_buyers_are_left_alone():
    chosen = MemberFactory()
    OrderFactory.create_batch(2, member=chosen, store=StoreFactory())
    online = MemberFactory(online=True)
    OrderFactory(member=online, channel="web")

    assert members_home_store_fill() == 0

    assert Member.objects.get(pk=online.pk).home_store is None
    assert Member.objects.get(pk=chosen.pk).home_store == chosen.home_store


def test_member_ids_limit_the_fill():
    left, filled = MemberFactory(home_store=None), MemberFactory(home_store=None)
    store = StoreFactory()
    OrderFactory(member=left, store=store)
    OrderFactory(member=filled, store=store)

    assert members_home_store_fill(member_ids=[filled.pk]) == 1

    assert Member.objects.get(pk=left.pk).home_store is None
