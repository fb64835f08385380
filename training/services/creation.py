"""Creating a job: check the base, the hyperparameters and the data, snapshot the rows,
and queue it (on commit). Nothing is written when anything is wrong."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

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
    feature_specs_from,
    file_format_for,
    rows_from_decision_log,
    rows_from_file,
    snapshot_bytes,
)
from training.models import (
    BaseKind,
    Dataset,
    DatasetSnapshot,
    DatasetSource,
    FineTuneJob,
    JobStatus,
    Preset,
)
from training.services.common import TrainingValidationError, enqueue, event_add
from training.trainers.hyperparameters import HyperparameterError, validate_hyperparameters


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
    if not preset and not base_version:
        raise TrainingValidationError(
            {"base": ["Choose what to train: a preset or an existing version."]}
        )
    if preset:
        if preset not in Preset.values:
            raise TrainingValidationError(
                {"base": [f"Unknown preset '{preset}'; use one of {', '.join(Preset.values)}."]}
            )
        if model is None and group is not None:
            # From a decision log, the new version joins the champion's model by default.
            champion = (
                group.memberships.filter(role=Role.CHAMPION)
                .select_related("model_version__model")
                .first()
            )
            model = champion.model_version.model if champion else None
        if model is None:
            raise TrainingValidationError(
                {"model": ["Choose the registered model that receives the new version."]}
            )
        kind = BaseKind.PRESET
        latest = next((v for v in model.versions.order_by("-created_at") if v.feature_names), None)
        entries = (
            latest.metadata.get("features", []) if latest else (group.features if group else [])
        )
        features = feature_specs_from(entries) or None
    elif base_version.flavor == Flavor.SKLEARN:
        kind, model = BaseKind.LOCAL_VERSION, base_version.model
        features = feature_specs_from(base_version.metadata.get("features", []))
        if not base_version.artifact:
            raise TrainingValidationError({"base": [f"{base_version} has no artifact to retrain."]})
    else:
        kind, model = BaseKind.EXTERNAL, base_version.model
        provider = base_version.provider
        if provider is None or not provider.supports_fine_tuning:
            raise TrainingValidationError(
                {
                    "base": [
                        f"{base_version} runs on {provider or 'no provider'}: only OpenAI offers "
                        "fine-tuning through its public API (Anthropic and Gemini do not)."
                    ]
                }
            )
        if not provider.has_key or not provider.is_active:
            raise TrainingValidationError(
                {"base": [f"The provider {provider} is inactive or has no API key."]}
            )
        if not base_version.prompt_template:
            raise TrainingValidationError(
                {"base": [f"{base_version} has no prompt template to write examples with."]}
            )
        features = feature_specs_from(
            base_version.metadata.get("features", []), default_type="text"
        )
    if kind != BaseKind.EXTERNAL:
        if model.task != Task.BINARY:
            raise TrainingValidationError(
                {
                    "base": [
                        f"{model} is a {model.get_task_display().lower()} model: local training covers binary classification."
                    ]
                }
            )
        for spec in features or []:
            if spec.type not in NUMERIC_TYPES:
                raise TrainingValidationError(
                    {
                        "base": [
                            f"Feature '{spec.name}' is {spec.type}: scikit-learn jobs take numeric features only."
                        ]
                    }
                )
    return Base(kind, preset, base_version, model, features, binary_label=model.task == Task.BINARY)


def _rows_for(base: Base, spec: DatasetSpec) -> tuple[Rows, Dataset]:
    """The validated rows and an unsaved Dataset describing where they came from."""
    if spec.source == DatasetSource.DECISION_LOG:
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
            binary_label=base.binary_label,
        )
        window = " to ".join(
            f"{d:%Y-%m-%d %H:%M}" for d in (spec.window_start, spec.window_end) if d
        )
        dataset = Dataset(
            name=f"{group.name} decision log" + (f" ({window})" if window else ""),
            source=DatasetSource.DECISION_LOG,
            group=group,
            window_start=spec.window_start,
            window_end=spec.window_end,
            filters={
                k: v
                for k, v in {"role": spec.role, "model_version_id": spec.model_version_id}.items()
                if v
            },
            label_column=DECISION_LOG_LABEL,
        )
        return rows, dataset
    if spec.source == DatasetSource.UPLOAD:
        if spec.upload is None:
            raise TrainingValidationError({"file": ["Choose a CSV or JSONL file to upload."]})
        label_column = (spec.label_column or base.default_label_column).strip()
        file_format = file_format_for(spec.upload.name)
        spec.upload.seek(0)
        rows = rows_from_file(
            spec.upload,
            file_format=file_format,
            features=base.features,
            label_column=label_column,
            binary_label=base.binary_label,
        )
        dataset = Dataset(
            name=spec.upload.name,
            source=DatasetSource.UPLOAD,
            file_format=file_format,
            label_column=label_column,
        )
        return rows, dataset
    raise TrainingValidationError({"source": [f"Use one of {', '.join(DatasetSource.values)}."]})


@transaction.atomic
def job_create(
    *,
    dataset: DatasetSpec,
    preset: str = "",
    base_version: ModelVersion | None = None,
    model: RegisteredModel | None = None,
    hyperparameters: dict[str, Any] | None = None,
    created_by: AbstractBaseUser | None = None,
) -> FineTuneJob:
    """Check everything, snapshot the dataset and queue the job (on commit).

    Any problem raises TrainingValidationError naming the field; then nothing is saved
    and nothing is queued.
    """
    base = _base_resolve(preset=preset, base_version=base_version, model=model, group=dataset.group)
    errors: dict[str, list[str]] = {}
    try:
        cleaned = validate_hyperparameters(
            trainers.hyperparameter_specs(base.kind, base.preset), hyperparameters
        )
    except HyperparameterError as exc:
        errors |= {f"hyperparameters.{name}": msgs for name, msgs in exc.errors.items()}
    try:
        rows, source = _rows_for(base, dataset)
        check_trainable(rows, binary_label=base.binary_label and base.kind != BaseKind.EXTERNAL)
    except DatasetError as exc:
        errors |= exc.errors
    if errors:
        raise TrainingValidationError(errors)

    source.created_by = created_by
    if dataset.upload is not None:
        dataset.upload.seek(0)
        source.upload.save(dataset.upload.name, ContentFile(dataset.upload.read()), save=False)
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
        created_by=created_by,
    )
    event_add(
        job,
        f"Queued: {job.base_label} on {source.name} ({rows.row_count} rows, sha256 {sha256[:12]}…).",
    )
    enqueue(job)
    return job


@transaction.atomic
def job_retry(*, job: FineTuneJob, actor: AbstractBaseUser | None) -> FineTuneJob:
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
        base_kind=job.base_kind,
        preset=job.preset,
        base_version=job.base_version,
        model=job.model,
        dataset=job.dataset,
        snapshot=job.snapshot,
        hyperparameters=job.hyperparameters,
        retry_of=job,
        stage="Waiting for a worker",
        created_by=actor,
    )
    event_add(retry, f"Queued: a retry of job {job.pk} on the same snapshot.")
    enqueue(retry)
    return retry
