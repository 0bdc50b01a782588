"""A segment definition (JSON) → checked → one queryset over active members.

The shape, stored in `Segment.definition` and sent by the builder UI:

    group     = {"op": "and" | "or", "rules": [group | condition, ...]}
    condition = {"rule": "<rule key>", "operator": "<operator key>", "value": <per operator>,
                 "period": {"last_days": 90} | {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}}

The root is a group. "period" only on rules that take one (spend, orders, purchased in
channel); "from" or "to" alone is an open range, both days included, in Asia/Taipei. An empty
group adds no condition (the empty definition is every active member). Anything else is an
error naming its place, e.g. `rules[1].rules[0].value: Enter a whole number.`

`segment_queryset` compiles to `Member.objects.filter(status=active).filter(<one Q>)`: rules
become lookups, joins to MemberStats, or `pk IN (<set-wise subquery>)`, so a count is one SQL
query however many rules there are.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Member
from crm.segments.registry import (
    CompileContext,
    InvalidValue,
    Period,
    PeriodUse,
    segment_rule,
)

GROUP_OPS = ("and", "or")
MAX_DEPTH = 5
MAX_CONDITIONS = 50
MAX_PERIOD_DAYS = 3_660
MEMBER_IDS_CHUNK = 5_000

EMPTY_DEFINITION: dict = {"op": "and", "rules": []}


@dataclass(frozen=True)
class DefinitionIssue:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class SegmentDefinitionError(ValueError):
    """The definition cannot be compiled; `issues` name each bad place and why."""

    def __init__(self, issues: list[DefinitionIssue]):
        self.issues = issues
        super().__init__("; ".join(map(str, issues)))

    def as_dict(self) -> dict[str, str]:
        """{path: message}: what a builder UI shows beside each rule."""
        return {issue.path: str(issue.message) for issue in self.issues}


# --- Checking ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Condition:
    rule: str
    operator: str
    value: Any
    period: dict | None


@dataclass(frozen=True)
class _Group:
    op: str
    children: tuple["_Group | _Condition", ...]


class _Checker:
    def __init__(self) -> None:
        self.issues: list[DefinitionIssue] = []
        self.conditions = 0

    def fail(self, path: str, message: Any) -> None:
        self.issues.append(DefinitionIssue(path or "definition", str(message)))

    def group(self, node: Any, path: str, depth: int) -> _Group | None:
        if not isinstance(node, dict):
            self.fail(path, _('Expected a group: {"op": "and" or "or", "rules": [...]}.'))
            return None
        unknown = set(node) - {"op", "rules"}
        if unknown:
            self.fail(path, _("Unknown keys: %(keys)s.") % {"keys": ", ".join(sorted(unknown))})
        op = node.get("op")
        if op not in GROUP_OPS:
            self.fail(_join(path, "op"), _('Choose "and" or "or".'))
        rules = node.get("rules")
        if not isinstance(rules, list):
            self.fail(_join(path, "rules"), _("Expected a list of rules and groups."))
            return None
        if depth > MAX_DEPTH:
            self.fail(path, _("Groups nest at most %(n)s deep.") % {"n": MAX_DEPTH})
            return None
        children = []
        for index, child in enumerate(rules):
            child_path = f"{_join(path, 'rules')}[{index}]"
            if isinstance(child, dict) and "rule" in child:
                checked = self.condition(child, child_path)
            elif isinstance(child, dict) and "rules" in child:
                checked = self.group(child, child_path, depth + 1)
            else:
                self.fail(child_path, _("Expected a rule or a group."))
                checked = None
            if checked is not None:
                children.append(checked)
        return _Group(op=op, children=tuple(children))

    def condition(self, node: dict, path: str) -> _Condition | None:
        self.conditions += 1
        if self.conditions == MAX_CONDITIONS + 1:
            self.fail(path, _("A segment has at most %(n)s rules.") % {"n": MAX_CONDITIONS})
        unknown = set(node) - {"rule", "operator", "value", "period"}
        if unknown:
            self.fail(path, _("Unknown keys: %(keys)s.") % {"keys": ", ".join(sorted(unknown))})
        rule = segment_rule(node["rule"]) if isinstance(node["rule"], str) else None
        if rule is None:
            self.fail(
                _join(path, "rule"), _("Unknown rule %(rule)s.") % {"rule": repr(node["rule"])}
            )
            return None
        operator = rule.operators.get(node.get("operator"))  # type: ignore[arg-type]
        if operator is None:
            self.fail(
                _join(path, "operator"),
                _("%(rule)s has no operator %(operator)s; choose one of: %(operators)s.")
                % {
                    "rule": rule.label,
                    "operator": repr(node.get("operator")),
                    "operators": ", ".join(rule.operators),
                },
            )
            return None
        ok = True
        try:
            value = operator.value.clean(node.get("value"))
        except InvalidValue as error:
            self.fail(_join(path, "value"), error)
            ok = False
        period = node.get("period")
        if rule.period == PeriodUse.NONE and period is not None:
            self.fail(_join(path, "period"), _("This rule takes no period."))
            ok = False
        elif rule.period == PeriodUse.REQUIRED and period is None:
            self.fail(_join(path, "period"), _("Choose a period."))
            ok = False
        elif period is not None:
            try:
                period = _clean_period(period)
            except InvalidValue as error:
                self.fail(_join(path, "period"), error)
                ok = False
        return _Condition(rule.key, node["operator"], value, period) if ok else None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _clean_period(raw: Any) -> dict:
    if not isinstance(raw, dict) or not raw or set(raw) - {"last_days", "from", "to"}:
        raise InvalidValue(
            _('Expected {"last_days": N} or {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}.')
        )
    if "last_days" in raw:
        days = raw["last_days"]
        if set(raw) != {"last_days"}:
            raise InvalidValue(_("Give either the last N days or dates, not both."))
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_PERIOD_DAYS:
            raise InvalidValue(
                _("The last N days: a whole number from 1 to %(n)s.") % {"n": MAX_PERIOD_DAYS}
            )
        return {"last_days": days}
    dates = {}
    for key in ("from", "to"):
        if raw.get(key) is not None:
            try:
                dates[key] = date.fromisoformat(raw[key])
            except (TypeError, ValueError):
                raise InvalidValue(_("Enter a date as YYYY-MM-DD.")) from None
    if not dates:
        raise InvalidValue(_("Give a first day, a last day, or both."))
    if "from" in dates and "to" in dates and dates["from"] > dates["to"]:
        raise InvalidValue(_("The first date must not be after the second."))
    return dates


def _check(definition: Any) -> _Group:
    checker = _Checker()
    tree = checker.group(definition, "", 1)
    if checker.issues or tree is None:
        raise SegmentDefinitionError(checker.issues)
    return tree


def segment_definition_validate(definition: Any) -> None:
    """Raise SegmentDefinitionError (every problem, each with its path) unless the definition
    compiles. Touches no database."""
    _check(definition)


# --- Compiling -----------------------------------------------------------------------------


def day_start(day: date) -> datetime:
    """Midnight of a day in the project's time zone (Asia/Taipei)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _period(raw: dict | None, context: CompileContext) -> Period | None:
    if raw is None:
        return None
    if "last_days" in raw:
        return Period(start=context.now - timedelta(days=raw["last_days"]), end=None)
    first, last = raw.get("from"), raw.get("to")
    return Period(
        start=day_start(first) if first else None,
        end=day_start(last + timedelta(days=1)) if last else None,
    )


def _compile(node: _Group | _Condition, context: CompileContext) -> tuple[Q | None, bool]:
    """(Q or None for no condition, whether the Q reads member columns only)."""
    if isinstance(node, _Condition):
        rule = segment_rule(node.rule)
        if rule is None:  # unregistered between check and compile: only in a broken test
            raise SegmentDefinitionError([DefinitionIssue("rule", f"unknown {node.rule!r}")])
        period = _period(node.period, context)
        return rule.compile(node.operator, node.value, period, context), rule.member_columns_only
    compiled = [(q, plain) for q, plain in (_compile(c, context) for c in node.children) if q]
    if not compiled:
        return None, True  # an empty group adds no condition
    plain = all(plain for _q, plain in compiled)
    if len(compiled) == 1:
        return compiled[0]
    if node.op == "and":
        combined = Q()
        for q, _plain in compiled:
            combined &= q
        return combined, plain
    if plain:
        combined = Q()
        for q, _plain in compiled:
            combined |= q
        return combined, True
    # An OR over joins and subqueries: PostgreSQL cannot turn a subquery under OR into a
    # join, so it would probe it once per member. A UNION of each branch's members keeps
    # every branch set-wise (semi-joins, hash joins) and is joined back once.
    branches = [Member.objects.filter(q).values("pk") for q, _plain in compiled]
    return Q(pk__in=branches[0].union(*branches[1:])), False


def segment_q(definition: Any, *, now: datetime | None = None) -> Q:
    """The definition as one Q over Member (active-ness not included)."""
    now = now or timezone.now()
    context = CompileContext(now=now, today=timezone.localdate(now))
    return _compile(_check(definition), context)[0] or Q()


def segment_queryset(definition: Any, *, now: datetime | None = None) -> QuerySet[Member]:
    """Active members matching the definition: one queryset, unordered.

    Raises SegmentDefinitionError. `now` fixes "last N days", ages and birthdays (tests).
    """
    members = Member.objects.filter(status=Member.Status.ACTIVE)
    return members.filter(segment_q(definition, now=now))


def segment_count(definition: Any, *, now: datetime | None = None) -> int:
    """How many active members match (one SQL query). Raises SegmentDefinitionError."""
    return segment_queryset(definition, now=now).count()


def segment_member_ids(
    definition: Any, *, now: datetime | None = None, chunk_size: int = MEMBER_IDS_CHUNK
) -> Iterator[int]:
    """Matching member ids in ascending pk order, streamed from one query (a server-side
    cursor on PostgreSQL), for campaigns to snapshot an audience.

    The definition is checked before the first id is asked for, so a bad one raises
    SegmentDefinitionError at the call, not mid-iteration.
    """
    ids = segment_queryset(definition, now=now).order_by("pk").values_list("pk", flat=True)
    return ids.iterator(chunk_size=chunk_size)
