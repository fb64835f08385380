import json

from django import forms

from registry.models import RegisteredModel, Task, VersionStatus

MAX_ARTIFACT_BYTES = 50 * 1024 * 1024


class VersionUploadForm(forms.Form):
    model = forms.ModelChoiceField(
        queryset=RegisteredModel.objects.all(), required=False, empty_label="New model…",
        help_text="Add the version to an existing model, or leave this on “New model…”.",
    )
    new_model_name = forms.CharField(max_length=200, required=False, label="New model name")
    task = forms.ChoiceField(choices=Task.choices, initial=Task.BINARY)
    version = forms.CharField(
        max_length=32, required=False, help_text="Leave blank for the next number (1.3 → 1.4)."
    )
    artifact = forms.FileField(
        label="scikit-learn model (.skops)",
        help_text="Saved with skops.io.dump(model, 'model.skops'). Pickle files are refused.",
    )
    metadata_file = forms.FileField(required=False, label="Metadata JSON file")
    metadata_text = forms.CharField(
        required=False, widget=forms.Textarea, label="…or paste the metadata JSON",
        help_text="Follows the model-metadata schema: at least features and metrics.",
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def clean_artifact(self) -> bytes:
        upload = self.cleaned_data["artifact"]
        if upload.size > MAX_ARTIFACT_BYTES:
            raise forms.ValidationError("The artifact is larger than 50 MB.")
        data = upload.read()
        if data[:2] != b"PK":
            raise forms.ValidationError(
                "This is not a skops file (a skops file is a zip archive). Save the model with skops.io.dump."
            )
        return data

    def clean(self) -> dict:
        cleaned = super().clean()
        if not cleaned.get("model") and not (cleaned.get("new_model_name") or "").strip():
            self.add_error("new_model_name", "Choose a model or name a new one.")
        upload = cleaned.get("metadata_file")
        text = upload.read().decode("utf-8", errors="replace") if upload else cleaned.get("metadata_text", "")
        if not text.strip():
            self.add_error("metadata_text", "Give the version's metadata, as a file or pasted.")
            return cleaned
        try:
            metadata = json.loads(text)
        except json.JSONDecodeError as exc:
            self.add_error("metadata_text", f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).")
            return cleaned
        if not isinstance(metadata, dict):
            self.add_error("metadata_text", "The metadata must be a JSON object.")
            return cleaned
        cleaned["metadata"] = metadata
        return cleaned


class TransitionForm(forms.Form):
    to_status = forms.ChoiceField(choices=VersionStatus.choices)


# Service error keys -> the upload form's fields; metadata.* paths stay named in the message.
_UPLOAD_FIELDS = {"name": "new_model_name", "task": "task", "version": "version", "artifact": "artifact"}


def add_service_errors(form: forms.Form, errors: dict[str, list[str]]) -> None:
    for key, messages in errors.items():
        field = _UPLOAD_FIELDS.get(key)
        if field is None and key.startswith("metadata"):
            field = "metadata_text"
            messages = [f"{key.removeprefix('metadata.')}: {m}" for m in messages]
        for message in messages:
            form.add_error(field if field in form.fields else None, message)
