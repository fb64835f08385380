import io
import json

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from core.errors import ServiceError
from core.permissions import actable
from registry.artifacts import artifact_check_size
from registry.models import RegisteredModel, Task, VersionStatus
from registry.selectors import registering_teams


def upload_size_check(upload: UploadedFile, *, limit: int, what: str) -> None:
    """Refuse a file by its announced size, before a byte of it is read."""
    if upload.size > limit:
        raise forms.ValidationError(
            f"{what} is {upload.size / 1024 / 1024:,.1f} MB; the limit is {limit / 1024 / 1024:,.1f} MB."
        )


class VersionUploadForm(forms.Form):
    model = forms.ModelChoiceField(
        queryset=RegisteredModel.objects.none(),
        required=False,
        empty_label="New model…",
        help_text="Add the version to an existing model, or leave this on “New model…”.",
    )
    new_model_name = forms.CharField(max_length=200, required=False, label="New model name")
    team = forms.ChoiceField(
        required=False, label="Team", help_text="The team that owns the new model."
    )
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
        required=False,
        widget=forms.Textarea,
        label="…or paste the metadata JSON",
        help_text="Follows the model-metadata schema: at least features and metrics.",
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Only the models the user may add versions to; only the teams they may register into.
        self.fields["model"].queryset = actable(user, RegisteredModel.objects.all())
        choices = [(team.slug, team.name) for team in registering_teams(user)]
        if len(choices) > 1:
            self.fields["team"].choices = [("", "Choose a team…"), *choices]
        else:
            del self.fields["team"]

    def clean_artifact(self) -> bytes:
        upload = self.cleaned_data["artifact"]
        try:
            artifact_check_size(upload.size)
        except ServiceError as exc:
            raise forms.ValidationError(exc.message) from None
        data = upload.read()
        if data[:2] != b"PK":
            raise forms.ValidationError(
                "This is not a skops file (a skops file is a zip archive). Save the model with skops.io.dump."
            )
        return data

    def clean_metadata_file(self) -> UploadedFile | None:
        upload = self.cleaned_data.get("metadata_file")
        if upload is not None:
            upload_size_check(
                upload, limit=settings.HUB_METADATA_MAX_BYTES, what="The metadata file"
            )
        return upload

    def _metadata(self, cleaned: dict) -> dict | None:
        upload = cleaned.get("metadata_file")
        try:
            if upload is not None:
                # Parsed from the file as it is read, not from a copy of it.
                return json.load(io.TextIOWrapper(upload.file, encoding="utf-8", errors="replace"))
            text = cleaned.get("metadata_text", "")
            if not text.strip():
                self.add_error("metadata_text", "Give the version's metadata, as a file or pasted.")
                return None
            return json.loads(text)
        except json.JSONDecodeError as exc:
            field = "metadata_file" if upload is not None else "metadata_text"
            self.add_error(
                field, f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            )
        except RecursionError:
            self.add_error("metadata_text", "The metadata is nested too deeply.")
        return None

    def clean(self) -> dict:
        cleaned = super().clean()
        if not cleaned.get("model") and not (cleaned.get("new_model_name") or "").strip():
            self.add_error("new_model_name", "Choose a model or name a new one.")
        if "metadata_file" in self.errors:
            return cleaned
        metadata = self._metadata(cleaned)
        if metadata is None:
            return cleaned
        if not isinstance(metadata, dict):
            self.add_error("metadata_text", "The metadata must be a JSON object.")
            return cleaned
        cleaned["metadata"] = metadata
        return cleaned


class TransitionForm(forms.Form):
    to_status = forms.ChoiceField(choices=VersionStatus.choices)


# Service error keys -> the upload form's fields; metadata.* paths stay named in the message.
_UPLOAD_FIELDS = {
    "name": "new_model_name",
    "task": "task",
    "version": "version",
    "artifact": "artifact",
    "team": "team",
}


def add_service_errors(form: forms.Form, error: ServiceError) -> None:
    if not error.errors:
        form.add_error(None, error.message)
    for key, messages in error.errors.items():
        field = _UPLOAD_FIELDS.get(key)
        if field is None and key.startswith("metadata"):
            field = "metadata_text"
            messages = [f"{key.removeprefix('metadata.')}: {m}" for m in messages]
        for message in messages:
            form.add_error(field if field in form.fields else None, message)
