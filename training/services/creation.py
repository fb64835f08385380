"""Creating a job: check the base, the hyperparameters and the data, snapshot the rows,
and queue it (on commit). Nothing is written when anything is wrong."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from core.permissions import require
from groups.models import ModelGroup, Role
from inference.tables import inference_log_model
from registry.models import Flavor, ModelVersion, RegisteredModel, Task
from training import trainers
from training.datasets import (
    DECISION_LOG_LABEL,
    NUMERIC_TYPES,
    DatasetError,
    FeatureSpec,
    Rows,
    check_trainable,
    check_upload_size,
    feature_specs_from,
    file_format_for,
    rows_from_decision_log,
    rows_from_file,
    snapshot_bytes,
)
from training.models import (
    JOB_SOURCES,
    BaseKind,
    Dataset,
    DatasetSnapshot,
    DatasetSource,
    FineTuneJob,
    JobStatus,
    Preset,
)
from training.services.common import TrainingValidationError, enqueue, event_add, person
from training.trainers.hyperparameters import (
    PRESETS_BY_TASK,
    HyperparameterError,
    validate_hyperparameters,
)

LOCAL_TASKS = (Task.BINARY, Task.MULTICLASS, Task.REGRESSION)


@dataclass(frozen=True)
class DatasetSpec:
    source: str
    group: ModelGroup | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    role: str = ""
    model_version_id: int | None = None
    upload: UploadedFile | None = None
    label_column: str = ""


@dataclass(frozen=True)
class Base:
    kind: str
    preset: str
    version: ModelVersion | None
    model: RegisteredModel
    features: list[FeatureSpec] | None  # None: every uploaded column but the label
    binary_label: bool

    @property
    def label_task(self) -> str:
        """How the dataset's label is read and checked: the model's task for local
        training; provider fine-tuning reads a binary label as 0/1 and any other as is."""
        if self.kind == BaseKind.EXTERNAL:
            return Task.BINARY if self.binary_label else ""
        return self.model.task

    @property
    def default_label_column(self) -> str:
        source = self.version or self.model.versions.order_by("-created_at").first()
        target = (source.metadata.get("training") or {}).get("target") if source else None
        return str(target or DECISION_LOG_LABEL)


def _base_resolve(
    *,
    preset: str,
    base_version: ModelVersion | None,
    model: RegisteredModel | None,
    group: ModelGroup | None,
) -> Base:
    if preset and base_version:
        raise TrainingValidationError(
            {"base": ["Choose a preset or an existing version, not both."]}
        )
    if preset:
        base = _preset_base(preset, model, group)
    elif base_version is None:
        raise TrainingValidationError(
            {"base": ["Choose what to train: a preset or an existing version."]}
        )
    elif base_version.flavor == Flavor.SKLEARN:
        base = _local_base(base_version)
    else:
        base = _external_base(base_version)
    if base.kind != BaseKind.EXTERNAL:
        _check_locally_trainable(base)
    return base


def _check_preset_fits(preset: str, model: RegisteredModel) -> None:
    allowed = PRESETS_BY_TASK.get(model.task, ())
    if model.task in LOCAL_TASKS and preset not in allowed:
        labels = ", ".join(Preset(p).label.lower() for p in allowed)
        raise TrainingValidationError(
            {
                "base": [
                    f"The {Preset(preset).label.lower()} preset does not train "
                    f"{model.get_task_display().lower()} models like {model}; use one of: {labels}."
                ]
            }
        )


def _champion_model(group: ModelGroup | None) -> RegisteredModel | None:
    if group is None:
        return None
    champion = (
        group.memberships.filter(role=Role.CHAMPION).select_related("model_version__model").first()
    )
    return champion.model_version.model if champion else None


def _preset_base(preset: str, model: RegisteredModel | None, group: ModelGroup | None) -> Base:
    if preset not in Preset.values:
        raise TrainingValidationError(
            {"base": [f"Unknown preset '{preset}'; use one of {', '.join(Preset.values)}."]}
        )
    # From a decision log, the new version joins the champion's model by default.
    model = model or _champion_model(group)
    if model is None:
        raise TrainingValidationError(
            {"model": ["Choose the registered model that receives the new version."]}
        )
    _check_preset_fits(preset, model)
    latest = next((v for v in model.versions.order_by("-created_at") if v.feature_names), None)
    entries = latest.metadata.get("features", []) if latest else (group.features if group else [])
    features = feature_specs_from(entries) or None
    return Base(BaseKind.PRESET, preset, None, model, features, model.task == Task.BINARY)


def _local_base(version: ModelVersion) -> Base:
    if not version.artifact:
        raise TrainingValidationError({"base": [f"{version} has no artifact to retrain."]})
    features = feature_specs_from(version.metadata.get("features", []))
    model = version.model
    return Base(BaseKind.LOCAL_VERSION, "", version, model, features, model.task == Task.BINARY)


def _external_base(version: ModelVersion) -> Base:
    provider = version.provider
    if provider is None or not provider.supports_fine_tuning:
        raise TrainingValidationError(
            {
                "base": [
                    f"{version} runs on {provider or 'no provider'}: only OpenAI offers "
                    "fine-tuning through its public API (Anthropic and Gemini do not)."
                ]
            }
        )
    if not provider.has_key or not provider.is_active:
        raise TrainingValidationError(
            {"base": [f"The provider {provider} is inactive or has no API key."]}
        )
    if not version.prompt_template:
        raise TrainingValidationError(
            {"base": [f"{version} has no prompt template to write examples with."]}
        )
    features = feature_specs_from(version.metadata.get("features", []), default_type="text")
    model = version.model
    return Base(BaseKind.EXTERNAL, "", version, model, features, model.task == Task.BINARY)


def _check_locally_trainable(base: Base) -> None:
    model = base.model
    if model.task not in LOCAL_TASKS:
        raise TrainingValidationError(
            {
                "base": [
                    f"{model} is a {model.get_task_display().lower()} model: local training "
                    "covers binary and multiclass classification and regression."
                ]
            }
        )
    for spec in base.features or []:
        if spec.type not in NUMERIC_TYPES:
            raise TrainingValidationError(
                {
                    "base": [
                        f"Feature '{spec.name}' is {spec.type}: scikit-learn jobs take numeric features only."
                    ]
                }
            )


def _rows_for(base: Base, spec: DatasetSpec) -> tuple[Rows, Dataset]:
    """The validated rows and an unsaved Dataset describing where they came from."""
    if spec.source == DatasetSource.DECISION_LOG:
        return _rows_from_log(base, spec)
    if spec.source == DatasetSource.UPLOAD:
        return _rows_from_upload(base, spec)
    sources = ", ".join(value for value, _ in JOB_SOURCES)
    raise TrainingValidationError({"source": [f"Use one of {sources}."]})


def _log_spec_check(spec: DatasetSpec) -> ModelGroup:
    group = spec.group
    if group is None:
        raise TrainingValidationError(
            {"group": ["Choose the group whose decision log to train on."]}
        )
    if not group.table_name:
        raise TrainingValidationError({"group": [f"{group} has no inference table yet."]})
    if spec.window_start and spec.window_end and spec.window_start >= spec.window_end:
        raise TrainingValidationError({"window_end": ["The window must end after it starts."]})
    if spec.role and spec.role not in Role.values:
        raise TrainingValidationError({"role": [f"Use one of {', '.join(Role.values)}."]})
    return group


def _rows_from_log(base: Base, spec: DatasetSpec) -> tuple[Rows, Dataset]:
    group = _log_spec_check(spec)
    features = base.features or feature_specs_from(group.features)
    if not features:
        raise TrainingValidationError({"group": [f"{group} declares no features to train on."]})
    rows = rows_from_decision_log(
        log_model=inference_log_model(group.table_name),
        group_name=group.name,
        features=features,
        start=spec.window_start,
        end=spec.window_end,
        role=spec.role,
        model_version_id=spec.model_version_id,
        task=base.label_task,
    )
    window = " to ".join(f"{d:%Y-%m-%d %H:%M}" for d in (spec.window_start, spec.window_end) if d)
    narrowing = {"role": spec.role, "model_version_id": spec.model_version_id}
    dataset = Dataset(
        name=f"{group.name} decision log" + (f" ({window})" if window else ""),
        source=DatasetSource.DECISION_LOG,
        group=group,
        window_start=spec.window_start,
        window_end=spec.window_end,
        filters={k: v for k, v in narrowing.items() if v},
        label_column=DECISION_LOG_LABEL,
    )
    return rows, dataset


def _rows_from_upload(base: Base, spec: DatasetSpec) -> tuple[Rows, Dataset]:
    upload = spec.upload
    if upload is None:
        raise TrainingValidationError({"file": ["Choose a CSV or JSONL file to upload."]})
    # Before a byte is read: the size the upload handler counted while receiving it.
    check_upload_size(upload.size, limit=int(settings.TRAINING_UPLOAD_MAX_BYTES))
    label_column = (spec.label_column or base.default_label_column).strip()
    file_format = file_format_for(upload.name)
    upload.seek(0)
    rows = rows_from_file(
        upload,
        file_format=file_format,
        features=base.features,
        label_column=label_column,
        task=base.label_task,
        max_rows=int(settings.TRAINING_UPLOAD_MAX_ROWS),
    )
    dataset = Dataset(
        name=upload.name,
        source=DatasetSource.UPLOAD,
        file_format=file_format,
        label_column=label_column,
    )
    return rows, dataset


def _require_start(actor: Any, base: Base, spec: DatasetSpec) -> None:
    """Starting a job is an Operator's act on the team of the model that receives the
    version; training on a group's decision log also reads that group's predictions."""
    owner = FineTuneJob(team_id=base.model.team_id)
    require(actor, "training.add_finetunejob", owner)
    require(actor, "training.add_dataset", Dataset(team_id=base.model.team_id))
    if spec.source == DatasetSource.DECISION_LOG and spec.group is not None:
        require(actor, "groups.view_modelgroup", spec.group)


def _validated_hyperparameters(base: Base, hyperparameters: dict[str, Any] | None) -> dict:
    try:
        return validate_hyperparameters(
            trainers.hyperparameter_specs(base.kind, base.preset), hyperparameters
        )
    except HyperparameterError as exc:
        raise TrainingValidationError(
            {f"hyperparameters.{name}": msgs for name, msgs in exc.errors.items()}
        ) from exc


@transaction.atomic
def job_create(
    *,
    dataset: DatasetSpec,
    preset: str = "",
    base_version: ModelVersion | None = None,
    model: RegisteredModel | None = None,
    hyperparameters: dict[str, Any] | None = None,
    created_by: Any = None,
) -> FineTuneJob:
    """Check everything, snapshot the dataset and queue the job (on commit).

    `created_by` is who starts it (a person or an API key's principal): they must be
    allowed to (PermissionDenied otherwise); None only for trusted callers (commands).
    Any problem raises TrainingValidationError naming the field; then nothing is saved
    and nothing is queued.
    """
    base = _base_resolve(preset=preset, base_version=base_version, model=model, group=dataset.group)
    if created_by is not None:
        _require_start(created_by, base, dataset)
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    try:
        cleaned = _validated_hyperparameters(base, hyperparameters)
    except TrainingValidationError as exc:
        errors |= exc.errors
    try:
        rows, source = _rows_for(base, dataset)
        check_trainable(rows, task=base.label_task if base.kind != BaseKind.EXTERNAL else "")
    except DatasetError as exc:
        errors |= exc.errors
    if errors:
        raise TrainingValidationError(errors)

    source.created_by = person(created_by)
    source.team_id = base.model.team_id
    if dataset.upload is not None:
        dataset.upload.seek(0)
        # Django's storage copies the upload in chunks: it is never read whole into memory.
        source.upload.save(dataset.upload.name, dataset.upload, save=False)
    source.save()
    content, sha256 = snapshot_bytes(rows)
    snapshot = DatasetSnapshot(
        dataset=source,
        row_count=rows.row_count,
        columns=rows.columns,
        features=[spec.as_dict() for spec in rows.features],
        label_column=rows.label_column,
        sha256=sha256,
    )
    snapshot.file.save(f"dataset-{source.pk}-{sha256[:12]}.csv", ContentFile(content), save=False)
    snapshot.save()
    job = FineTuneJob.objects.create(
        base_kind=base.kind,
        preset=base.preset,
        base_version=base.version,
        model=base.model,
        dataset=source,
        snapshot=snapshot,
        hyperparameters=cleaned,
        stage="Waiting for a worker",
        team_id=base.model.team_id,
        created_by=person(created_by),
    )
    event_add(
        job,
        f"Queued: {job.base_label} on {source.name} ({rows.row_count} rows, sha256 {sha256[:12]}…).",
    )
    enqueue(job)
    return job


@transaction.atomic
def job_retry(*, job: FineTuneJob, actor: Any) -> FineTuneJob:
    """A new job with the same base, snapshot and hyperparameters (the old one stays as it was)."""
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise TrainingValidationError(
            {
                "status": [
                    f"Job {job.pk} is {job.get_status_display().lower()}: only failed or cancelled jobs can be retried."
                ]
            }
        )
    if job.snapshot_id is None:
        raise TrainingValidationError(
            {"status": [f"Job {job.pk} has no dataset snapshot to retry on."]}
        )
    if job.base_kind != BaseKind.PRESET and job.base_version_id is None:
        raise TrainingValidationError(
            {"base": [f"The base version of job {job.pk} was deleted: start a new job instead."]}
        )
    retry = FineTuneJob.objects.create(
        kind=job.kind,
        recipe_version=job.recipe_version,
        evaluated_version=job.evaluated_version,
        base_kind=job.base_kind,
        preset=job.preset,
        base_version=job.base_version,
        model=job.model,
        dataset=job.dataset,
        snapshot=job.snapshot,
        hyperparameters=job.hyperparameters,
        retry_of=job,
        stage="Waiting for a worker",
        team_id=job.team_id,
        created_by=person(actor),
    )
    event_add(retry, f"Queued: a retry of job {job.pk} on the same snapshot.")
    enqueue(retry)
    return retry
