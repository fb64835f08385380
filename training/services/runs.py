"""Recipe runs: start a train, eval or backtest run of a recipe version, and check what a
train run registered may be deployed (hub/deploy.py starts its gated rollout).

A run is a FineTuneJob with `kind` and `recipe_version`: one table, one page, one worker
task, one API. Its dataset is the recipe's synthetic example (deterministic: generator,
rows, seed) or an existing dataset; either way the exact rows are frozen in a snapshot.

Approval gate: a train run of a recipe version that is not approved registers its version
as a DRAFT with `training.lineage.recipe_status` in the metadata; the registry refuses to
move such a version to staging or production (registry/services.py reads its own metadata).
"""

import hashlib
from dataclasses import dataclass
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction

from core.errors import Conflict, NotFound
from core.permissions import require
from groups.models import ModelGroup
from recipes import services as recipe_services
from recipes.models import Recipe, RecipeStatus, RecipeVersion
from recipes.synthetic import DEFAULT_ROWS, DEFAULT_SEED, GENERATORS, generate
from registry.models import ModelVersion, RegisteredModel
from registry.services import registered_model_create
from training.models import Dataset, DatasetSnapshot, DatasetSource, FineTuneJob, JobStatus, RunKind
from training.services.common import TrainingValidationError, enqueue, event_add, person
from training.trainers.hyperparameters import (
    PRESET_SPECS,
    HyperparameterError,
    validate_hyperparameters,
)

ADD_RUN = "training.add_finetunejob"
MAX_SYNTHETIC_ROWS = 50_000


@dataclass(frozen=True)
class RunDataset:
    """Where a run's rows come from: `dataset` (an existing one, its latest snapshot), or
    the recipe's synthetic example with optional `rows` and `seed`."""

    dataset: Dataset | None = None
    rows: int | None = None
    seed: int | None = None


@dataclass(frozen=True)
class _Rows:
    content: bytes
    sha256: str
    rows: int
    columns: list[str]
    name: str


def _hyperparameters(manifest: dict) -> dict:
    training = manifest["pipeline"]["training"]
    try:
        return validate_hyperparameters(
            PRESET_SPECS[training["algorithm"]], training.get("hyperparameters") or {}
        )
    except HyperparameterError as exc:
        raise TrainingValidationError(
            {
                f"/pipeline/training/hyperparameters/{name}": msgs
                for name, msgs in exc.errors.items()
            }
        ) from exc


def _synthetic_rows(manifest: dict, spec: RunDataset) -> _Rows:
    example = manifest.get("example")
    if not example or example["generator"] not in GENERATORS:
        raise TrainingValidationError(
            {"dataset": ["This recipe has no synthetic example: name a dataset to run on."]}
        )
    rows = spec.rows or example.get("rows", DEFAULT_ROWS)
    seed = example.get("seed", DEFAULT_SEED) if spec.seed is None else spec.seed
    if not 100 <= rows <= MAX_SYNTHETIC_ROWS:
        raise TrainingValidationError({"dataset.rows": [f"From 100 to {MAX_SYNTHETIC_ROWS} rows."]})
    frame = generate(example["generator"], rows=rows, seed=seed)
    # The same CSV a job's snapshot holds (training.datasets.snapshot_bytes), and its hash.
    content = frame.to_csv(index=False, lineterminator="\n").encode()
    sha256 = hashlib.sha256(content).hexdigest()
    return _Rows(
        content=content,
        sha256=sha256,
        rows=len(frame),
        columns=list(frame.columns),
        name=f"{GENERATORS[example['generator']].title} (synthetic, seed {seed}, {len(frame)} rows)",
    )


def _synthetic_snapshot(
    recipe: Recipe, manifest: dict, spec: RunDataset, actor: Any
) -> DatasetSnapshot:
    rows = _synthetic_rows(manifest, spec)
    label = manifest["requirements"]["label"]
    dataset = Dataset.objects.create(
        name=rows.name,
        source=DatasetSource.SYNTHETIC,
        label_column=label,
        team_id=recipe.team_id,
        created_by=person(actor),
    )
    snapshot = DatasetSnapshot(
        dataset=dataset,
        row_count=rows.rows,
        columns=rows.columns,
        features=[{"name": c, "type": "numeric"} for c in rows.columns if c != label],
        label_column=label,
        sha256=rows.sha256,
    )
    snapshot.file.save(
        f"dataset-{dataset.pk}-{rows.sha256[:12]}.csv", ContentFile(rows.content), save=False
    )
    snapshot.save()
    return snapshot


def _existing_snapshot(spec: RunDataset, actor: Any) -> DatasetSnapshot:
    if actor is not None:
        require(actor, "training.view_dataset", spec.dataset)
    snapshot = spec.dataset.snapshots.order_by("-created_at", "-id").first()
    if snapshot is None:
        raise TrainingValidationError({"dataset": [f"{spec.dataset} has no rows frozen yet."]})
    return snapshot


def _recipe_model(recipe: Recipe, task: str, actor: Any) -> RegisteredModel:
    """The model a recipe's train runs register into, made by the first one."""
    if recipe.model_id is not None:
        return recipe.model
    model = registered_model_create(
        name=recipe.name,
        task=task,
        description=f"Versions trained from the recipe {recipe.name}.",
        owner=person(actor),
        tags=["recipe", recipe.family],
        team=recipe.team,
    )
    recipe_services.recipe_model_link(recipe=recipe, model=model)
    return model


def _evaluated(recipe: Recipe, version: ModelVersion | None, actor: Any) -> ModelVersion:
    if version is None:
        latest = (
            ModelVersion.objects.filter(model_id=recipe.model_id)
            .order_by("-created_at", "-id")
            .first()
            if recipe.model_id
            else None
        )
        if latest is None:
            raise TrainingValidationError(
                {
                    "model_version": [
                        "Nothing was trained from this recipe yet: name the version to evaluate."
                    ]
                }
            )
        version = latest
    if actor is not None:
        require(actor, "registry.view_modelversion", version)
    if not version.artifact:
        raise TrainingValidationError(
            {"model_version": [f"{version} has no scikit-learn artifact to score."]}
        )
    return version


def _check_kind(kind: str, recipe_version: RecipeVersion) -> None:
    if kind not in RunKind.values:
        raise TrainingValidationError(
            {"kind": [f"Kind must be one of: {', '.join(RunKind.values)}."]}
        )
    if recipe_version.status == RecipeStatus.ARCHIVED:
        raise TrainingValidationError(
            {"version": [f"{recipe_version} is archived: run a current version."]}
        )


@transaction.atomic
def run_create(
    *,
    recipe_version: RecipeVersion,
    kind: str,
    dataset: RunDataset | None = None,
    evaluated_version: ModelVersion | None = None,
    actor: Any,
) -> FineTuneJob:
    """Check, freeze the rows and queue a run (on commit). `actor` None: trusted callers."""
    _check_kind(kind, recipe_version)
    recipe = recipe_version.recipe
    if actor is not None:
        require(actor, ADD_RUN, FineTuneJob(team_id=recipe.team_id))
        require(actor, "recipes.view_recipeversion", recipe_version)
    manifest = recipe_version.effective
    hyperparameters = _hyperparameters(manifest)
    spec = dataset or RunDataset()
    if spec.dataset is not None:
        snapshot = _existing_snapshot(spec, actor)
    else:
        snapshot = _synthetic_snapshot(recipe, manifest, spec, actor)
    task = manifest["requirements"]["task"]
    model, evaluated = recipe.model, None
    if kind == RunKind.TRAIN:
        model = _recipe_model(recipe, task, actor)
    elif kind == RunKind.EVAL:
        evaluated = _evaluated(recipe, evaluated_version, actor)
        model = evaluated.model
    job = FineTuneJob.objects.create(
        kind=kind,
        recipe_version=recipe_version,
        evaluated_version=evaluated,
        preset=manifest["pipeline"]["training"]["algorithm"],
        model=model,
        dataset=snapshot.dataset,
        snapshot=snapshot,
        hyperparameters=hyperparameters,
        stage="Waiting for a worker",
        team_id=recipe.team_id,
        created_by=person(actor),
    )
    event_add(
        job,
        f"Queued: {RunKind(kind).label.lower()} of {recipe_version} on {snapshot.dataset.name} "
        f"({snapshot.row_count} rows, sha256 {snapshot.sha256[:12]}…).",
    )
    enqueue(job)
    return job


@dataclass(frozen=True)
class DeployTarget:
    """What deploying a train run puts where: the version it registered, the recipe version
    it trained from (whose effective manifest holds the deployment settings), the group."""

    job: FineTuneJob
    version: ModelVersion
    recipe_version: RecipeVersion
    group: ModelGroup


def run_deploy_target(*, job: FineTuneJob, actor: Any) -> DeployTarget:
    """Check that the version a train run of an APPROVED recipe version registered may be
    deployed, and to which group (`deployment.target_group`). Starting the gated rollout is
    the caller's (hub/deploy.py: training and rollouts share a layer and import neither)."""
    require(actor, "training.change_finetunejob", job)
    version = job.recipe_version
    if version is None or job.kind != RunKind.TRAIN:
        raise TrainingValidationError({"run": [f"Run {job.pk} is not a recipe's train run."]})
    if job.status != JobStatus.SUCCEEDED or job.result_version is None:
        raise Conflict({"run": [f"Run {job.pk} has not registered a version yet."]})
    if version.status != RecipeStatus.APPROVED or (
        job.result_version.metadata.get("training", {}).get("lineage", {}).get("recipe_status")
        != RecipeStatus.APPROVED
    ):
        raise Conflict(
            {
                "run": [
                    f"{version} was not approved when it trained: only an approved recipe's version deploys."
                ]
            }
        )
    slug = version.effective.get("deployment", {}).get("target_group")
    if not slug:
        raise TrainingValidationError(
            {"/deployment/target_group": [f"{version} names no target group to deploy to."]}
        )
    group = ModelGroup.objects.filter(slug=slug).first()
    if group is None:
        raise NotFound({"/deployment/target_group": [f"There is no group '{slug}'."]})
    return DeployTarget(job=job, version=job.result_version, recipe_version=version, group=group)
