"""The campaign builder's form: plain fields in, the service's shapes out, its errors back.

The form checks only what a browser can get wrong on its own (a malformed date); every rule of
a launchable campaign (a name, an audience, channels, content a provider would take) is
campaigns.services.campaign_validate's, and `add_service_errors` puts each of its messages
beside the field it is about. Whatever the marketer typed stays in the bound form.

Channels in fallback order are four selects (first choice, then the next if that one cannot
reach the member, …). LINE content here is a text message and an optional image; the API takes
any LINE message list.
"""

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign
from crm.models import Segment
from omnichannel.channels import MessagingChannel

CHANNEL_SLOTS = 4
SEND_NOW = "now"
SEND_LATER = "later"
ERROR_SEND_AT_MISSING = _("Choose the date and time to send, or send now.")

# Where each service error key is shown (content.<channel>.<field> from campaign_validate).
ERROR_FIELDS = {
    "name": "name",
    "segment": "segment",
    "channels": "channel_1",
    "send_at": "send_at",
    "content.line": "line_text",
    "content.line.messages": "line_text",
    "content.email": "email_subject",
    "content.email.subject": "email_subject",
    "content.email.text": "email_text",
    "content.email.html": "email_html",
    "content.sms": "sms_text",
    "content.sms.text": "sms_text",
    "content.push": "push_title",
    "content.push.title": "push_title",
    "content.push.body": "push_body",
    "content.push.url": "push_url",
}
# The fields of each channel's content, in the order the builder shows them.
CONTENT_FIELDS = {
    "line": ("line_text", "line_image_url"),
    "email": ("email_subject", "email_text", "email_html"),
    "sms": ("sms_text",),
    "push": ("push_title", "push_body", "push_url"),
}


def error_field(key: str, *, line_text_index: int = 0) -> str | None:
    """The form field a service error key belongs to (None: the form as a whole)."""
    if key in ERROR_FIELDS:
        return ERROR_FIELDS[key]
    if key.startswith("content.line.messages."):
        index = key.split(".")[3]
        return "line_text" if index == str(line_text_index) else "line_image_url"
    channel = key.split(".")[1] if key.startswith("content.") else ""
    if channel in CONTENT_FIELDS:
        return CONTENT_FIELDS[channel][0]
    return None


class SegmentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, segment: Segment) -> str:
        if segment.member_count is None:
            return segment.display_name
        return f"{segment.display_name} ({segment.member_count:,})"


def _text(**attrs) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": 3, **attrs})


class CampaignForm(forms.Form):
    name = forms.CharField(label=_("Campaign name"), max_length=120, required=False)
    segment = SegmentChoiceField(
        label=_("Audience (segment)"),
        queryset=Segment.objects.none(),
        required=False,
        empty_label=_("Choose a segment"),
    )
    line_text = forms.CharField(label=_("LINE message"), required=False, widget=_text(rows=4))
    line_image_url = forms.CharField(
        label=_("LINE image (https address, optional)"), required=False, max_length=1000
    )
    email_subject = forms.CharField(label=_("Email subject"), required=False, max_length=200)
    email_text = forms.CharField(label=_("Email text part"), required=False, widget=_text(rows=5))
    email_html = forms.CharField(
        label=_("Email HTML part (optional)"), required=False, widget=_text(rows=5)
    )
    sms_text = forms.CharField(label=_("SMS text"), required=False, widget=_text())
    push_title = forms.CharField(label=_("Push title"), required=False, max_length=200)
    push_body = forms.CharField(label=_("Push message"), required=False, widget=_text())
    push_url = forms.CharField(
        label=_("Push link (https, optional)"), required=False, max_length=1000
    )
    is_marketing = forms.BooleanField(
        label=_("Marketing message (counts towards the frequency cap)"),
        required=False,
        initial=True,
    )
    when = forms.ChoiceField(
        label=_("When"),
        choices=[(SEND_NOW, _("Send as soon as it is launched")), (SEND_LATER, _("Schedule"))],
        initial=SEND_NOW,
        widget=forms.RadioSelect,
    )
    send_at = forms.DateTimeField(
        label=_("Send at (Taipei time)"),
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"].queryset = Segment.objects.defer("definition").order_by(
            "ready_made", "name", "pk"
        )
        choices = [("", _("(none)")), *MessagingChannel.choices]
        for slot in range(1, CHANNEL_SLOTS + 1):
            self.fields[f"channel_{slot}"] = forms.ChoiceField(
                label=_("Channel %(n)s") % {"n": slot}, choices=choices, required=False
            )
        self.order_fields(["name", "segment", *self.channel_field_names])

    def widgets_mark(self) -> None:
        """Bootstrap classes on every widget, `js-check` on those whose change re-checks the
        content, and `is-invalid` with aria-invalid beside an error."""
        errors = self.errors if self.is_bound else {}
        for name, field in self.fields.items():
            widget = field.widget
            if isinstance(widget, forms.RadioSelect | forms.CheckboxInput):
                continue
            base = "form-select" if isinstance(widget, forms.Select) else "form-control"
            classes = [base, "js-check"] + (["is-invalid"] if name in errors else [])
            widget.attrs["class"] = " ".join(classes)
            widget.attrs["aria-describedby"] = f"err-{name}"
            if name in errors:
                widget.attrs["aria-invalid"] = "true"

    @property
    def channel_field_names(self) -> list[str]:
        return [f"channel_{slot}" for slot in range(1, CHANNEL_SLOTS + 1)]

    def channel_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.channel_field_names]

    def content_fields(self) -> list[tuple[str, str, list[forms.BoundField]]]:
        """(channel, label, its fields) for every messaging channel, in the builder's order."""
        return [
            (channel, label, [self[name] for name in CONTENT_FIELDS[channel]])
            for channel, label in MessagingChannel.choices
        ]

    def clean(self):
        data = super().clean()
        if (
            data.get("when") == SEND_LATER
            and not data.get("send_at")
            and "send_at" not in (self.errors)
        ):
            self.add_error("send_at", ERROR_SEND_AT_MISSING)
        return data

    # --- What the service takes -------------------------------------------------------------

    def typed(self, name: str) -> str:
        """A field's value, cleaned when it is valid, as typed when it is not (the check runs
        on every keystroke, before the form as a whole is valid); an unbound form's initial."""
        if not self.is_bound:
            value = self.get_initial_for_field(self.fields[name], name)
            return "" if value is None else str(value)
        if hasattr(self, "cleaned_data") and name in self.cleaned_data:
            value = self.cleaned_data[name]
        else:
            value = self.data.get(self.add_prefix(name), "")
        return value if isinstance(value, str) else ("" if value is None else str(value))

    def channels(self) -> list[str]:
        """The channels chosen, in fallback order (a repeated one stays: the service says so)."""
        return [value for name in self.channel_field_names if (value := self.typed(name))]

    def content_for(self, channel: str) -> dict:
        v = self.typed
        if channel == "line":
            messages: list[dict] = []
            if v("line_text").strip():
                messages.append({"type": "text", "text": v("line_text")})
            if v("line_image_url").strip():
                url = v("line_image_url").strip()
                messages.append(
                    {"type": "image", "originalContentUrl": url, "previewImageUrl": url}
                )
            return {"messages": messages}
        if channel == "email":
            content = {"subject": v("email_subject"), "text": v("email_text")}
            if v("email_html").strip():
                content["html"] = v("email_html")
            return content
        if channel == "sms":
            return {"text": v("sms_text")}
        if channel == "push":
            content = {"title": v("push_title"), "body": v("push_body")}
            if v("push_url").strip():
                content["url"] = v("push_url").strip()
            return content
        return {}

    def contents(self) -> dict[str, dict]:
        return {channel: self.content_for(channel) for channel in self.channels()}

    def segment_value(self) -> Segment | None:
        if hasattr(self, "cleaned_data") and "segment" in self.cleaned_data:
            return self.cleaned_data["segment"]
        if self.is_bound:
            raw = self.data.get(self.add_prefix("segment"), "")
        else:
            raw = self.get_initial_for_field(self.fields["segment"], "segment") or ""
        if not str(raw).isdigit():
            return None
        return self.fields["segment"].queryset.filter(pk=int(raw)).first()

    def send_at_value(self):
        if self.cleaned_data.get("when") != SEND_LATER:
            return None
        return self.cleaned_data.get("send_at")

    def line_text_index(self) -> int:
        """Where the text is in the LINE messages this form makes (-1: there is none)."""
        return 0 if self.typed("line_text").strip() else -1

    def add_service_errors(self, errors: dict[str, list[str]], *, only_content: bool = False):
        """Put campaign_validate's messages beside their fields (content's alone while the
        marketer types: the rest are said when saving)."""
        for key, messages in errors.items():
            if only_content and not key.startswith("content."):
                continue
            field = error_field(key, line_text_index=self.line_text_index())
            for message in messages:
                if message not in self.errors.get(field or "__all__", []):
                    self.add_error(field, message)


def initial_from_campaign(campaign: Campaign, contents: dict[str, dict]) -> dict:
    """A saved campaign as the builder's initial values."""
    initial: dict = {
        "name": campaign.name,
        "segment": campaign.segment_id,
        "is_marketing": campaign.is_marketing,
        "when": SEND_LATER if campaign.send_at else SEND_NOW,
        "send_at": timezone.localtime(campaign.send_at) if campaign.send_at else None,
    }
    for slot, channel in enumerate(campaign.channels[:CHANNEL_SLOTS], start=1):
        initial[f"channel_{slot}"] = channel
    line = contents.get("line") or {}
    for message in line.get("messages") or []:
        if message.get("type") == "text" and "line_text" not in initial:
            initial["line_text"] = message.get("text", "")
        elif message.get("type") == "image" and "line_image_url" not in initial:
            initial["line_image_url"] = message.get("originalContentUrl", "")
    email = contents.get("email") or {}
    initial.update(
        email_subject=email.get("subject", ""),
        email_text=email.get("text", ""),
        email_html=email.get("html", ""),
    )
    initial["sms_text"] = (contents.get("sms") or {}).get("text", "")
    push = contents.get("push") or {}
    initial.update(
        push_title=push.get("title", ""),
        push_body=push.get("body", ""),
        push_url=push.get("url", ""),
    )
    return initial
