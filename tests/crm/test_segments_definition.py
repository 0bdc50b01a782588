"""Checking segment definitions: every problem named by its path, before any query."""

import pytest
from django.db.models import Q
from django.utils import translation

from crm.segments import (
    IntValue,
    Operator,
    SegmentDefinitionError,
    SegmentRule,
    register_segment_rule,
    segment_count,
    segment_definition_validate,
    segment_rule_catalogue,
)
from crm.segments.registry import SEGMENT_RULES
from tests.factories import MemberFactory


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def issues(definition) -> dict[str, str]:
    with pytest.raises(SegmentDefinitionError) as caught:
        segment_definition_validate(definition)
    return caught.value.as_dict()


def test_an_unknown_rule_is_named_by_its_path():
    definition = {
        "op": "and",
        "rules": [
            {"rule": "gender", "operator": "is", "value": "female"},
            {"op": "or", "rules": [{"rule": "shoe_size", "operator": "is", "value": 42}]},
        ],
    }
    assert issues(definition) == {"rules[1].rules[0].rule": "Unknown rule 'shoe_size'."}


def test_a_bad_operator_lists_the_ones_there_are():
    found = issues({"op": "and", "rules": [{"rule": "age", "operator": "is", "value": 3}]})
    assert found == {
        "rules[0].operator": "Age has no operator 'is'; choose one of: gte, lte, eq, between."
    }


@pytest.mark.parametrize(
    ("condition", "path", "message"),
    [
        ({"rule": "age", "operator": "gte", "value": "30"}, "value", "Enter a whole number."),
        ({"rule": "age", "operator": "gte", "value": True}, "value", "Enter a whole number."),
        (
            {"rule": "age", "operator": "gte", "value": 200},
            "value",
            "Enter a number from 0 to 130.",
        ),
        (
            {"rule": "age", "operator": "between", "value": [40, 30]},
            "value",
            "The first number must not be larger than the second.",
        ),
        (
            {"rule": "gender", "operator": "is", "value": "robot"},
            "value",
            "'robot' is not one of the choices: female, male, other, .",
        ),
        ({"rule": "gender", "operator": "in", "value": []}, "value", "Choose at least one."),
        (
            {"rule": "tags", "operator": "has_any", "value": ["vip"]},
            "value",
            "'vip' is not one of the choices.",
        ),
        (
            {"rule": "joined", "operator": "before", "value": "2026-13-01"},
            "value",
            "Enter a date as YYYY-MM-DD.",
        ),
        (
            {"rule": "birthday_month", "operator": "this_month", "value": 3},
            "value",
            "This operator takes no value.",
        ),
        (
            {"rule": "gender", "operator": "is", "value": "male", "period": {"last_days": 30}},
            "period",
            "This rule takes no period.",
        ),
        (
            {"rule": "spend", "operator": "gte", "value": 1, "period": {"last_days": 0}},
            "period",
            "The last N days: a whole number from 1 to 3660.",
        ),
        (
            {"rule": "spend", "operator": "gte", "value": 1, "period": {"days": 30}},
            "period",
            'Expected {"last_days": N} or {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}.',
        ),
        (
            {
                "rule": "spend",
                "operator": "gte",
                "value": 1,
                "period": {"from": "2026-03-01", "to": "2026-02-01"},
            },
            "period",
            "The first date must not be after the second.",
        ),
        (
            {"rule": "spend", "operator": "gte", "value": 1, "when": "now"},
            "",
            "Unknown keys: when.",
        ),
    ],
)
def test_a_bad_value_says_what_would_do(condition, path, message):
    found = issues({"op": "and", "rules": [condition]})
    assert found == {f"rules[0]{'.' + path if path else ''}": message}


def test_the_shape_itself_is_checked():
    assert issues([]) == {"definition": 'Expected a group: {"op": "and" or "or", "rules": [...]}.'}
    assert issues({"op": "xor", "rules": []}) == {"op": 'Choose "and" or "or".'}
    assert issues({"op": "and"}) == {"rules": "Expected a list of rules and groups."}
    assert issues({"op": "and", "rules": ["gender"]}) == {"rules[0]": "Expected a rule or a group."}


def test_every_problem_is_reported_at_once():
    definition = {
        "op": "and",
        "rules": [
            {"rule": "age", "operator": "gte", "value": -1},
            {"rule": "nope", "operator": "is"},
            {"rule": "gender", "operator": "is", "value": "female"},
        ],
    }
    assert set(issues(definition)) == {"rules[0].value", "rules[1].rule"}


def test_validation_touches_no_database():
    # No db fixture: a query would fail the test.
    segment_definition_validate(
        {"op": "and", "rules": [{"rule": "tags", "operator": "has_any", "value": [1, 2]}]}
    )


def test_messages_are_translated():
    with translation.override("zh-hant"):
        found = issues({"op": "and", "rules": [{"rule": "age", "operator": "gte", "value": "x"}]})
    assert found["rules[0].value"] != "Enter a whole number."


@pytest.fixture
def points_rule():
    """What loyalty would register: a rule over a figure crm knows nothing about."""
    rule = SegmentRule(
        key="test_member_no_length",
        label="Member number length",
        category="Loyalty",
        operators={"gte": Operator("at least", IntValue(0, 20))},
        compile=lambda operator, value, period, context: Q(member_no__regex=rf"^.{{{value},}}$"),
    )
    with SEGMENT_RULES.scoped():
        register_segment_rule(rule)
        yield rule


@pytest.mark.django_db
def test_another_app_adds_a_rule_without_touching_crm(points_rule):
    MemberFactory(member_no="M1")
    MemberFactory(member_no="M123456")
    definition = {"op": "and", "rules": [{"rule": points_rule.key, "operator": "gte", "value": 5}]}
    assert segment_count(definition) == 1
    catalogue = {rule["key"]: rule for rule in segment_rule_catalogue()}
    assert catalogue[points_rule.key]["operators"] == [
        {
            "key": "gte",
            "label": "at least",
            "value": {"type": "integer", "min": 0, "max": 20, "unit": ""},
        }
    ]


@pytest.mark.django_db
def test_the_catalogue_describes_every_crm_rule_for_a_ui():
    catalogue = {rule["key"]: rule for rule in segment_rule_catalogue()}
    crm_rules = [
        "gender",
        "age",
        "birthday_month",
        "home_store",
        "acquisition_channel",
        "joined",
        "tags",
        "consent",
        "identifier",
        "spend",
        "orders",
        "recency",
        "purchased_in",
        "shopper_type",
        "rfm_group",
    ]
    # crm's own first, in this order; other apps' (loyalty's) after them.
    assert list(catalogue)[: len(crm_rules)] == crm_rules
    spend = catalogue["spend"]
    assert spend["period"] == "optional"
    assert spend["operators"][3] == {
        "key": "between",
        "label": "between",
        "value": {"type": "integer_range", "min": 0, "max": 10**12, "unit": "NT$"},
    }
    assert ["omo", "Online and in store (OMO)"] in catalogue["shopper_type"]["operators"][0][
        "value"
    ]["choices"]
