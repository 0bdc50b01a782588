"""The earn-rules page's forms: an EarnRule, and the programme's earning terms."""

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.models import Store
from loyalty.models import EarnRule, Programme

DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def _bootstrap(form: forms.BaseForm) -> None:
    """Bootstrap's classes on every widget, and is-invalid on a field with errors."""
    for name, field in form.fields.items():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput):
            css = "form-check-input"
        elif isinstance(widget, forms.Select | forms.SelectMultiple):
            css = "form-select"
        else:
            css = "form-control"
        if form.is_bound and name in form.errors:
            css += " is-invalid"
        widget.attrs["class"] = css
        widget.attrs["data-testid"] = f"field-{name}"


class EarnRuleForm(forms.ModelForm):
    stores = forms.ModelMultipleChoiceField(
        label=_("only in these stores"),
        queryset=Store.objects.order_by("code"),
        required=False,
        help_text=_("None chosen: every store."),
    )

    class Meta:
        model = EarnRule
        fields = ["name", "kind", "channel", "multiplier", "starts_at", "ends_at", "stores"]
        fields += ["is_active"]
        widgets = {"starts_at": DATETIME_INPUT, "ends_at": DATETIME_INPUT}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("starts_at", "ends_at"):
            self.fields[name].input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
        _bootstrap(self)

    def full_clean(self):
        super().full_clean()
        _bootstrap(self)

    def clean(self):
        data = super().clean()
        if data.get("kind") == EarnRule.Kind.CHANNEL and not data.get("channel"):
            self.add_error("channel", _("A sales-channel rule names its channel."))
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", _("The end must come after the start."))
        multiplier = data.get("multiplier")
        if multiplier is not None and multiplier < 0:
            self.add_error("multiplier", _("A multiplier cannot be negative."))
        return data


class ProgrammeTermsForm(forms.ModelForm):
    excluded_stores = forms.ModelMultipleChoiceField(
        label=_("stores where no points are earned"),
        queryset=Store.objects.order_by("code"),
        required=False,
    )

    class Meta:
        model = Programme
        fields = ["spend_per_point_twd", "min_order_twd", "expiry_months", "excluded_stores"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _bootstrap(self)

    def full_clean(self):
        super().full_clean()
        _bootstrap(self)

    def clean_spend_per_point_twd(self):
        value = self.cleaned_data["spend_per_point_twd"]
        if value < 1:
            raise forms.ValidationError(_("At least NT$1 per point."))
        return value

    def clean_expiry_months(self):
        value = self.cleaned_data["expiry_months"]
        if value < 1:
            raise forms.ValidationError(_("Points must last at least a month."))
        return value
