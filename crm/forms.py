from collections.abc import Sequence

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.imports import ENCODING_CHOICES, PRESETS
from crm.list_filters import member_list_filters
from crm.models import Segment, Store, Tag
from crm.segments import SegmentDefinitionError, segment_definition_validate
from crm.selectors import CONSENT_NONE, DEFAULT_MEMBER_SORT, MemberListFilters
from omnichannel.channels import Channel, MessagingChannel, SalesChannel

MAX_UPLOAD_BYTES = 500 * 1024 * 1024
ALLOWED_SUFFIXES = (".csv", ".xlsx")


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            'CSV (UTF-8, Big5, or UTF-16 "Unicode text" with tabs) or XLSX, first line the header.'
        ),
    )
    preset = forms.ChoiceField(
        label=_("Layout"), choices=[(name, preset.label) for name, preset in PRESETS.items()]
    )
    encoding = forms.ChoiceField(
        label=_("Encoding"),
        choices=ENCODING_CHOICES,
        initial="auto",
        required=False,
        help_text=_("For CSV files; Detect reads UTF-8, Big5 and UTF-16 on its own."),
    )
    strict = forms.BooleanField(label=_("Strict: import nothing if any row is bad"), required=False)

    def clean_encoding(self):
        return self.cleaned_data.get("encoding") or "auto"

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(ALLOWED_SUFFIXES):
            raise forms.ValidationError(_("Upload a .csv or .xlsx file."))
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The file is larger than 500 MB."))
        return upload


ERROR_SEGMENT_BROKEN = _("This segment's rules no longer check out: open it and fix them.")
ERROR_CONSENT_PAIR = _("Choose both a channel and a consent state.")
CONSENT_STATE_CHOICES = [
    ("opted_in", _("Opted in")),
    ("opted_out", _("Opted out")),
    (CONSENT_NONE, _("No decision")),
]
SORT_CHOICES = [
    ("-joined", _("Newest members")),
    ("joined", _("Oldest members")),
    ("name", _("Name A→Z")),
    ("-name", _("Name Z→A")),
    ("-spend", _("Highest total spend")),
    ("spend", _("Lowest total spend")),
    ("-last_purchase", _("Latest purchase")),
    ("last_purchase", _("Earliest last purchase")),
]


class MemberFilterForm(forms.Form):
    """The member list's search box, filters and order, read from the URL (a GET form).

    An invalid field shows its error and is left out; the valid ones still filter.
    """

    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    channel = forms.ChoiceField(
        label=_("Joined via"),
        required=False,
        choices=[("", _("Any channel")), *Channel.choices],
    )
    bought = forms.MultipleChoiceField(
        label=_("Bought in"),
        required=False,
        choices=SalesChannel.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Members who bought in every channel ticked."),
    )
    tag = forms.TypedChoiceField(label=_("Tag"), required=False, coerce=int, empty_value=None)
    consent_channel = forms.ChoiceField(
        label=_("Consent on"),
        required=False,
        choices=[("", _("Any channel")), *MessagingChannel.choices],
    )
    consent = forms.ChoiceField(
        label=_("Consent"), required=False, choices=[("", _("Any")), *CONSENT_STATE_CHOICES]
    )
    store = forms.TypedChoiceField(
        label=_("Home store"), required=False, coerce=int, empty_value=None
    )
    segment = forms.TypedChoiceField(
        label=_("Segment"), required=False, coerce=int, empty_value=None
    )
    sort = forms.ChoiceField(label=_("Order"), required=False, choices=SORT_CHOICES)

    def __init__(
        self,
        data=None,
        *,
        tags: Sequence[Tag],
        stores: Sequence[Store],
        segments: Sequence[Segment] = (),
    ):
        # Choices from lists the view reads once: no query per field to render or validate.
        super().__init__(data)
        self.segments = {segment.pk: segment for segment in segments}
        self.fields["segment"].choices = [
            ("", _("Any segment")),
            *((segment.pk, segment.display_name) for segment in segments),
        ]
        self.fields["tag"].choices = [("", _("Any tag")), *((t.pk, t.name) for t in tags)]
        self.fields["store"].choices = [("", _("Any store")), *((s.pk, s.name) for s in stores)]
        # The filters other apps registered (crm.list_filters): a select each, values as text.
        self.extra_filter_names = []
        for list_filter in member_list_filters():
            self.fields[list_filter.key] = forms.ChoiceField(
                label=list_filter.label,
                required=False,
                choices=[
                    ("", _("Any")),
                    *((str(value), label) for value, label in list_filter.choices()),
                ],
            )
            self.extra_filter_names.append(list_filter.key)

    def clean_segment(self):
        segment_id = self.cleaned_data.get("segment")
        if segment_id is not None:
            try:
                segment_definition_validate(self.segments[segment_id].definition)
            except SegmentDefinitionError as exc:
                raise forms.ValidationError(ERROR_SEGMENT_BROKEN) from exc
        return segment_id

    def clean(self):
        data = super().clean()
        if bool(data.get("consent_channel")) != bool(data.get("consent")):
            field = "consent" if data.get("consent_channel") else "consent_channel"
            self.add_error(field, ERROR_CONSENT_PAIR)
        return data

    def filters(self) -> MemberListFilters:
        """The valid fields as the selectors' filters (call after is_valid())."""
        data = getattr(self, "cleaned_data", {})
        return MemberListFilters(
            q=data.get("q", ""),
            acquisition_channel=data.get("channel", ""),
            bought=tuple(data.get("bought", ())),
            tag_id=data.get("tag"),
            consent_channel=data.get("consent_channel", ""),
            consent_state=data.get("consent", ""),
            home_store_id=data.get("store"),
            segment_definition=(
                self.segments[data["segment"]].definition if data.get("segment") else None
            ),
            extra=tuple((name, data[name]) for name in self.extra_filter_names if data.get(name)),
        )

    @property
    def sort_key(self) -> str:
        return getattr(self, "cleaned_data", {}).get("sort") or DEFAULT_MEMBER_SORT


class BulkTagForm(forms.Form):
    ADD, REMOVE = "add", "remove"

    tag = forms.TypedChoiceField(label=_("Tag"), coerce=int)
    action = forms.ChoiceField(
        label=_("Action"), choices=[(ADD, _("Add the tag")), (REMOVE, _("Remove the tag"))]
    )
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, data=None, *, tags: Sequence[Tag]):
        super().__init__(data)
        self.tags = {tag.pk: tag for tag in tags}
        self.fields["tag"].choices = [(tag.pk, tag.name) for tag in tags]

    @property
    def chosen_tag(self) -> Tag:
        return self.tags[self.cleaned_data["tag"]]


class ExportForm(forms.Form):
    file_format = forms.ChoiceField(label=_("Format"), choices=[("csv", "CSV"), ("xlsx", "XLSX")])
    # Codes and UTC times for developers; the view honours it for admins only.
    raw = forms.BooleanField(label=_("Raw values"), required=False)
