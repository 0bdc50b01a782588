"""The campaign builder's form: plain fields in, the service's shapes out, its errors back.

The form checks only what a browser can get wrong on its own (a malformed date); every rule of
a launchable campaign (a name, an audience, channels, content a provider would take) is
campaigns.services.campaign_validate's, and `add_service_errors` puts each of its messages
beside the field it is about. Whatever the marketer typed stays in the bound form.

Channels in fallback order are four selects (first choice, then the next if that one cannot
reach the member, …).

LINE content is a list of up to 5 messages, each text, image or Flex, as indexed fields
(`line_count`, then `line_<i>_type` and the fields of that type: `line_<i>_text`;
`line_<i>_original` and `line_<i>_preview`; `line_<i>_alt` and `line_<i>_contents`, the Flex
JSON). Keys of a message the builder does not edit (a quickReply the API set, say) ride along in
`line_<i>_extra` as JSON, so editing a draft never loses them. Adding, removing and moving a
message (`line_action`) rewrites the posted data and shows the form again with all that was
typed: `line_data_after` does that, for the page without JavaScript and for htmx alike.
"""

import copy
import json

from django import forms
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.content.line import MAX_MESSAGES
from campaigns.models import VARIANT_DEFAULT, VARIANTS, Campaign, WinnerMetric
from crm.models import Segment, Store
from omnichannel.channels import MessagingChannel

CHANNEL_SLOTS = 4
SEND_NOW = "now"
SEND_LATER = "later"
ERROR_SEND_AT_MISSING = _("Choose the date and time to send, or send now.")
ERROR_LINE_FULL = _("LINE sends at most %(max)d messages at once: remove one to add another.")

LINE_TYPES = ("text", "image", "flex")
LINE_TYPE_LABELS = {
    "text": _("Text message"),
    "image": _("Image message"),
    "flex": _("Flex message"),
}
# How many indexed messages a post may carry: more than LINE takes, so a 6th is refused by the
# content rules with their reason rather than silently cut off here.
LINE_FIELDS_CAP = 20
# The editable keys of each LINE message type → the builder's field suffix.
LINE_KEYS = {
    "text": {"text": "text"},
    "image": {"originalContentUrl": "original", "previewImageUrl": "preview"},
    "flex": {"altText": "alt", "contents": "contents"},
}
LINE_SUFFIXES = ("type", "text", "original", "preview", "alt", "contents", "extra")

# Where each service error key is shown (content.<channel>.<field> from campaign_validate).
ERROR_FIELDS = {
    "name": "name",
    "segment": "segment",
    "channels": "channel_1",
    "send_at": "send_at",
    "content.line": "line_count",
    "content.line.messages": "line_count",
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
    "line": (),  # indexed: CampaignForm.line_field_names
    "email": ("email_subject", "email_text", "email_html"),
    "sms": ("sms_text",),
    "push": ("push_title", "push_body", "push_url"),
}


# A/B/n: variant A's fields are the plain names above; B–D's the same names behind "B_", ….
EXTRA_VARIANTS = VARIANTS[1:]
SPLIT_ERROR_FIELDS = {
    "variant_split": "split_A",
    "holdout_percent": "holdout_percent",
    "holdout_stores": "holdout_stores",
    "winner_metric": "winner_metric",
    "winner_test_percent": "winner_test_percent",
    "winner_after_hours": "winner_after_hours",
    "conversion_window_delivery_days": "conversion_window_delivery_days",
    "conversion_window_click_days": "conversion_window_click_days",
    "utm_campaign": "utm_campaign",
}
ERROR_STORE_SHARE = _("Give the share of stores to hold out, 1 to 50%.")


def variant_prefix(variant: str) -> str:
    return "" if variant == VARIANT_DEFAULT else f"{variant}_"


def error_field(key: str) -> str | None:
    """The form field a service error key belongs to (None: the form as a whole)."""
    if key in SPLIT_ERROR_FIELDS:
        return SPLIT_ERROR_FIELDS[key]
    parts = key.split(".")
    if len(parts) > 1 and parts[0] == "content" and parts[1] in EXTRA_VARIANTS:
        # content.B.sms.text: variant B's field of what content.sms.text names
        field = error_field(".".join(["content", *parts[2:]]))
        return f"{parts[1]}_{field}" if field else None
    if key in ERROR_FIELDS:
        return ERROR_FIELDS[key]
    if key.startswith("content.line.messages."):
        # content.line.messages.<i>[.<key>[.<path inside a Flex message>]]
        parts = key.split(".")
        index = parts[3]
        if not index.isdigit():
            return "line_count"
        suffixes = {k: v for keys in LINE_KEYS.values() for k, v in keys.items()}
        suffix = suffixes.get(parts[4], "type") if len(parts) > 4 else "type"
        return f"line_{index}_{suffix}"
    channel = key.split(".")[1] if key.startswith("content.") else ""
    if channel == "line":
        return "line_count"
    if channel in CONTENT_FIELDS:
        return CONTENT_FIELDS[channel][0]
    return None


def line_draft(message) -> dict[str, str]:
    """A LINE message as the builder's field values (suffix → text)."""
    if not isinstance(message, dict):
        message = {}
    kind = str(message.get("type", "text"))
    keys = LINE_KEYS.get(kind, {})
    draft = {"type": kind}
    for key, suffix in keys.items():
        value = message.get(key, "")
        if key == "contents" and not isinstance(value, str):
            value = json.dumps(value, ensure_ascii=False, indent=2)
        draft[suffix] = "" if value is None else str(value)
    extra = {k: v for k, v in message.items() if k != "type" and k not in keys}
    draft["extra"] = json.dumps(extra, ensure_ascii=False) if extra else ""
    return draft


def line_message(draft: dict[str, str]) -> dict:
    """The builder's field values of one message as the LINE message the service takes."""
    kind = draft.get("type") or "text"
    try:
        extra = json.loads(draft.get("extra") or "{}")
    except ValueError:
        extra = {}
    message = {**(extra if isinstance(extra, dict) else {}), "type": kind}
    if kind == "text":
        message["text"] = draft.get("text", "")
    elif kind == "image":
        message["originalContentUrl"] = draft.get("original", "").strip()
        message["previewImageUrl"] = draft.get("preview", "").strip()
    elif kind == "flex":
        message["altText"] = draft.get("alt", "")
        raw = draft.get("contents", "")
        try:
            # Parsed when it is JSON; as typed when not, for the content rules to say why.
            message["contents"] = json.loads(raw) if raw.strip() else ""
        except ValueError:
            message["contents"] = raw
    return message


def line_drafts_posted(data, prefix: str = "") -> list[dict[str, str]]:
    """The LINE messages' field values in a post, in order (a variant's behind its prefix)."""
    raw = str(data.get(f"{prefix}line_count", ""))
    count = min(int(raw), LINE_FIELDS_CAP) if raw.isdigit() else 0
    return [
        {suffix: str(data.get(f"{prefix}line_{i}_{suffix}", "")) for suffix in LINE_SUFFIXES}
        for i in range(count)
    ]


def line_fields_data(drafts: list[dict[str, str]], prefix: str = "") -> dict[str, str]:
    data = {f"{prefix}line_count": str(len(drafts))}
    for i, draft in enumerate(drafts):
        for suffix in LINE_SUFFIXES:
            if suffix in draft:
                data[f"{prefix}line_{i}_{suffix}"] = draft[suffix]
    return data


def line_action_variant(action: str) -> tuple[str, str]:
    """("B", "add_text") for "B_add_text"; variant A's actions have no prefix."""
    head, _sep, rest = action.partition("_")
    if head in EXTRA_VARIANTS and rest:
        return head, rest
    return VARIANT_DEFAULT, action


def line_data_after(data, action: str) -> tuple[QueryDict, str | None]:
    """The post with `action` applied to its LINE messages (add_<type>, remove_<i>, up_<i>,
    down_<i>; a variant's behind its prefix: B_add_text), and the reason it could not be (None
    when it was)."""
    variant, action = line_action_variant(action)
    prefix = variant_prefix(variant)
    drafts = line_drafts_posted(data, prefix)
    verb, _sep, arg = action.partition("_")
    error = None
    if verb == "add" and arg in LINE_TYPES:
        if len(drafts) >= MAX_MESSAGES:
            error = str(ERROR_LINE_FULL % {"max": MAX_MESSAGES})
        else:
            drafts.append(line_draft({"type": arg}))
    elif arg.isdigit() and int(arg) < len(drafts):
        i = int(arg)
        if verb == "remove":
            del drafts[i]
        elif verb == "up" and i > 0:
            drafts[i - 1], drafts[i] = drafts[i], drafts[i - 1]
        elif verb == "down" and i + 1 < len(drafts):
            drafts[i + 1], drafts[i] = drafts[i], drafts[i + 1]
    changed = QueryDict(mutable=True)
    for key, values in data.lists():
        if not key.startswith(f"{prefix}line_"):
            changed.setlist(key, values)
    changed.update(line_fields_data(drafts, prefix))
    return changed, error


def variant_data_after(data, action: str) -> QueryDict:
    """The post with a variant added ("add": the next of B–D, the shares made equal) or the
    last one removed ("remove": its share back to A); what was typed is kept either way."""
    changed = data.copy()
    raw = str(data.get("variant_count", ""))
    count = min(max(int(raw), 1), len(VARIANTS)) if raw.isdigit() else 1
    if action == "add" and count < len(VARIANTS):
        count += 1
        shares = [100 // count] * count
        shares[0] += 100 - sum(shares)
        for variant, share in zip(VARIANTS, shares, strict=False):
            changed[f"split_{variant}"] = str(share)
        added = VARIANTS[count - 1]
        changed["variant_tab"] = added
        if not str(changed.get(f"{added}_line_count", "")).isdigit():
            # A new variant's LINE list starts as a new campaign's does: one empty text.
            changed.update(line_fields_data([line_draft({"type": "text"})], f"{added}_"))
    elif action == "remove" and count > 1:
        last = VARIANTS[count - 1]
        gone = str(changed.get(f"split_{last}", ""))
        base = str(changed.get("split_A", ""))
        if gone.isdigit() and base.isdigit():
            changed["split_A"] = str(int(base) + int(gone))
        changed[f"split_{last}"] = ""
        count -= 1
        changed["variant_tab"] = VARIANT_DEFAULT
    changed["variant_count"] = str(count)
    return changed


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
    line_count = forms.IntegerField(required=False, widget=forms.HiddenInput)
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
    # A/B/n, holdouts, winner mode, conversions (services.campaigns.campaign_split_validate).
    variant_count = forms.IntegerField(required=False, widget=forms.HiddenInput)
    variant_tab = forms.CharField(required=False, widget=forms.HiddenInput)
    split_A = forms.IntegerField(label=_("Share of A (%)"), required=False)
    split_B = forms.IntegerField(label=_("Share of B (%)"), required=False)
    split_C = forms.IntegerField(label=_("Share of C (%)"), required=False)
    split_D = forms.IntegerField(label=_("Share of D (%)"), required=False)
    holdout_percent = forms.IntegerField(
        label=_("Holdout (% of the audience, never sent)"), required=False, initial=0
    )
    holdout_stores = forms.ModelMultipleChoiceField(
        label=_("Held-out stores (their members are not sent)"),
        queryset=Store.objects.none(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    holdout_store_share = forms.IntegerField(
        label=_("Share of stores to draw (%)"), required=False, initial=10
    )
    winner_metric = forms.ChoiceField(
        label=_("Winner mode"),
        choices=[("", _("Off: every variant goes to its share")), *WinnerMetric.choices],
        required=False,
    )
    winner_test_percent = forms.IntegerField(
        label=_("Test share (% of the sent audience)"), required=False, initial=20
    )
    winner_after_hours = forms.IntegerField(
        label=_("Choose the winner after (hours)"), required=False, initial=4
    )
    conversion_window_delivery_days = forms.IntegerField(
        label=_("Conversion window after delivery (days)"), required=False, initial=3
    )
    conversion_window_click_days = forms.IntegerField(
        label=_("Conversion window after a click (days)"), required=False, initial=7
    )
    utm_campaign = forms.CharField(
        label=_("UTM campaign (empty: the campaign's id)"), required=False, max_length=100
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
        self.fields["holdout_stores"].queryset = Store.objects.order_by("code")
        self.variant_line_drafts = {
            variant: self._line_drafts(variant_prefix(variant)) for variant in VARIANTS
        }
        self.line_drafts = self.variant_line_drafts[VARIANT_DEFAULT]
        for variant in VARIANTS:
            prefix = variant_prefix(variant)
            if prefix:
                self.fields[f"{prefix}line_count"] = forms.IntegerField(
                    required=False, widget=forms.HiddenInput
                )
                for names in CONTENT_FIELDS.values():
                    for name in names:
                        self.fields[f"{prefix}{name}"] = copy.deepcopy(self.base_fields[name])
            for i, draft in enumerate(self.variant_line_drafts[variant]):
                self._add_line_fields(i, draft, prefix)
        self.order_fields(["name", "segment", *self.channel_field_names])

    def _line_drafts(self, prefix: str = "") -> list[dict[str, str]]:
        if self.is_bound:
            return line_drafts_posted(self.data, prefix)
        if prefix:
            messages = (self.initial.get("variant_line_messages") or {}).get(prefix[0])
        else:
            messages = self.initial.get("line_messages")
        if messages is None:
            messages = [{"type": "text", "text": ""}]  # a new campaign starts with a text
        return [line_draft(message) for message in messages]

    def _add_line_fields(self, i: int, draft: dict[str, str], prefix: str = "") -> None:
        kind = draft.get("type") or "text"
        hidden = {"widget": forms.HiddenInput, "required": False}
        fields: dict[str, forms.Field] = {
            "type": forms.CharField(**hidden),
            "extra": forms.CharField(**hidden),
        }
        if kind == "text":
            fields["text"] = forms.CharField(label=_("Text"), required=False, widget=_text(rows=4))
        elif kind == "image":
            fields["original"] = forms.CharField(
                label=_("Image address (https)"), required=False, max_length=2000
            )
            fields["preview"] = forms.CharField(
                label=_("Preview image address (https)"), required=False, max_length=2000
            )
        elif kind == "flex":
            fields["alt"] = forms.CharField(
                label=_("Alternative text (shown in notifications)"),
                required=False,
                max_length=1000,
            )
            fields["contents"] = forms.CharField(
                label=_("Flex contents (JSON: a bubble or a carousel)"),
                required=False,
                widget=_text(rows=8, spellcheck="false"),
            )
        for suffix, field in fields.items():
            name = f"{prefix}line_{i}_{suffix}"
            self.fields[name] = field
            if not self.is_bound:
                self.initial[name] = draft.get(suffix, "")
        variant = prefix[0] if prefix else VARIANT_DEFAULT
        self.initial.setdefault(f"{prefix}line_count", len(self.variant_line_drafts[variant]))

    def widgets_mark(self) -> None:
        """Bootstrap classes on every widget, `js-check` on those whose change re-checks the
        content, and `is-invalid` with aria-invalid beside an error."""
        errors = self.errors if self.is_bound else {}
        for name, field in self.fields.items():
            widget = field.widget
            if isinstance(widget, forms.RadioSelect | forms.CheckboxInput | forms.HiddenInput):
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
        """(channel, label, its fields) for every messaging channel, in the builder's order
        (LINE's messages are `line_messages`)."""
        return [
            (channel, label, [self[name] for name in CONTENT_FIELDS[channel]])
            for channel, label in MessagingChannel.choices
        ]

    def line_messages(self, variant: str = VARIANT_DEFAULT) -> list[dict]:
        """Each LINE message's index, type, label, visible fields and hidden fields."""
        rows = []
        prefix = variant_prefix(variant)
        drafts = self.variant_line_drafts[variant]
        for i, draft in enumerate(drafts):
            kind = draft.get("type") or "text"
            names = [
                f"{prefix}line_{i}_{s}"
                for s in LINE_SUFFIXES
                if f"{prefix}line_{i}_{s}" in self.fields
            ]
            rows.append(
                {
                    "index": i,
                    "type": kind,
                    "label": LINE_TYPE_LABELS.get(kind, kind),
                    "fields": [self[n] for n in names if not n.endswith(("_type", "_extra"))],
                    "hidden": [self[n] for n in names if n.endswith(("_type", "_extra"))],
                    "type_field": self[f"{prefix}line_{i}_type"],
                    "first": i == 0,
                    "last": i == len(drafts) - 1,
                }
            )
        return rows

    def line_focus(self, index: int, variant: str = VARIANT_DEFAULT) -> None:
        """Focus the first field of message `index` when the page (or htmx's swap) shows it:
        the one just added, so the keyboard is where the marketer will type."""
        for suffix in ("text", "original", "alt"):
            field = self.fields.get(f"{variant_prefix(variant)}line_{index}_{suffix}")
            if field is not None:
                field.widget.attrs["autofocus"] = True
                return

    @property
    def line_full(self) -> bool:
        return len(self.line_drafts) >= MAX_MESSAGES

    def line_field_names(self, variant: str | None = None) -> list[str]:
        """Every LINE field that shows errors (the messages' and the list's own), of one
        variant or of all."""
        names = []
        for v in VARIANTS if variant is None else [variant]:
            prefix = variant_prefix(v)
            names.append(f"{prefix}line_count")
            names += [
                f"{prefix}line_{i}_{s}"
                for i in range(len(self.variant_line_drafts[v]))
                for s in LINE_SUFFIXES
                if s != "extra" and f"{prefix}line_{i}_{s}" in self.fields
            ]
        return names

    # --- Variants ---------------------------------------------------------------------------

    @property
    def variant_total(self) -> int:
        raw = self.typed("variant_count")
        return min(max(int(raw), 1), len(VARIANTS)) if raw.isdigit() else 1

    def variants_used(self) -> tuple[str, ...]:
        return VARIANTS[: self.variant_total]

    def editor(self, variant: str) -> dict:
        """What the builder shows of one variant: its share and its content per channel."""
        prefix = variant_prefix(variant)
        tab = self.typed("variant_tab")
        active = tab if tab in self.variants_used() else self._first_variant_with_errors()
        drafts = self.variant_line_drafts[variant]
        return {
            "variant": variant,
            "prefix": prefix,
            "share": self[f"split_{variant}"],
            "active": variant == active,
            "dom_id": "line-messages" if not prefix else f"line-messages-{variant}",
            "line_messages": self.line_messages(variant),
            "line_count": len(drafts),
            "line_count_field": self[f"{prefix}line_count"],
            "line_full": len(drafts) >= MAX_MESSAGES,
            "channels": [
                (channel, label, [self[f"{prefix}{name}"] for name in CONTENT_FIELDS[channel]])
                for channel, label in MessagingChannel.choices
            ],
            "has_errors": any(name in self.errors for name in self._variant_field_names(variant))
            if self.is_bound
            else False,
        }

    def editors(self) -> list[dict]:
        return [self.editor(variant) for variant in self.variants_used()]

    def _variant_field_names(self, variant: str) -> list[str]:
        prefix = variant_prefix(variant)
        return self.line_field_names(variant) + [
            f"{prefix}{name}" for names in CONTENT_FIELDS.values() for name in names
        ]

    def _first_variant_with_errors(self) -> str:
        if self.is_bound:
            for variant in self.variants_used():
                if any(name in self.errors for name in self._variant_field_names(variant)):
                    return variant
        return VARIANT_DEFAULT

    def variant_split(self) -> dict[str, int]:
        """{"A": 50, "B": 50} as typed (a share that is not a number counts 0: the service
        then says each needs 1%); {} with one variant."""
        used = self.variants_used()
        if len(used) < 2:
            return {}
        split = {}
        for variant in used:
            raw = self.typed(f"split_{variant}").strip()
            split[variant] = int(raw) if raw.isdigit() else 0
        return split

    def variant_contents(self) -> dict[str, dict[str, dict]]:
        """B–D's content per chosen channel; a channel left blank says what A says."""
        contents: dict[str, dict[str, dict]] = {}
        for variant in self.variants_used()[1:]:
            contents[variant] = {
                channel: self.content_for(channel, variant)
                for channel in self.channels()
                if not self._blank(channel, variant)
            }
        return contents

    def _blank(self, channel: str, variant: str) -> bool:
        prefix = variant_prefix(variant)
        if channel == "line":
            names = [
                name
                for name in self.line_field_names(variant)
                if not name.endswith(("_count", "_type"))
            ]
        else:
            names = [f"{prefix}{name}" for name in CONTENT_FIELDS.get(channel, ())]
        return not any(self.typed(name).strip() for name in names)

    def number(self, name: str, default: int) -> int | str:
        """An integer field's value; a non-number as typed goes to the service as -1 so it
        says why (the form has already said it is not a number)."""
        raw = self.typed(name).strip()
        if not raw:
            return default
        try:
            return int(raw)
        except ValueError:
            return -1

    def holdout_store_ids(self) -> list[int]:
        if self.is_bound:
            raw = self.data.getlist("holdout_stores") if hasattr(self.data, "getlist") else []
        else:
            raw = self.initial.get("holdout_stores") or []
        return [int(value) for value in raw if str(value).isdigit()]

    def split_settings(self) -> dict:
        """The keyword arguments of campaign_save / campaign_split_validate for these fields."""
        return {
            "variant_split": self.variant_split(),
            "variant_contents": self.variant_contents(),
            "holdout_percent": self.number("holdout_percent", 0),
            "winner_metric": self.typed("winner_metric"),
            "winner_test_percent": self.number("winner_test_percent", 20),
            "winner_after_hours": self.number("winner_after_hours", 4),
            "conversion_windows": (
                self.number("conversion_window_delivery_days", 3),
                self.number("conversion_window_click_days", 7),
            ),
            "utm_campaign": self.typed("utm_campaign").strip(),
        }

    def line_insertable(self) -> set[str]:
        """The LINE fields that take personalisation fields: texts and Flex altTexts."""
        prefixes = tuple(f"{variant_prefix(variant)}line_" for variant in VARIANTS)
        return {
            name
            for name in self.fields
            if name.startswith(prefixes) and name.endswith(("_text", "_alt"))
        }

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

    def content_for(self, channel: str, variant: str = VARIANT_DEFAULT) -> dict:
        prefix = variant_prefix(variant)

        def v(name: str) -> str:
            return self.typed(f"{prefix}{name}")

        if channel == "line":
            drafts = [
                {
                    s: v(f"line_{i}_{s}")
                    for s in LINE_SUFFIXES
                    if f"{prefix}line_{i}_{s}" in self.fields
                }
                for i in range(len(self.variant_line_drafts[variant]))
            ]
            return {"messages": [line_message(draft) for draft in drafts]}
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

    def add_service_errors(self, errors: dict[str, list[str]], *, only_content: bool = False):
        """Put campaign_validate's messages beside their fields (content's alone while the
        marketer types: the rest are said when saving)."""
        for key, messages in errors.items():
            if only_content and not key.startswith("content."):
                continue
            field = error_field(key)
            if field is not None and field not in self.fields:
                field = "line_count" if field.startswith("line_") else None
            for message in messages:
                if message not in self.errors.get(field or "__all__", []):
                    self.add_error(field, message)


def initial_from_campaign(
    campaign: Campaign,
    contents: dict[str, dict],
    variant_contents: dict[str, dict[str, dict]] | None = None,
) -> dict:
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
    messages = line.get("messages")
    if isinstance(messages, list) and messages:
        initial["line_messages"] = messages
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
    split = campaign.variant_split or {}
    initial["variant_count"] = max(1, len(split))
    for variant, share in split.items():
        initial[f"split_{variant}"] = share
    variant_lines = {}
    for variant, by_channel in (variant_contents or {}).items():
        prefix = variant_prefix(variant)
        messages = (by_channel.get("line") or {}).get("messages")
        if isinstance(messages, list) and messages:
            variant_lines[variant] = messages
        email = by_channel.get("email") or {}
        sms = by_channel.get("sms") or {}
        push = by_channel.get("push") or {}
        initial.update(
            {
                f"{prefix}email_subject": email.get("subject", ""),
                f"{prefix}email_text": email.get("text", ""),
                f"{prefix}email_html": email.get("html", ""),
                f"{prefix}sms_text": sms.get("text", ""),
                f"{prefix}push_title": push.get("title", ""),
                f"{prefix}push_body": push.get("body", ""),
                f"{prefix}push_url": push.get("url", ""),
            }
        )
    initial["variant_line_messages"] = variant_lines
    initial.update(
        holdout_percent=campaign.holdout_percent,
        holdout_stores=list(campaign.holdout_stores.values_list("pk", flat=True))
        if campaign.pk
        else [],
        winner_metric=campaign.winner_metric,
        winner_test_percent=campaign.winner_test_percent,
        winner_after_hours=campaign.winner_after_hours,
        conversion_window_delivery_days=campaign.conversion_window_delivery_days,
        conversion_window_click_days=campaign.conversion_window_click_days,
        utm_campaign=campaign.utm_campaign,
    )
    return initial
