"""Loyalty's segment rules (tier, points balance, points expiring, unused coupon) through crm.

The people:
    A  金卡, 1,000 points: 300 expiring in 10 days, 700 in 100 days; an unused coupon for 咖啡
    B  銀卡, 150 points expiring in 50 days; a used coupon for 咖啡, an unused one for 生日禮
    C  一般, an account at 0 points; a coupon for 咖啡 past its date (not yet marked)
    D  no points account at all
    E  merged away (never in a segment), 白金 with 5,000 points
"""

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from crm.models import Member
from crm.segments import (
    SegmentDefinitionError,
    segment_count,
    segment_definition_validate,
    segment_queryset,
)
from crm.segments.registry import segment_rule_catalogue
from crm.services.segments import segment_count_refresh, segment_create
from tests.factories import MemberFactory
from tests.loyalty.crmcards_data import account_of, coupon, earn, reward, set_tier, tier

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    a, b, c, _d = (MemberFactory(member_no=f"L{n}") for n in "ABCD")
    e = MemberFactory(member_no="LE", status=Member.Status.MERGED, merged_into=a)
    coffee, gift = reward("咖啡"), reward("生日禮")
    acc_a, acc_b, acc_c, acc_e = (account_of(m) for m in (a, b, c, e))
    earn(acc_a, 300, "a1", expires_in_days=10)
    earn(acc_a, 700, "a2", expires_in_days=100)
    earn(acc_b, 150, "b1", expires_in_days=50)
    earn(acc_e, 5_000, "e1", expires_in_days=10)
    set_tier(acc_a, "金卡", 40_000)
    set_tier(acc_b, "銀卡", 12_000)
    set_tier(acc_c, "一般", 0)
    set_tier(acc_e, "白金", 90_000)
    coupon(acc_a, coffee, "SEGCODE00001")
    coupon(acc_b, coffee, "SEGCODE00002", used=True)
    coupon(acc_b, gift, "SEGCODE00003")
    coupon(acc_c, coffee, "SEGCODE00004", days_valid=-1)
    coupon(acc_e, coffee, "SEGCODE00005")
    return {"coffee": coffee.pk, "gift": gift.pk}


def _numbers(*rules, op: str = "and") -> set[str]:
    definition = {"op": op, "rules": list(rules)}
    numbers = set(segment_queryset(definition).values_list("member_no", flat=True))
    assert segment_count(definition) == len(numbers)
    return numbers


def _rule(key: str, operator: str, value=None) -> dict:
    rule = {"rule": key, "operator": operator}
    if value is not None:
        rule["value"] = value
    return rule


def test_tier(people):
    gold, silver = tier("金卡").pk, tier("銀卡").pk

    assert _numbers(_rule("tier", "is", gold)) == {"LA"}
    assert _numbers(_rule("tier", "in", [gold, silver])) == {"LA", "LB"}
    # The exact complement among active members: D, without an account, is in no tier.
    assert _numbers(_rule("tier", "is_not", gold)) == {"LB", "LC", "LD"}
    assert _numbers(_rule("tier", "not_in", [gold, silver])) == {"LC", "LD"}
    assert _numbers(_rule("tier", "is", tier("白金").pk)) == set()  # E is merged away


def test_points_balance(people):
    assert _numbers(_rule("points_balance", "gte", 150)) == {"LA", "LB"}
    assert _numbers(_rule("points_balance", "lte", 150)) == {"LB", "LC", "LD"}  # D has 0
    assert _numbers(_rule("points_balance", "between", [100, 1_000])) == {"LA", "LB"}
    assert _numbers(_rule("points_balance", "between", [1, 1_000])) == {"LA", "LB"}


def test_points_expiring_within_days(people):
    assert _numbers(_rule("points_expiring", "at_least_within", [300, 30])) == {"LA"}
    assert _numbers(_rule("points_expiring", "at_least_within", [301, 30])) == set()
    assert _numbers(_rule("points_expiring", "at_least_within", [100, 60])) == {"LA", "LB"}
    assert _numbers(_rule("points_expiring", "at_least_within", [1_000, 100])) == {"LA"}


def test_unused_coupon(people):
    assert _numbers(_rule("coupon_unused", "has_any")) == {"LA", "LB"}
    assert _numbers(_rule("coupon_unused", "of_reward", [people["coffee"]])) == {"LA"}
    assert _numbers(_rule("coupon_unused", "of_reward", [people["gift"]])) == {"LB"}
    assert _numbers(_rule("coupon_unused", "has_none")) == {"LC", "LD"}


def test_rules_combine_in_one_query(people, django_assert_num_queries):
    definition = {
        "op": "or",
        "rules": [
            _rule("tier", "is", tier("金卡").pk),
            {
                "op": "and",
                "rules": [
                    _rule("points_balance", "gte", 100),
                    _rule("coupon_unused", "of_reward", [people["gift"]]),
                ],
            },
        ],
    }
    with django_assert_num_queries(1):
        assert segment_count(definition) == 2


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (_rule("tier", "is", "gold"), "is not one of the choices"),
        (_rule("points_balance", "gte", -5), "Enter a number from 0"),
        (_rule("points_balance", "between", [500, 100]), "must not be larger"),
        (_rule("points_expiring", "at_least_within", [100]), "the points and the days"),
        (_rule("points_expiring", "at_least_within", [0, 30]), "Points: Enter a number from 1"),
        (_rule("points_expiring", "at_least_within", [100, "x"]), "Days: Enter a whole number"),
        (_rule("coupon_unused", "has_any", 3), "takes no value"),
        (_rule("coupon_unused", "of_reward", []), "Choose at least one"),
    ],
)
def test_bad_values_get_a_clear_error(rule, message):
    with translation.override("en"), pytest.raises(SegmentDefinitionError) as raised:
        segment_definition_validate({"op": "and", "rules": [rule]})

    assert message in str(raised.value.issues[0].message)


def test_catalogue_lists_the_rules_under_loyalty():
    with translation.override("en"):
        described = {rule["key"]: rule for rule in segment_rule_catalogue()}

    for key in ("tier", "points_balance", "points_expiring", "coupon_unused"):
        assert described[key]["category"] == "Loyalty"
    assert described["points_expiring"]["operators"][0]["value"]["type"] == "integer_range"


def test_a_saved_segment_counts_through_crm_services(people, bob):
    segment = segment_create(
        name="金卡 with expiring points",
        definition={
            "op": "and",
            "rules": [
                _rule("tier", "is", tier("金卡").pk),
                _rule("points_expiring", "at_least_within", [100, 30]),
            ],
        },
        created_by=bob,
    )

    assert segment_count_refresh(segment_id=segment.pk) == 1


def test_expiring_counts_from_the_compile_day(people):
    later = timezone.now() + timedelta(days=45)
    definition = {"op": "and", "rules": [_rule("points_expiring", "at_least_within", [150, 10])]}

    # 45 days on, B's 150 points are due in 5 days (A's first lot is past its day: the rule
    # counts what the nightly job has not expired yet, which is still due).
    assert set(segment_queryset(definition, now=later).values_list("member_no", flat=True)) == {
        "LA",
        "LB",
    }


# --- The builder ---------------------------------------------------------------------------

COUNT_URL = "/segments/count/"


def _builder_post(rule: str, operator: str, vkind: str, **values) -> dict:
    return {
        "node": ["n", "n_0"],
        "n-kind": "group",
        "n-op": "and",
        "n_0-kind": "rule",
        "n_0-rule": rule,
        "n_0-operator": operator,
        "n_0-shape": f"{rule}:{operator}",
        "n_0-vkind": vkind,
        **{f"n_0-{key}": value for key, value in values.items()},
    }


def test_builder_draws_the_rules_and_counts_live(login_as, people):
    client = login_as("bob")
    added = {"node": ["n"], "n-kind": "group", "n-op": "and", "action": "add-rule:n"}
    page = client.post("/segments/new/", added).content.decode()
    assert 'value="points_expiring"' in page and 'value="tier"' in page
    expiring = _builder_post("points_expiring", "at_least_within", "integer_range")
    page = client.post("/segments/new/", expiring).content.decode()
    assert 'name="n_0-value2"' in page  # the points and the days, two numbers

    tier_post = _builder_post("tier", "is", "choice", value=str(tier("金卡").pk))
    page = client.post(COUNT_URL, tier_post, headers={"HX-Request": "true"}).content.decode()
    assert 'data-count="1"' in page

    expiring = _builder_post(
        "points_expiring", "at_least_within", "integer_range", value="100", value2="60"
    )
    page = client.post(COUNT_URL, expiring, headers={"HX-Request": "true"}).content.decode()
    assert 'data-count="2"' in page


def test_builder_shows_a_bad_value_beside_the_rule(login_as, people):
    bad = _builder_post(
        "points_expiring", "at_least_within", "integer_range", value="100", value2="9999"
    )

    page = (
        login_as("bob")
        .post(COUNT_URL, bad, headers={"HX-Request": "true", "accept-language": "en"})
        .content.decode()
    )

    assert 'id="n_0-errors"' in page and "Days: Enter a number from 1 to 3,660." in page
    assert 'data-count=""' in page
