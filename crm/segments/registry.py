"""The registry of segment rule types: crm registers its own, other apps add theirs.

A rule type says what a marketer can ask about a member ("home store", "spend in a period"),
which operators it offers, what value each operator takes (validated here, with a message a
user can act on), and how to turn a checked condition into a `Q` over `Member`. crm imports no
other app: loyalty registers "tier" or "points" from its AppConfig.ready() with
`register_segment_rule(SegmentRule(...))`, and its rules compile into the same single query.

A compile function gets (operator, value, period, context) with the value already cleaned by
the operator's `ValueType` and must return a `Q` that Django can put in ONE query over active
members: plain lookups, joins along single-valued relations, `pk__in=<subquery>` or
`Exists(...)`. Never evaluate a queryset in it, never loop over members.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db.models import Q
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from omnichannel.registry import Registry

Label = str | Promise


class InvalidValue(ValueError):
    """A value a marketer gave does not fit: the message says what would (shown to users)."""


@dataclass(frozen=True)
class Period:
    """A purchase period: since a moment (`last_days`) or between two dates (inclusive)."""

    start: datetime | None
    end: datetime | None  # exclusive


@dataclass(frozen=True)
class CompileContext:
    """When the definition is compiled: 'last 90 days' and ages count from here."""

    now: datetime
    today: date


# --- Values --------------------------------------------------------------------------------


class ValueType:
    """What an operator's value looks like: `clean` checks it, `schema` describes it to a UI."""

    def clean(self, raw: Any) -> Any:
        raise NotImplementedError

    def schema(self) -> dict:
        raise NotImplementedError


def _is_int(raw: Any) -> bool:
    return isinstance(raw, int) and not isinstance(raw, bool)


@dataclass(frozen=True)
class NoValue(ValueType):
    def clean(self, raw: Any) -> None:
        if raw not in (None, "", []):
            raise InvalidValue(_("This operator takes no value."))
        return None

    def schema(self) -> dict:
        return {"type": "none"}


@dataclass(frozen=True)
class BoolValue(ValueType):
    def clean(self, raw: Any) -> bool:
        if not isinstance(raw, bool):
            raise InvalidValue(_("Choose yes or no."))
        return raw

    def schema(self) -> dict:
        return {"type": "boolean"}


@dataclass(frozen=True)
class IntValue(ValueType):
    minimum: int = 0
    maximum: int = 10**12
    unit: Label = ""

    def clean(self, raw: Any) -> int:
        if not _is_int(raw):
            raise InvalidValue(_("Enter a whole number."))
        if not self.minimum <= raw <= self.maximum:
            raise InvalidValue(
                _("Enter a number from %(minimum)s to %(maximum)s.")
                % {"minimum": f"{self.minimum:,}", "maximum": f"{self.maximum:,}"}
            )
        return raw

    def schema(self) -> dict:
        return {
            "type": "integer",
            "min": self.minimum,
            "max": self.maximum,
            "unit": str(self.unit),
        }


@dataclass(frozen=True)
class IntRangeValue(ValueType):
    """[low, high], both included."""

    minimum: int = 0
    maximum: int = 10**12
    unit: Label = ""

    def clean(self, raw: Any) -> tuple[int, int]:
        if not isinstance(raw, list | tuple) or len(raw) != 2:
            raise InvalidValue(_("Enter two numbers: from and to."))
        number = IntValue(self.minimum, self.maximum)
        low, high = number.clean(raw[0]), number.clean(raw[1])
        if low > high:
            raise InvalidValue(_("The first number must not be larger than the second."))
        return low, high

    def schema(self) -> dict:
        return {
            "type": "integer_range",
            "min": self.minimum,
            "max": self.maximum,
            "unit": str(self.unit),
        }


def _clean_date(raw: Any) -> date:
    if not isinstance(raw, str):
        raise InvalidValue(_("Enter a date as YYYY-MM-DD."))
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidValue(_("Enter a date as YYYY-MM-DD.")) from None


@dataclass(frozen=True)
class DateValue(ValueType):
    def clean(self, raw: Any) -> date:
        return _clean_date(raw)

    def schema(self) -> dict:
        return {"type": "date"}


@dataclass(frozen=True)
class DateRangeValue(ValueType):
    """[first day, last day], both included."""

    def clean(self, raw: Any) -> tuple[date, date]:
        if not isinstance(raw, list | tuple) or len(raw) != 2:
            raise InvalidValue(_("Enter two dates: from and to."))
        first, last = _clean_date(raw[0]), _clean_date(raw[1])
        if first > last:
            raise InvalidValue(_("The first date must not be after the second."))
        return first, last

    def schema(self) -> dict:
        return {"type": "date_range"}


Choices = Sequence[tuple[Any, Label]]


@dataclass(frozen=True)
class ChoiceValue(ValueType):
    """One of `choices` (or a non-empty list of them with many=True).

    `choices` may be a callable (tags and stores are rows: read when a UI asks for the
    catalogue); then `accepts` checks a value's type without a query, so validating a
    definition never touches the database, and an id that no longer exists matches nobody.
    """

    choices: Choices | Callable[[], Choices]
    many: bool = False
    accepts: Callable[[Any], bool] | None = None

    def options(self) -> Choices:
        return self.choices() if callable(self.choices) else self.choices

    def _clean_one(self, raw: Any) -> Any:
        if self.accepts is not None:
            if not self.accepts(raw):
                raise InvalidValue(_("%(value)s is not one of the choices.") % {"value": repr(raw)})
            return raw
        allowed = [value for value, _label in self.options()]
        if raw not in allowed or isinstance(raw, bool) != any(isinstance(a, bool) for a in allowed):
            raise InvalidValue(
                _("%(value)s is not one of the choices: %(choices)s.")
                % {"value": repr(raw), "choices": ", ".join(map(str, allowed))}
            )
        return raw

    def clean(self, raw: Any) -> Any:
        if not self.many:
            return self._clean_one(raw)
        if not isinstance(raw, list | tuple) or not raw:
            raise InvalidValue(_("Choose at least one."))
        cleaned = [self._clean_one(item) for item in raw]
        return tuple(dict.fromkeys(cleaned))  # keep order, drop repeats

    def schema(self) -> dict:
        return {
            "type": "choices" if self.many else "choice",
            "choices": [[value, str(label)] for value, label in self.options()],
        }


def positive_id(raw: Any) -> bool:
    return _is_int(raw) and raw > 0


# --- Rules ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operator:
    label: Label
    value: ValueType = field(default_factory=NoValue)


class PeriodUse:
    NONE = "none"  # the rule takes no period
    OPTIONAL = "optional"  # no period: ever
    REQUIRED = "required"


CompileFunction = Callable[[str, Any, Period | None, CompileContext], Q]


@dataclass(frozen=True)
class SegmentRule:
    """One kind of condition. `key` is stored in saved definitions: never rename it."""

    key: str
    label: Label
    category: Label
    operators: Mapping[str, Operator]
    compile: CompileFunction
    period: str = PeriodUse.NONE
    help_text: Label = ""
    # True when compile() only reads columns of the member row (no join, no subquery): an OR
    # of such conditions stays a plain OR; any other OR becomes a UNION of member sets.
    member_columns_only: bool = False

    def describe(self) -> dict:
        """The rule as a UI needs it (JSON-able, labels in the active language)."""
        return {
            "key": self.key,
            "label": str(self.label),
            "category": str(self.category),
            "help_text": str(self.help_text),
            "period": self.period,
            "operators": [
                {"key": key, "label": str(op.label), "value": op.value.schema()}
                for key, op in self.operators.items()
            ],
        }


SEGMENT_RULES: Registry[SegmentRule] = Registry("segment rule", key=lambda rule: rule.key)


def register_segment_rule(rule: SegmentRule) -> None:
    """Add a rule type (from an AppConfig.ready()). Raises AlreadyRegistered for a key that is
    taken: saved segments name rules by key, so a second rule must not replace the first."""
    if not rule.operators:
        raise ValueError(f"segment rule {rule.key!r} offers no operator")
    SEGMENT_RULES.register(rule)


def segment_rule(key: str) -> SegmentRule | None:
    return SEGMENT_RULES.get(key)


def segment_rules() -> list[SegmentRule]:
    """Every registered rule type, in registration order."""
    return SEGMENT_RULES.all()


def segment_rule_catalogue() -> list[dict]:
    """Every rule type described for a builder UI (see SegmentRule.describe)."""
    return [rule.describe() for rule in SEGMENT_RULES]
