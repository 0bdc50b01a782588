"""API keys of the brand's systems."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from crm import resources
from crm.admin.base import BoundedAdmin
from crm.models import ApiKey
from crm.services.api_keys import api_key_create, api_key_revoke, api_key_scopes_set
from omnichannel.api.scopes import DEFAULT_SCOPES, Scope


class ApiKeyForm(forms.ModelForm):
    """Scopes as checkboxes, not the JSON text a JSONField would show."""

    scopes = forms.MultipleChoiceField(
        label=_("scopes"),
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=list(DEFAULT_SCOPES),
        help_text=_("What the key may do; a call needing another scope is refused (403)."),
    )

    class Meta:
        model = ApiKey
        fields = ("name", "channel", "scopes")


@admin.register(ApiKey)
class ApiKeyAdmin(BoundedAdmin):
    """Keys of the brand's systems: made here (the key is shown once), listed, revoked."""

    bulk_delete = True
    resource_classes = (resources.ApiKeyResource,)
    export_permission = None
    form = ApiKeyForm
    list_display = (
        "name",
        "channel",
        "scopes_shown",
        "key_prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("channel", ("revoked_at", admin.EmptyFieldListFilter))
    list_select_related = ("created_by",)
    search_fields = ("name", "=prefix")
    actions = ("revoke_keys",)

    @admin.display(description=_("key starts with"), ordering="prefix")
    def key_prefix(self, obj: ApiKey) -> str:
        return f"{obj.prefix}…"

    @admin.display(description=_("scopes"))
    def scopes_shown(self, obj: ApiKey) -> str:
        # The scopes' own names, as create_api_key --scope and the API's 403 spell them.
        return ", ".join(obj.scopes or []) or "—"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "channel", "scopes")
        return (
            "name",
            "channel",
            "scopes",
            "key_prefix",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
            "revoked_by",
        )

    def get_readonly_fields(self, request, obj=None):
        # Only the scopes of a key change: to change its channel, make a new key and revoke
        # this one. A revoked key stays as it was.
        if obj is None:
            return ()
        fields = self.get_fields(request, obj)
        return fields if obj.revoked else tuple(f for f in fields if f != "scopes")

    def save_model(self, request, obj, form, change):
        if change:
            if "scopes" in form.changed_data:
                api_key_scopes_set(
                    api_key=obj, scopes=form.cleaned_data["scopes"], actor=request.user
                )
            return
        # The form has checked the name, channel and scopes api_key_create checks again.
        api_key, key = api_key_create(
            name=obj.name,
            channel=obj.channel,
            actor=request.user,
            scopes=form.cleaned_data["scopes"],
        )
        obj.pk = api_key.pk
        for name in ("prefix", "scopes", "secret_hash", "created_by", "created_at"):
            setattr(obj, name, getattr(api_key, name))
        self.message_user(
            request,
            _("Copy the key for %(name)s now; it is shown only this once: %(key)s")
            % {"name": api_key.name, "key": key},
            messages.WARNING,
        )

    @admin.action(description=_("Revoke the selected keys"), permissions=["change"])
    def revoke_keys(self, request, queryset):
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True).order_by("pk"):
            api_key_revoke(api_key=api_key, actor=request.user)
            revoked += 1
        self.message_user(
            request, ngettext("Revoked %d key.", "Revoked %d keys.", revoked) % revoked
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        # Revoke instead: the row is the record of which system could write, and since when.
        return False
