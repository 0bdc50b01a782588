from django import forms
from django.utils.translation import gettext_lazy as _

from crm.imports import PRESETS

MAX_UPLOAD_BYTES = 500 * 1024 * 1024
ALLOWED_SUFFIXES = (".csv", ".xlsx")


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("File"), help_text=_("CSV (UTF-8) or XLSX, first line the header.")
    )
    preset = forms.ChoiceField(
        label=_("Layout"), choices=[(name, preset.label) for name, preset in PRESETS.items()]
    )
    strict = forms.BooleanField(label=_("Strict: import nothing if any row is bad"), required=False)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(ALLOWED_SUFFIXES):
            raise forms.ValidationError(_("Upload a .csv or .xlsx file."))
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The file is larger than 500 MB."))
        return upload
