"""The recipe pages' forms: shapes only; recipes.services and training.services check the rest."""

import json

from django import forms

from recipes.models import Level

MAX_MANIFEST_CHARS = 200_000


class ManifestForm(forms.Form):
    manifest = forms.CharField(
        widget=forms.Textarea(
            attrs={"rows": 28, "spellcheck": "false", "class": "code", "data-manifest-editor": ""}
        ),
        max_length=MAX_MANIFEST_CHARS,
        help_text="The whole effective manifest as JSON; the hub stores only what differs from the parent.",
    )
    change_note = forms.CharField(max_length=4000, required=False)
    base_version = forms.CharField(max_length=32, required=False, widget=forms.HiddenInput)

    def clean_manifest(self) -> dict:
        try:
            value = json.loads(self.cleaned_data["manifest"])
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}.") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("A manifest is a JSON object.")
        return value


class CloneForm(forms.Form):
    name = forms.CharField(max_length=200)
    level = forms.ChoiceField(choices=[(Level.INDUSTRY, "Industry"), (Level.CLIENT, "Client")])
