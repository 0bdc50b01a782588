"""The marketer's edits of how points are earned: earn rules and the programme's earning terms,
each saved with its audit event in one transaction (omnichannel.audit)."""

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_noop

from loyalty.earning import EarnContext, earn_context, rule_terms
from loyalty.models import EarnRule, Programme
from omnichannel.audit import audit_record

AUDIT_RULE_CREATED = gettext_noop("Earn rule %(name)s created")
AUDIT_RULE_CHANGED = gettext_noop("Earn rule %(name)s changed")
AUDIT_TERMS_CHANGED = gettext_noop(
    "Earning terms: NT$%(spend)s a point, minimum NT$%(minimum)s, expiry %(months)s months, "
    "%(excluded)s stores excluded"
)
TERM_FIELDS = ("spend_per_point_twd", "min_order_twd", "expiry_months")


@transaction.atomic
def earn_rule_save(
    *, rule: EarnRule | None, values: dict[str, Any], store_ids: Iterable[int], actor
) -> EarnRule:
    """Create (rule None) or change an earn rule with these field values and stores."""
    created = rule is None
    rule = rule or EarnRule()
    for field, value in values.items():
        setattr(rule, field, value)
    rule.updated_by = actor
    rule.full_clean(exclude=["stores", "updated_by"])
    rule.save()
    rule.stores.set(list(store_ids))
    audit_record(
        action="earn_rule.created" if created else "earn_rule.changed",
        actor=actor,
        object_type="loyalty.earnrule",
        object_id=rule.pk,
        summary=AUDIT_RULE_CREATED if created else AUDIT_RULE_CHANGED,
        summary_params={"name": rule.name},
    )
    return rule


@transaction.atomic
def programme_terms_save(
    *, values: dict[str, int], excluded_store_ids: Iterable[int], actor
) -> Programme:
    """Change the programme's earning terms (NT$ a point, minimum order, expiry, stores)."""
    programme = Programme.current()
    for field in TERM_FIELDS:
        setattr(programme, field, values[field])
    programme.updated_by = actor
    programme.save()
    excluded = sorted(set(excluded_store_ids))
    programme.excluded_stores.set(excluded)
    audit_record(
        action="programme.changed",
        actor=actor,
        object_type="loyalty.programme",
        object_id=programme.pk,
        summary=AUDIT_TERMS_CHANGED,
        summary_params={
            "spend": programme.spend_per_point_twd,
            "minimum": programme.min_order_twd,
            "months": programme.expiry_months,
            "excluded": len(excluded),
        },
    )
    return programme


def draft_with_rule(
    *, rule_id: int | None, values: dict[str, Any], store_ids: Iterable[int]
) -> EarnContext:
    """The rules in force with this rule as drafted (replacing the saved one, or added)."""
    draft = EarnRule(pk=rule_id, **values)
    others = [
        rule_terms(rule, [store.pk for store in rule.stores.all()])
        for rule in EarnRule.objects.filter(is_active=True)
        .exclude(pk=rule_id)
        .prefetch_related("stores")
    ]
    if draft.is_active:
        others.append(rule_terms(draft, list(store_ids)))
    return earn_context(rules=others)


def draft_with_terms(*, values: dict[str, int], excluded_store_ids: Iterable[int]) -> EarnContext:
    """The rules in force under these earning terms."""
    return replace(
        earn_context(),
        spend_per_point_twd=values["spend_per_point_twd"],
        min_order_twd=values["min_order_twd"],
        excluded_store_ids=frozenset(excluded_store_ids),
    )
