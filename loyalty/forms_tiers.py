"""The tiers page's forms: one row per tier (a formset: edit, add, remove) and the grace days.

What a save must keep (checked here, so the page answers beside the fields): one tier starts at
NT$0 (everyone has a tier), names and thresholds are unique, and a tier is removed only if no
member holds it and no tier change names it (the history keeps its tiers).
"""

from django import forms
from django.core.validators import RegexValidator
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from loyalty.models import PointsAccount, Tier, TierChange
from loyalty.services.tiers import TierIn

DEFAULT_COLOUR = "#6b7280"
ERROR_ENTRY_TIER = _("One tier must start at NT$0, so that every member has a tier.")
ERROR_NAME_TAKEN = _("Two tiers cannot have the same name.")
ERROR_THRESHOLD_TAKEN = _("Two tiers cannot start at the same spend.")
ERROR_IN_USE = _("Members hold this tier or its history names it: it cannot be removed.")
ERROR_GONE = _("This tier was removed meanwhile. Reload the page.")
ERROR_NO_TIERS = _("Keep at least one tier.")


class TierForm(forms.Form):
    id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    name = forms.CharField(label=_("name"), max_length=40)
    threshold_twd = forms.IntegerField(
        label=_("12-month net spend from (NT$)"), min_value=0, max_value=1_000_000_000
    )
    earn_multiplier = forms.DecimalField(
        label=_("points multiplier"), min_value=0, max_digits=4, decimal_places=2
    )
    colour = forms.CharField(
        label=_("colour"),
        initial=DEFAULT_COLOUR,
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", _("A colour like #6b7280."))],
        widget=forms.TextInput(attrs={"type": "color"}),
    )


class BaseTierFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        if any(self.errors):
            return
        kept = [f for f in self.forms if f.has_changed() or f.cleaned_data.get("id")]
        kept = [f for f in kept if not self._should_delete_form(f)]
        removed = [
            f for f in self.forms if self._should_delete_form(f) and f.cleaned_data.get("id")
        ]
        if not kept:
            raise forms.ValidationError(ERROR_NO_TIERS)
        existing = set(Tier.objects.values_list("pk", flat=True))
        for form in kept + removed:
            if form.cleaned_data.get("id") and form.cleaned_data["id"] not in existing:
                form.add_error(None, ERROR_GONE)
        for field, error in (("name", ERROR_NAME_TAKEN), ("threshold_twd", ERROR_THRESHOLD_TAKEN)):
            seen: set = set()
            for form in kept:
                value = form.cleaned_data[field]
                value = value.strip().casefold() if field == "name" else value
                if value in seen:
                    form.add_error(field, error)
                seen.add(value)
        if not any(form.cleaned_data["threshold_twd"] == 0 for form in kept):
            raise forms.ValidationError(ERROR_ENTRY_TIER)
        removed_ids = [form.cleaned_data["id"] for form in removed]
        in_use = set(
            PointsAccount.objects.filter(tier_id__in=removed_ids).values_list("tier_id", flat=True)
        ) | {
            tier_id
            for pair in TierChange.objects.filter(
                Q(from_tier_id__in=removed_ids) | Q(to_tier_id__in=removed_ids)
            ).values_list("from_tier_id", "to_tier_id")
            for tier_id in pair
        }
        blocked = [form for form in removed if form.cleaned_data["id"] in in_use]
        for form in blocked:
            form.add_error(None, ERROR_IN_USE)  # shown on its row
        if blocked:
            # A formset ignores the errors of the forms it deletes: say it for the whole form.
            raise forms.ValidationError(ERROR_IN_USE)

    def tiers(self) -> list[TierIn]:
        return [
            TierIn(
                pk=form.cleaned_data.get("id"),
                name=form.cleaned_data["name"].strip(),
                threshold_twd=form.cleaned_data["threshold_twd"],
                earn_multiplier=form.cleaned_data["earn_multiplier"],
                colour=form.cleaned_data["colour"].lower(),
            )
            for form in self.forms
            if (form.has_changed() or form.cleaned_data.get("id"))
            and not self._should_delete_form(form)
        ]

    def removed(self) -> list[int]:
        return [
            form.cleaned_data["id"]
            for form in self.forms
            if self._should_delete_form(form) and form.cleaned_data.get("id")
        ]


TierFormSet = forms.formset_factory(
    TierForm, formset=BaseTierFormSet, extra=1, can_delete=True, max_num=12, validate_max=True
)


class GraceForm(forms.Form):
    downgrade_grace_days = forms.IntegerField(
        label=_("days a member keeps a tier after falling below it"), min_value=0, max_value=3650
    )


def tier_initial(tiers) -> list[dict]:
    return [
        {
            "id": tier.pk,
            "name": tier.name,
            "threshold_twd": tier.threshold_twd,
            "earn_multiplier": tier.earn_multiplier,
            "colour": tier.colour,
        }
        for tier in tiers
    ]
