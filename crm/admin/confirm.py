"""Admin actions that ask for a reason first (merges, erasures): the reason goes on record."""

from django import forms
from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200)


def confirm_with_reason(modeladmin, request, queryset, *, action: str, title, apply) -> object:
    """An intermediate page asking for a reason; on a valid POST, `apply(reason)` runs.

    What the operator typed comes back on the page with the error when it does not validate.
    """
    form = ReasonForm(request.POST if "confirm" in request.POST else None)
    if form.is_valid():
        apply(form.cleaned_data["reason"])
        return None
    return TemplateResponse(
        request,
        "admin/crm/confirm_with_reason.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "objects": queryset,
            "form": form,
            "action": action,
            "opts": modeladmin.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        },
    )
