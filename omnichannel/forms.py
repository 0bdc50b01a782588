"""Forms of the project's own pages."""

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from omnichannel.audit import AuditFilters
from omnichannel.models import AuditEvent

SELECT = "form-select form-select-sm"
DATE = forms.DateInput(attrs={"type": "date", "class": "form-control form-control-sm"})


class AuditFilterForm(forms.Form):
    """The audit page's filters, read from the URL (a GET form)."""

    action = forms.ChoiceField(
        label=_("Action"),
        required=False,
        choices=[("", _("All actions")), *AuditEvent.Action.choices],
        widget=forms.Select(attrs={"class": SELECT}),
    )
    actor = forms.ModelChoiceField(
        label=_("Who"),
        required=False,
        queryset=get_user_model().objects.order_by("username"),
        empty_label=_("Everyone"),
        widget=forms.Select(attrs={"class": SELECT}),
    )
    since = forms.DateField(
        label=_("From"),
        required=False,
        widget=DATE,
    )
    until = forms.DateField(
        label=_("To"),
        required=False,
        widget=DATE,
    )

    def filters(self) -> AuditFilters:
        data = getattr(self, "cleaned_data", {})
        actor = data.get("actor")
        return AuditFilters(
            action=data.get("action") or "",
            actor_id=actor.pk if actor else None,
            since=data.get("since"),
            until=data.get("until"),
        )
