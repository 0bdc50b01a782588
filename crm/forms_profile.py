"""Forms of the 360° profile. They check shapes; the crm services decide and raise."""

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.models import BirthdayCalendar, Consent, Gender, Store
from crm.services.profiles import NOTE_MAX_LENGTH, TAG_MAX_LENGTH
from omnichannel.channels import MessagingChannel

REASON_MAX_LENGTH = 200


class ContactForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, required=False)
    birthday = forms.DateField(
        label=_("Birthday"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    birthday_calendar = forms.ChoiceField(
        label=_("Celebrates by"),
        choices=BirthdayCalendar.choices,
        required=False,
        help_text=_("Lunar: birthday offers follow the lunar date of the birthday."),
    )
    gender = forms.ChoiceField(
        label=_("Gender"), choices=[("", "—"), *Gender.choices], required=False
    )
    home_store = forms.ModelChoiceField(
        label=_("Home store"), queryset=Store.objects.order_by("code"), required=False
    )
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    email = forms.CharField(label=_("Email"), max_length=255, required=False)
    line_user_id = forms.CharField(label=_("LINE user ID"), max_length=64, required=False)
    # Set by the merge offer: merge with this member, for this reason, and then save.
    merge_with = forms.CharField(required=False, widget=forms.HiddenInput)
    merge_reason = forms.CharField(
        label=_("Why are they the same person?"), max_length=REASON_MAX_LENGTH, required=False
    )

    identifier_fields = ("phone", "email", "line_user_id")


class ConsentForm(forms.Form):
    channel = forms.ChoiceField(label=_("Channel"), choices=MessagingChannel.choices)
    state = forms.ChoiceField(
        label=_("Decision"), choices=Consent.State.choices, widget=forms.RadioSelect
    )
    confirm = forms.BooleanField(
        label=_("The member told us this decision (I can show where, if asked)."),
        error_messages={"required": _("Confirm that the member made this decision.")},
    )


class NoteForm(forms.Form):
    body = forms.CharField(
        label=_("Note"),
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class TagForm(forms.Form):
    name = forms.CharField(label=_("Tag"), max_length=TAG_MAX_LENGTH)


class MergeForm(forms.Form):
    other = forms.CharField(label=_("Member to merge with"), max_length=20)
    reason = forms.CharField(label=_("Reason"), max_length=REASON_MAX_LENGTH)
    confirm = forms.BooleanField(
        label=_("These two members are the same person."),
        error_messages={"required": _("Confirm that they are the same person.")},
    )


class ForgetForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason (e.g. the request's reference)"), max_length=REASON_MAX_LENGTH
    )
    confirm = forms.BooleanField(
        label=_("Erase this member's personal data. This cannot be undone."),
        error_messages={"required": _("Confirm the erasure.")},
    )
