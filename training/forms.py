"""Forms of the training pages. They parse; training.services validates and decides."""

from typing import Any

from django import forms

from core.errors import ServiceError
from core.permissions import actable, visible
from groups.models import ModelGroup, Role
from registry.models import ModelVersion, RegisteredModel
from training import selectors, trainers
from training.models import JOB_SOURCES, BaseKind, DatasetSource, Preset, RunKind
from training.services import DatasetSpec
from training.trainers.hyperparameters import HyperParameter

DEFAULT_BASE = f"preset:{Preset.GRADIENT_BOOSTING}"
HP_PREFIX = "hp_"
# Service error keys that are not form fields land on the closest field.
ERROR_FIELDS = {"dataset": "source", "window_start": "window_start", "status": None, "job": None}


def parse_base(value: str) -> tuple[str, ModelVersion | None]:
    """'preset:gradient_boosting' -> (preset, None); 'version:12' -> ('', version)."""
    kind, _, ref = (value or "").partition(":")
    if kind == "preset" and ref in Preset.values:
        return ref, None
    if kind == "version" and ref.isdigit():
        version = (
            ModelVersion.objects.select_related("model", "provider").filter(pk=int(ref)).first()
        )
        if version is not None:
            return "", version
    raise forms.ValidationError("Choose a base from the list.")


def base_kind_of(value: str) -> tuple[str, str]:
    """(base kind, preset) of a base choice, for picking the hyperparameter fields."""
    try:
        preset, version = parse_base(value)
    except forms.ValidationError:
        preset, version = Preset.GRADIENT_BOOSTING, None
    if version is None:
        return BaseKind.PRESET, preset
    return (BaseKind.LOCAL_VERSION if version.flavor == "sklearn" else BaseKind.EXTERNAL), ""


def _hp_help(spec: HyperParameter) -> str:
    default = (
        "empty"
        if spec.default in (None, "")
        else f"{spec.default:g}"
        if isinstance(spec.default, float)
        else str(spec.default)
    )
    bounds = f"; {spec.bounds_text}" if spec.bounds_text else ""
    return f"{spec.help} Default: {default}{bounds}."


class JobForm(forms.Form):
    base = forms.ChoiceField(
        help_text="A preset trains a new scikit-learn model here; an existing version is retrained "
        "with its own settings; an OpenAI version is fine-tuned by OpenAI."
    )
    model = forms.ModelChoiceField(
        RegisteredModel.objects.all(),
        required=False,
        label="Receiving model",
        empty_label="The group champion's model",
        help_text="Presets only: the model that receives the new version.",
    )
    source = forms.ChoiceField(
        choices=JOB_SOURCES, widget=forms.RadioSelect, initial=DatasetSource.DECISION_LOG
    )
    group = forms.ModelChoiceField(
        ModelGroup.objects.all(),
        required=False,
        help_text="Its logged predictions that have an outcome.",
    )
    window_start = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="UTC; empty: from the first.",
    )
    window_end = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="UTC; empty: up to now.",
    )
    role = forms.ChoiceField(
        choices=[("", "Every role"), *Role.choices],
        required=False,
        help_text="Only the predictions served by this role.",
    )
    file = forms.FileField(
        required=False,
        help_text="CSV with a header row, or JSON Lines (one object per line): the base model's features and the label.",
    )
    label_column = forms.CharField(
        required=False,
        max_length=100,
        help_text="The column with the true outcome (0 or 1). Empty: the base model's target.",
    )
    # The base the hyperparameter fields were drawn for: without JavaScript a changed base
    # shows its own fields first instead of silently running on defaults.
    hyperparameters_for = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only what the user may train into, and groups they may read.
        self.fields["base"].choices = selectors.base_choices(user=user)
        self.fields["model"].queryset = actable(user, RegisteredModel.objects.all())
        self.fields["group"].queryset = visible(user, ModelGroup.objects.all(), group_field="slug")
        base_value = self.data.get("base") or self.initial.get("base") or DEFAULT_BASE
        self.base_kind, self.preset = base_kind_of(base_value)
        self.specs = trainers.hyperparameter_specs(self.base_kind, self.preset)
        self.base_value = base_value
        for spec in self.specs:
            self.fields[HP_PREFIX + spec.name] = forms.CharField(
                label=spec.name,
                required=False,
                initial="" if spec.default is None else spec.default,
                help_text=_hp_help(spec),
            )

    @property
    def hyperparameter_fields(self) -> list[forms.BoundField]:
        return [self[HP_PREFIX + spec.name] for spec in self.specs]

    @property
    def dataset_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ("group", "window_start", "window_end", "role")]

    def clean_base(self) -> str:
        value = self.cleaned_data["base"]
        parse_base(value)
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        drawn_for = data.get("hyperparameters_for")
        if (
            data.get("base")
            and drawn_for
            and base_kind_of(drawn_for) != (self.base_kind, self.preset)
        ):
            raise forms.ValidationError(
                "The base changed: check its hyperparameters below (defaults filled in) and submit again."
            )
        return data

    def job_arguments(self) -> dict[str, Any]:
        """Keyword arguments for services.job_create."""
        data = self.cleaned_data
        preset, version = parse_base(data["base"])
        return {
            "preset": preset,
            "base_version": version,
            "model": data["model"] if preset else None,
            "hyperparameters": {spec.name: data.get(HP_PREFIX + spec.name) for spec in self.specs},
            "dataset": DatasetSpec(
                source=data["source"],
                group=data["group"] if data["source"] == DatasetSource.DECISION_LOG else None,
                window_start=data["window_start"],
                window_end=data["window_end"],
                role=data["role"],
                upload=data["file"] if data["source"] == DatasetSource.UPLOAD else None,
                label_column=data["label_column"],
            ),
        }

    def add_service_errors(self, error: ServiceError) -> None:
        if not error.errors:
            self.add_error(None, error.message)
        for key, messages in error.errors.items():
            if key.startswith("hyperparameters."):
                field = HP_PREFIX + key.split(".", 1)[1]
            else:
                field = ERROR_FIELDS.get(key, key)
            for message in messages:
                self.add_error(field if field in self.fields else None, message)


class JoinGroupForm(forms.Form):
    group = forms.ModelChoiceField(ModelGroup.objects.none(), empty_label=None)
    weight = forms.IntegerField(
        min_value=0,
        max_value=100,
        initial=10,
        help_text="Share of traffic taken from the champion, in %.",
    )

    def __init__(self, *args: Any, groups: list[ModelGroup], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = ModelGroup.objects.filter(pk__in=[g.pk for g in groups])


class RunForm(forms.Form):
    """A recipe run from the recipe's page: the kind, and the synthetic example's size and seed."""

    kind = forms.ChoiceField(choices=RunKind.choices)
    rows = forms.IntegerField(min_value=100, max_value=50_000, required=False)
    seed = forms.IntegerField(min_value=0, required=False)
