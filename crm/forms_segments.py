"""The segment builder's form: a nested AND/OR tree posted as flat fields, and back.

The whole builder is one HTML form, so it works without JavaScript (every button submits it)
and htmx only posts the same form on change. Each node of the tree has an id that spells its
place: the root group is ``n``, its second child ``n_1``, that child's first child ``n_1_0``.
The form repeats a hidden ``node`` input per node in document order (its value the id) and
``<id>-kind`` says group or rule. A group posts ``<id>-op``; a rule ``<id>-rule``,
``<id>-operator``, ``<id>-value`` (and ``<id>-value2`` for ranges), and, for rules that take
one, ``<id>-period`` ("", "last_days" or "range") with ``<id>-days``, ``<id>-from``, ``<id>-to``.

``definition_from_post`` turns that back into the crm.segments definition (JSON), keeping what
the user typed even when it is wrong, so crm.segments' checker names the problem and the
builder shows it beside the field. ``builder_nodes`` turns a definition into what the template
draws: for each rule its operators and a value widget chosen by the value's schema type, so a
rule type another app registers later gets a fitting widget without a change here.
"""

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.segments import (
    EMPTY_DEFINITION,
    ChoiceValue,
    PeriodUse,
    SegmentRule,
    segment_rule,
    segment_rules,
)
from crm.services.segments import NAME_MAX, NAME_REQUIRED, NAME_TOO_LONG

ROOT = "n"
NODE_ID = re.compile(r"^n(?:_\d{1,3}){0,6}$")
MAX_NODES = 200  # the engine allows 50 conditions; this bounds what a post can make us parse
DEFAULT_LAST_DAYS = 90
MANY_AS_CHECKBOXES = 12
ROOT_PATHS = (
    "definition",
    "op",
    "rules",
)  # longer choice lists (tags, stores) are a multi-select instead

# What a button asks the builder to do (name="action").
ACTION_ADD_RULE = "add-rule"
ACTION_ADD_GROUP = "add-group"
ACTION_REMOVE = "remove"
ACTION_SAVE = "save"
ACTION_COUNT = "count"

PERIOD_CHOICES = [
    ("", _("ever")),
    ("last_days", _("in the last N days")),
    ("range", _("between dates")),
]


class SegmentSaveForm(forms.Form):
    """Name and description; the rules are checked by crm.segments."""

    name = forms.CharField(
        label=pgettext_lazy("segment", "Name"),
        max_length=NAME_MAX,
        error_messages={"required": NAME_REQUIRED, "max_length": NAME_TOO_LONG},
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    description = forms.CharField(
        label=_("Description"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


# --- Post → definition ---------------------------------------------------------------------


def _node_ids(data: QueryDict) -> list[str]:
    ids = [node for node in data.getlist("node")[:MAX_NODES] if NODE_ID.match(node)]
    return ids if ROOT in ids else [ROOT, *ids]


def _parent(node_id: str) -> str:
    return node_id.rsplit("_", 1)[0]


def _int_or_raw(raw: str) -> Any:
    raw = raw.strip()
    try:
        return int(raw)
    except ValueError:
        return raw  # the checker says "Enter a whole number." and the builder shows it again


def _choice_from_raw(value_type: ChoiceValue, raw: str) -> Any:
    """The option whose text form is `raw` (option values may be ints, booleans, strings)."""
    if callable(value_type.choices):  # rows (tags, stores): ids, checked without a query
        return _int_or_raw(raw)
    for value, _label in value_type.options():
        if str(value) == raw:
            return value
    return raw


def _value_from_post(rule: SegmentRule, operator: str, data: QueryDict, node_id: str) -> Any:
    value_type = rule.operators[operator].value
    raw, raw2 = data.get(f"{node_id}-value", ""), data.get(f"{node_id}-value2", "")
    if isinstance(value_type, ChoiceValue):
        if value_type.many:
            return [_choice_from_raw(value_type, item) for item in data.getlist(f"{node_id}-value")]
        return _choice_from_raw(value_type, raw)
    kind = value_type.schema()["type"]
    if kind == "none":
        return None
    if kind == "boolean":
        return {"true": True, "false": False}.get(raw, raw)
    if kind == "integer":
        return _int_or_raw(raw)
    if kind == "integer_range":
        return [_int_or_raw(raw), _int_or_raw(raw2)]
    if kind == "date_range":
        return [raw.strip(), raw2.strip()]
    return raw.strip()  # date, and any text-like type another app adds


def _period_from_post(rule: SegmentRule, data: QueryDict, node_id: str) -> dict | None:
    if rule.period == PeriodUse.NONE:
        return None
    kind = data.get(f"{node_id}-period", "")
    if kind == "" and rule.period == PeriodUse.REQUIRED:
        kind = "last_days"
    if kind == "last_days":
        return {"last_days": _int_or_raw(data.get(f"{node_id}-days", ""))}
    if kind == "range":
        return {
            "from": data.get(f"{node_id}-from", "").strip() or None,
            "to": data.get(f"{node_id}-to", "").strip() or None,
        }
    return None


def _condition_from_post(data: QueryDict, node_id: str) -> dict:
    rule = segment_rule(data.get(f"{node_id}-rule", "")) or segment_rules()[0]
    operator = data.get(f"{node_id}-operator", "")
    # What the builder drew last time: a new rule type starts afresh, and a new operator
    # whose value has another shape starts from that shape's default.
    was_rule, _sep, was_operator = data.get(f"{node_id}-shape", "").partition(":")
    if operator not in rule.operators or was_rule != rule.key:
        return new_condition(rule)
    condition: dict[str, Any] = {"rule": rule.key, "operator": operator}
    if was_operator != operator and _value_kind(rule, operator) != data.get(f"{node_id}-vkind"):
        value = default_value(rule, operator)
    else:
        value = _value_from_post(rule, operator, data, node_id)
    if value is not None:
        condition["value"] = value
    period = _period_from_post(rule, data, node_id)
    if period is not None:
        condition["period"] = period
    return condition


def definition_from_post(data: QueryDict) -> dict:
    """The builder's fields as a definition (unchecked: crm.segments checks it)."""
    nodes: dict[str, dict] = {}
    for node_id in _node_ids(data):
        if node_id != ROOT and _parent(node_id) not in nodes:
            continue  # an orphan (a tampered post): dropped
        if node_id == ROOT or data.get(f"{node_id}-kind") == "group":
            op = data.get(f"{node_id}-op", "and")
            node = {"op": op if op in ("and", "or") else "and", "rules": []}
        else:
            node = _condition_from_post(data, node_id)
        nodes[node_id] = node
        if node_id != ROOT:
            nodes[_parent(node_id)].setdefault("rules", []).append(node)
    return nodes[ROOT]


# --- Actions -------------------------------------------------------------------------------


def _node_at(definition: dict, node_id: str) -> tuple[dict | None, list | None, int]:
    """(node, the list holding it, its index) for an id; (None, None, -1) when there is none."""
    if node_id == ROOT:
        return definition, None, -1
    node, holder, index = definition, None, -1
    for part in node_id.split("_")[1:]:
        children = node.get("rules") if isinstance(node, dict) else None
        index = int(part)
        if not isinstance(children, list) or index >= len(children):
            return None, None, -1
        holder, node = children, children[index]
    return node, holder, index


def builder_apply(definition: dict, action: str) -> dict:
    """Apply a builder button ("add-rule:n_1", "add-group:n", "remove:n_0") to a definition."""
    verb, _sep, node_id = action.partition(":")
    node, holder, index = _node_at(definition, node_id) if NODE_ID.match(node_id) else (None,) * 3
    if node is None:
        return definition
    if verb in (ACTION_ADD_RULE, ACTION_ADD_GROUP) and "rules" in node:
        if verb == ACTION_ADD_RULE:
            node["rules"].append(new_condition(segment_rules()[0]))
        else:
            node["rules"].append({"op": "or", "rules": [new_condition(segment_rules()[0])]})
    elif verb == ACTION_REMOVE and holder is not None:
        del holder[index]
    return definition


def new_condition(rule: SegmentRule) -> dict:
    """A rule as first added: its first operator and a value that is valid where one exists."""
    operator = next(iter(rule.operators))
    condition: dict[str, Any] = {"rule": rule.key, "operator": operator}
    value = default_value(rule, operator)
    if value is not None:
        condition["value"] = value
    if rule.period == PeriodUse.REQUIRED:
        condition["period"] = {"last_days": DEFAULT_LAST_DAYS}
    return condition


def _value_kind(rule: SegmentRule, operator: str) -> str:
    value_type = rule.operators[operator].value
    if isinstance(value_type, ChoiceValue):
        return "choices" if value_type.many else "choice"
    return value_type.schema()["type"]


def default_value(rule: SegmentRule, operator: str) -> Any:
    value_type = rule.operators[operator].value
    kind = _value_kind(rule, operator)
    today = timezone.localdate()
    if kind in ("choice", "choices"):
        first = value_type.options()[0][0] if value_type.options() else ""
        return [first] if kind == "choices" else first
    schema = value_type.schema()
    if kind == "integer":
        return max(schema.get("min", 0), 1)
    if kind == "integer_range":
        low = schema.get("min", 0)
        return [low, low + 1]
    if kind == "date":
        return today.isoformat()
    if kind == "date_range":
        return [(today - timedelta(days=30)).isoformat(), today.isoformat()]
    if kind == "boolean":
        return True
    return None


# --- Definition → what the template draws --------------------------------------------------


@dataclass
class ValueWidget:
    kind: str  # none, boolean, integer, integer_range, date, date_range, choice, choices, text
    value: Any = None
    value2: Any = None
    selected: set[str] = field(default_factory=set)
    options: list[tuple[str, str]] = field(default_factory=list)
    unit: str = ""
    minimum: int | None = None
    maximum: int | None = None
    as_checkboxes: bool = False


@dataclass
class BuilderNode:
    id: str
    path: str  # the crm.segments error path of this node ("rules[1].rules[0]")
    depth: int
    is_group: bool
    op: str = "and"
    children: list["BuilderNode"] = field(default_factory=list)
    rule: SegmentRule | None = None
    operator: str = ""
    operators: list[tuple[str, str]] = field(default_factory=list)
    widget: ValueWidget | None = None
    takes_period: bool = False
    period_required: bool = False
    period_kind: str = ""
    period_days: Any = DEFAULT_LAST_DAYS
    period_from: str = ""
    period_to: str = ""
    errors: list[str] = field(default_factory=list)
    raw_rule: str = ""  # an unknown rule key, shown so the marketer can replace it

    @property
    def shape(self) -> str:
        return f"{self.rule.key}:{self.operator}" if self.rule else ""

    @property
    def value_kind(self) -> str:
        return self.widget.kind if self.widget else ""

    @property
    def can_nest(self) -> bool:
        return self.is_group and self.depth < 2  # a top-level group of rules and groups

    @property
    def period_choices(self) -> list:
        return PERIOD_CHOICES[1:] if self.period_required else PERIOD_CHOICES


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _widget(rule: SegmentRule, operator: str, value: Any) -> ValueWidget:
    value_type = rule.operators[operator].value
    schema = value_type.schema()
    kind = _value_kind(rule, operator)
    widget = ValueWidget(kind=kind, unit=str(schema.get("unit", "")))
    widget.minimum, widget.maximum = schema.get("min"), schema.get("max")
    if kind in ("choice", "choices"):
        widget.options = [(_text(v), str(label)) for v, label in schema.get("choices", [])]
        values = value if isinstance(value, list | tuple) else [value]
        widget.selected = {_text(v) for v in values}
        widget.as_checkboxes = kind == "choices" and len(widget.options) <= MANY_AS_CHECKBOXES
    elif kind in ("integer_range", "date_range"):
        pair = value if isinstance(value, list | tuple) and len(value) == 2 else ["", ""]
        widget.value, widget.value2 = _text(pair[0]), _text(pair[1])
    elif kind == "boolean":
        widget.value = {True: "true", False: "false"}.get(value, _text(value))
    elif kind != "none":
        widget.value = "" if isinstance(value, list | dict) else _text(value)
        if kind not in ("integer", "date"):
            widget.kind = "text"
    return widget


def _errors_at(errors: dict[str, str], path: str, *, group: bool) -> list[str]:
    """The messages crm.segments gave for this node (a group: its own, not its children's)."""
    if not path:  # the root group
        return [message for where, message in errors.items() if where in ROOT_PATHS]
    found = []
    for where, message in errors.items():
        tail = where[len(path) + 1 :] if where.startswith(f"{path}.") else None
        if where == path or (tail is not None and (not group or tail in ("op", "rules"))):
            found.append(message)
    return found


class _Describer:
    """Builds BuilderNodes, asking each rule's choices (tags, stores: a query) once."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors

    def node(self, raw: Any, node_id: str, path: str, depth: int) -> BuilderNode:
        if isinstance(raw, dict) and "rule" not in raw:
            node = BuilderNode(id=node_id, path=path, depth=depth, is_group=True)
            node.op = raw.get("op") if raw.get("op") in ("and", "or") else "and"
            children = raw.get("rules") if isinstance(raw.get("rules"), list) else []
            prefix = f"{path}.rules" if path else "rules"
            node.children = [
                self.node(child, f"{node_id}_{i}", f"{prefix}[{i}]", depth + 1)
                for i, child in enumerate(children)
            ]
            node.errors = _errors_at(self.errors, path, group=True)
            return node
        raw = raw if isinstance(raw, dict) else {}
        node = BuilderNode(id=node_id, path=path, depth=depth, is_group=False)
        node.errors = _errors_at(self.errors, path, group=False)
        rule = segment_rule(raw.get("rule")) if isinstance(raw.get("rule"), str) else None
        if rule is None:
            node.raw_rule = _text(raw.get("rule"))
            rule = segment_rules()[0]
            raw = new_condition(rule)
        node.rule = rule
        node.operator = raw.get("operator") if raw.get("operator") in rule.operators else ""
        if not node.operator:
            node.operator = next(iter(rule.operators))
            raw = {**raw, "value": default_value(rule, node.operator)}
        node.operators = [(key, str(op.label)) for key, op in rule.operators.items()]
        node.widget = _widget(rule, node.operator, raw.get("value"))
        node.takes_period = rule.period != PeriodUse.NONE
        node.period_required = rule.period == PeriodUse.REQUIRED
        period = raw.get("period")
        if isinstance(period, dict) and "last_days" in period:
            node.period_kind, node.period_days = "last_days", _text(period["last_days"])
        elif isinstance(period, dict):
            node.period_kind = "range"
            node.period_from, node.period_to = _text(period.get("from")), _text(period.get("to"))
        elif node.period_required:
            node.period_kind = "last_days"
        return node


def builder_tree(definition: Any, errors: dict[str, str] | None = None) -> BuilderNode:
    """The definition as nodes for the template, each with its errors (crm.segments paths)."""
    if not isinstance(definition, dict) or "rules" not in definition:
        definition = EMPTY_DEFINITION
    return _Describer(errors or {}).node(definition, ROOT, "", 1)


def builder_node_errors(definition: Any, errors: dict[str, str]) -> list[tuple[str, list[str]]]:
    """(node id, its errors) for every node, without drawing widgets (no query): the count
    endpoint swaps these in beside the fields."""
    found: list[tuple[str, list[str]]] = []

    def walk(raw: Any, node_id: str, path: str) -> None:
        group = isinstance(raw, dict) and "rule" not in raw
        found.append((node_id, _errors_at(errors, path, group=group)))
        children = raw.get("rules") if group else None
        for i, child in enumerate(children if isinstance(children, list) else []):
            walk(child, f"{node_id}_{i}", f"{path}.rules[{i}]" if path else f"rules[{i}]")

    walk(definition, ROOT, "")
    return found


def rule_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Rule types grouped by category, for the rule select (labels only: no query)."""
    grouped: dict[str, list[tuple[str, str]]] = {}
    for rule in segment_rules():
        grouped.setdefault(str(rule.category), []).append((rule.key, str(rule.label)))
    return list(grouped.items())
