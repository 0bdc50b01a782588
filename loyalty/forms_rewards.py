"""Forms of the rewards and coupon pages: they check what a browser can get wrong (numbers,
dates, the image file) and keep what the user typed; the rules of redeeming and using are the
services'."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from crm.models import Store
from loyalty.models import Reward

IMAGE_MAX_BYTES = 2 * 1024 * 1024
IMAGE_MAX_SIDE = 4000
IMAGE_FORMATS = {"JPEG", "PNG", "WEBP"}
ERROR_IMAGE_TOO_BIG = _("The image is larger than 2 MB: choose a smaller one.")
ERROR_IMAGE_FORMAT = _("Upload a JPEG, PNG or WebP image.")
ERROR_IMAGE_SIDES = _("The image is larger than 4000 × 4000 pixels.")
ERROR_WINDOW = _("The end must be after the start.")
ERROR_CODE_EMPTY = _("Type or scan the coupon code.")
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


class _Styled:
    """Bootstrap classes on every widget, and `is-invalid` on the fields with errors."""

    def _style(self) -> None:
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            widget.attrs["class"] = css

    def full_clean(self) -> None:
        super().full_clean()
        self.mark_invalid()

    def mark_invalid(self) -> None:
        """Mark the fields with errors (again after a view's add_error)."""
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()
                widget.attrs["aria-describedby"] = f"id_{name}-error"


def _datetime_field(label) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_FORMAT),
        help_text=_("Asia/Taipei time; empty: no limit."),
    )


class RewardForm(_Styled, forms.ModelForm):
    available_from = _datetime_field(_("available from"))
    available_until = _datetime_field(_("available until"))

    class Meta:
        model = Reward
        fields = [
            "name",
            "description",
            "points_price",
            "discount_twd",
            "stock",
            "available_from",
            "available_until",
            "coupon_valid_days",
            "image",
            "is_active",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "image": forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
        }
        help_texts = {
            "points_price": _("1 point is worth NT$1 at the till."),
            "discount_twd": _("0 for a gift rather than money off."),
            "stock": _("Empty: unlimited. Each coupon issued takes one."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["points_price"].min_value = 1
        self.fields["points_price"].widget.attrs["min"] = 1
        self.fields["coupon_valid_days"].widget.attrs["min"] = 1
        self._style()

    def clean_points_price(self) -> int:
        price = self.cleaned_data["points_price"]
        if price is not None and price < 1:
            raise ValidationError(_("A reward costs at least 1 point."))
        return price

    def clean_image(self):
        image = self.cleaned_data.get("image")
        # A new upload has been opened by Pillow already (forms.ImageField); what it found is
        # on `image.image`. An unchanged image (the stored one) has nothing to check.
        upload_image = getattr(image, "image", None)
        if upload_image is None:
            return image
        if image.size > IMAGE_MAX_BYTES:
            raise ValidationError(ERROR_IMAGE_TOO_BIG)
        if upload_image.format not in IMAGE_FORMATS:
            raise ValidationError(ERROR_IMAGE_FORMAT)
        width, height = upload_image.size
        if max(width, height) > IMAGE_MAX_SIDE:
            raise ValidationError(ERROR_IMAGE_SIDES)
        return image

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("available_from"), data.get("available_until")
        if start and end and end <= start:
            self.add_error("available_until", ERROR_WINDOW)
        return data


class CouponLookupForm(_Styled, forms.Form):
    code = forms.CharField(
        label=_("Coupon code"),
        max_length=40,
        error_messages={"required": ERROR_CODE_EMPTY},
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autofocus": True, "placeholder": "ABCD-EFGH-JKLM"}
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._style()


class CouponUseForm(_Styled, forms.Form):
    order_no = forms.CharField(label=_("Order number"), max_length=64, required=False)
    store = forms.ModelChoiceField(
        label=_("Store"), queryset=Store.objects.none(), required=False, empty_label="—"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = Store.objects.order_by("code")
        self._style()


class CouponVoidForm(_Styled, forms.Form):
    reason = forms.CharField(
        label=_("Why is it cancelled?"),
        max_length=200,
        error_messages={"required": _("Say why the coupon is cancelled.")},
    )
    refund = forms.BooleanField(
        label=_("Give the member the points back"), required=False, initial=True
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._style()


class RedeemForm(_Styled, forms.Form):
    """`key`: drawn when the form is shown and kept when it comes back with an error, so a
    double click or a resent form issues one coupon."""

    reward = forms.ModelChoiceField(
        label=_("Reward"),
        queryset=Reward.objects.none(),
        empty_label=None,
        error_messages={"invalid_choice": _("This reward cannot be redeemed now: choose another.")},
    )
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, rewards, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reward"].queryset = rewards
        self.fields["reward"].label_from_instance = _reward_choice_label
        self._style()


def _reward_choice_label(reward: Reward) -> str:
    return str(
        _("%(name)s · %(points)s points")
        % {"name": reward.name, "points": f"{reward.points_price:,}"}
    )
