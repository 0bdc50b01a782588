"""The segment rule "wallet card added to (any / Apple / Google)", through crm's registry.

The people:
    A  Apple Wallet (in it now)
    B  Google Wallet (in it now), and an Apple card downloaded but never added
    C  both wallets
    D  removed the card from Google Wallet
    E  no card at all
    F  merged away into A, with an Apple card in a wallet (never in a segment)
"""

import pytest
from django.utils import translation

from crm.models import Member
from crm.segments import (
    SegmentDefinitionError,
    segment_count,
    segment_definition_validate,
    segment_queryset,
)
from crm.segments.registry import segment_rule_catalogue
from loyalty.services.wallet import wallet_pass_added, wallet_pass_issue, wallet_pass_removed
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _card(member, platform: str, *, added: bool = True, removed: bool = False) -> None:
    card = wallet_pass_issue(member_id=member.pk, platform=platform)
    if added:
        wallet_pass_added(wallet_pass=card)
    if removed:
        wallet_pass_removed(wallet_pass=card)


@pytest.fixture
def people():
    a, b, c, d, _e = (MemberFactory(member_no=f"W{n}") for n in "ABCDE")
    f = MemberFactory(member_no="WF", status=Member.Status.MERGED, merged_into=a)
    _card(a, "apple")
    _card(b, "google")
    _card(b, "apple", added=False)
    _card(c, "apple")
    _card(c, "google")
    _card(d, "google", removed=True)
    _card(f, "apple")


def _numbers(operator: str, value: str) -> set[str]:
    definition = {
        "op": "and",
        "rules": [{"rule": "wallet_card", "operator": operator, "value": value}],
    }
    numbers = set(segment_queryset(definition).values_list("member_no", flat=True))
    assert segment_count(definition) == len(numbers)
    return numbers


def test_holders_of_any_wallet_and_the_rest_split_the_members(people):
    holders = _numbers("added", "any")
    rest = _numbers("not_added", "any")
    assert holders == {"WA", "WB", "WC"}
    assert rest == {"WD", "WE"}
    everyone = set(Member.objects.filter(status="active").values_list("member_no", flat=True))
    assert holders | rest == everyone and not holders & rest


def test_holders_per_wallet(people):
    assert _numbers("added", "apple") == {"WA", "WC"}  # B's Apple card was never added
    assert _numbers("added", "google") == {"WB", "WC"}  # D removed theirs
    assert _numbers("not_added", "google") == {"WA", "WD", "WE"}


def test_the_rule_is_one_query(people, django_assert_num_queries):
    definition = {
        "op": "or",
        "rules": [
            {"rule": "wallet_card", "operator": "added", "value": "apple"},
            {"rule": "wallet_card", "operator": "not_added", "value": "any"},
        ],
    }
    with django_assert_num_queries(1):
        assert segment_count(definition) == 4


def test_a_wallet_that_is_not_one_gets_a_clear_error():
    rule = {"rule": "wallet_card", "operator": "added", "value": "samsung"}
    with translation.override("en"), pytest.raises(SegmentDefinitionError) as raised:
        segment_definition_validate({"op": "and", "rules": [rule]})
    assert "is not one of the choices" in str(raised.value.issues[0].message)


def test_the_catalogue_lists_it_under_loyalty_with_its_wallets():
    with translation.override("en"):
        described = {rule["key"]: rule for rule in segment_rule_catalogue()}
    rule = described["wallet_card"]
    assert rule["category"] == "Loyalty" and rule["label"] == "Wallet card"
    choices = rule["operators"][0]["value"]["choices"]
    assert choices == [
        ["any", "any wallet"],
        ["apple", "Apple Wallet"],
        ["google", "Google Wallet"],
    ]
    with translation.override("zh-hant"):
        described = {rule["key"]: rule for rule in segment_rule_catalogue()}
    assert [op["label"] for op in described["wallet_card"]["operators"]] == ["已加入", "未加入"]
