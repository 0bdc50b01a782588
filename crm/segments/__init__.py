"""Segments: a registry of rule types and a JSON definition compiled to one query.

Public API (other apps and the builder UI use these names only):

    register_segment_rule(SegmentRule(...))      add a rule type (from an AppConfig.ready())
    segment_rule_catalogue() -> list[dict]       the rule types described for a builder UI
    segment_definition_validate(definition)      raises SegmentDefinitionError (paths + messages)
    segment_queryset(definition, *, now=None)    active members matching, one queryset
    segment_count(definition, *, now=None)       one COUNT query
    segment_member_ids(definition, *, now=None, chunk_size=5000)   ids in pk order, streamed

Saving, counting and deleting saved segments are services in crm.services.segments.
"""

from crm.segments.definition import (
    EMPTY_DEFINITION,
    DefinitionIssue,
    SegmentDefinitionError,
    segment_count,
    segment_definition_validate,
    segment_member_ids,
    segment_q,
    segment_queryset,
)
from crm.segments.registry import (
    BoolValue,
    ChoiceValue,
    CompileContext,
    DateRangeValue,
    DateValue,
    IntRangeValue,
    IntValue,
    InvalidValue,
    NoValue,
    Operator,
    Period,
    PeriodUse,
    SegmentRule,
    ValueType,
    register_segment_rule,
    segment_rule,
    segment_rule_catalogue,
    segment_rules,
)

__all__ = [
    "EMPTY_DEFINITION",
    "BoolValue",
    "ChoiceValue",
    "CompileContext",
    "DateRangeValue",
    "DateValue",
    "DefinitionIssue",
    "IntRangeValue",
    "IntValue",
    "InvalidValue",
    "NoValue",
    "Operator",
    "Period",
    "PeriodUse",
    "SegmentDefinitionError",
    "SegmentRule",
    "ValueType",
    "register_segment_rule",
    "segment_count",
    "segment_definition_validate",
    "segment_member_ids",
    "segment_q",
    "segment_queryset",
    "segment_rule",
    "segment_rule_catalogue",
    "segment_rules",
]
