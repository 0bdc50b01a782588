"""The tier filter on the member list (/members/?tier=…), registered by loyalty in crm's seam."""

import pytest

from crm.list_filters import MEMBER_LIST_FILTERS
from crm.models import ExportJob
from crm.selectors import MemberListFilters, member_list_queryset
from tests.factories import MemberFactory
from tests.loyalty.crmcards_data import account_of, set_tier, tier

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def tiered():
    gold = [MemberFactory(member_no=f"G{n:03d}") for n in range(3)]
    silver = [MemberFactory(member_no=f"V{n:03d}") for n in range(2)]
    MemberFactory(member_no="X000")  # no points account
    for member in gold:
        set_tier(account_of(member), "金卡", 40_000)
    for member in silver:
        set_tier(account_of(member), "銀卡", 12_000)
    return gold, silver


def test_loyalty_registers_the_tier_filter():
    assert "tier" in MEMBER_LIST_FILTERS


def test_tier_filter_narrows_the_list(tiered):
    gold = str(tier("金卡").pk)

    numbers = set(
        member_list_queryset(filters=MemberListFilters(extra=(("tier", gold),))).values_list(
            "member_no", flat=True
        )
    )

    assert numbers == {"G000", "G001", "G002"}


def test_member_list_page_filters_by_tier(login_as, tiered):
    silver = str(tier("銀卡").pk)
    client = login_as("bob")

    page = client.get("/members/").content.decode()
    assert 'name="tier"' in page and "金卡</option>" in page

    page = client.get("/members/", {"tier": silver}).content.decode()
    assert "V000" in page and "V001" in page
    assert "G000" not in page and "X000" not in page
    assert f"/members/export/?tier={silver}" in page


def test_an_unknown_tier_is_an_error_beside_the_field(login_as, tiered):
    page = login_as("bob").get("/members/", {"tier": "99999"}).content.decode()

    assert 'id="id_tier-error"' in page
    assert "G000" in page and "X000" in page  # the bad filter is left out


def test_export_of_a_tier(login_as, tiered):
    login_as("alice").post(f"/members/export/?tier={tier('金卡').pk}", {"file_format": "csv"})

    assert ExportJob.objects.get().total == 3
