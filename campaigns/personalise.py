"""Personalisation fields ({{name}}, {{member_no}}, …): a registry later apps add to.

Each field answers for a whole batch of members with one bounded query (`fetch(member_ids)`),
so a batch of 500 messages costs one query per field it uses, never one per member. Loyalty adds
{{points}} and {{tier}} in its AppConfig.ready():

    register_personalisation_field(PersonalisationField(name="points", label=_("Points"),
                                                       sample="1,280", fetch=points_by_member))

`masked` says the value is personal data: a preview for a role that may not see personal data
shows the field masked, never the member's value.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from omnichannel.registry import Registry

FIELD_PATTERN = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class PersonalisationField:
    name: str
    label: str
    sample: str  # shown in a preview without a member
    fetch: Callable[[Iterable[int]], dict[int, str]]
    masked: bool = False  # personal data: masked in previews for roles without unmask
    # The longest realistic value, when longer than 10 characters (an SMS is checked with it).
    longest: str = ""
    url: bool = False  # the value is a whole https address: it may stand alone as a link


PERSONALISATION_FIELDS: Registry[PersonalisationField] = Registry(
    "personalisation field", key=lambda field: field.name
)


def register_personalisation_field(field: PersonalisationField) -> None:
    PERSONALISATION_FIELDS.register(field)


def personalisation_field_longest(name: str) -> str:
    """The field's longest realistic value as its registration gives it ("" when not given)."""
    field = next((field for field in PERSONALISATION_FIELDS.all() if field.name == name), None)
    return field.longest if field is not None else ""


def personalisation_url_field(text: str) -> bool:
    """The text is one field whose value is a whole address ("{{wallet_link}}")."""
    match = FIELD_PATTERN.fullmatch(text.strip())
    if match is None:
        return False
    return any(field.url and field.name == match.group(1) for field in PERSONALISATION_FIELDS.all())


def personalisation_field_names() -> set[str]:
    return {field.name for field in PERSONALISATION_FIELDS.all()}


def personalisation_values(
    *, member_ids: Iterable[int], names: Iterable[str]
) -> dict[int, dict[str, str]]:
    """{member_id: {field: value}} for the fields named, one query per field."""
    ids = list(member_ids)
    values: dict[int, dict[str, str]] = {member_id: {} for member_id in ids}
    fields = {field.name: field for field in PERSONALISATION_FIELDS.all()}
    for name in names:
        field = fields.get(name)
        if field is None:
            continue
        for member_id, value in field.fetch(ids).items():
            values.setdefault(member_id, {})[name] = value
    return values


def substitute_with(values: dict[str, str]) -> Callable[[str], str]:
    """A function that fills {{field}} placeholders from `values` ("" for a missing one)."""

    def substitute(text: str) -> str:
        return FIELD_PATTERN.sub(lambda match: values.get(match.group(1), ""), text)

    return substitute


def _names(member_ids: Iterable[int]) -> dict[int, str]:
    from crm.models import Member

    # A member without a name is greeted without one rather than with a blank.
    fallback = str(_("member"))
    return {
        pk: (name or fallback)
        for pk, name in Member.objects.filter(pk__in=list(member_ids)).values_list("pk", "name")
    }


def _member_numbers(member_ids: Iterable[int]) -> dict[int, str]:
    from crm.models import Member

    return dict(Member.objects.filter(pk__in=list(member_ids)).values_list("pk", "member_no"))


def register_campaign_personalisation_fields() -> None:
    register_personalisation_field(
        PersonalisationField(
            name="name", label=_("Name"), sample="王小明", fetch=_names, masked=True
        )
    )
    register_personalisation_field(
        PersonalisationField(
            name="member_no", label=_("Member number"), sample="M00012345", fetch=_member_numbers
        )
    )
