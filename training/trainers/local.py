"""The local trainer: real scikit-learn training in the worker, a loss reported per stage,
evaluated on the hold-out into the registry's metadata schema, saved as a skops artifact."""

from collections.abc import Callable
from typing import Any

import sklearn
from django.utils import timezone
from sklearn.base import clone

from registry.artifacts import ArtifactError, artifact_dump, artifact_load
from registry.evaluation import evaluate_for_task, feature_specs, loss_curve_chart
from registry.models import Task
from training.datasets import FeatureSpec, read_snapshot
from training.models import BaseKind, FineTuneJob
from training.trainers.base import (
    ExternalState,
    LocalResult,
    Reporter,
    TrainingFailure,
)
from training.trainers.fitting import (
    StageReport,
    algorithm_name,
    fit_staged,
    preset_estimator,
    split_rows,
    staged_loss_curve,
)

# Progress bands: loading and splitting, the staged fit, evaluation and registration.
FIT_START, FIT_END = 5, 85


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if isinstance(v, int | float | str | bool) or v is None}


def _labels(y: Any, task: str) -> Any:
    """The label column as the task trains on it (the snapshot's CSV loses the types)."""
    if task == Task.BINARY:
        return y.astype(int)
    if task == Task.REGRESSION:
        return y.astype(float)
    return y


def result_summary(task: str, metrics: dict[str, Any]) -> str:
    """One line about the hold-out, in the task's headline metrics."""
    if task == Task.REGRESSION:
        return (
            f"Hold-out MAE {metrics['mae']:.4g}, RMSE {metrics['rmse']:.4g}, "
            f"R² {metrics.get('r2', float('nan')):.3f} on {metrics['n_test']} rows."
        )
    if task == Task.MULTICLASS:
        return (
            f"Hold-out accuracy {metrics['accuracy']:.3f}, macro F1 {metrics['f1_macro']:.3f}, "
            f"log loss {metrics['log_loss']:.3f} on {metrics['n_test']} rows."
        )
    return (
        f"Hold-out AUC {metrics['auc_roc']:.3f}, accuracy {metrics['accuracy']:.3f}, "
        f"log loss {metrics['log_loss']:.3f} on {metrics['n_test']} rows."
    )


def stage_reporter(report: Reporter) -> Callable[[StageReport], None]:
    """The staged fit's callback: one progress report (and loss) per stage."""

    def on_stage(stage: StageReport) -> None:
        losses = ", ".join(
            f"{k.replace('_', ' ')} {v:.4f}" for k, v in stage.metrics.items() if k.endswith("loss")
        )
        report(
            progress=FIT_START + round((FIT_END - FIT_START) * stage.fraction),
            stage=f"Stage {stage.index}/{stage.total}: {stage.label}",
            message=f"Stage {stage.index}/{stage.total} ({stage.label})"
            + (f": {losses}." if losses else "."),
            metrics=stage.metrics,
        )

    return on_stage


class LocalTrainer:
    def _estimator(self, job: FineTuneJob) -> Any:
        if job.base_kind == BaseKind.PRESET:
            return preset_estimator(job.preset, job.hyperparameters, job.model.task)
        try:
            # The parent's own estimator settings, unfitted: retraining keeps the recipe.
            return clone(artifact_load(job.base_version))
        except ArtifactError as exc:
            raise TrainingFailure(f"The base version cannot be loaded: {exc}") from exc

    def run(self, job: FineTuneJob, report: Reporter) -> LocalResult:
        snapshot = job.snapshot
        features = [FeatureSpec(f["name"], f.get("type", "numeric")) for f in snapshot.features]
        names = [spec.name for spec in features]
        report(
            progress=1,
            stage="Loading the dataset",
            message=f"Snapshot of {snapshot.row_count} rows, {len(names)} features (sha256 {snapshot.sha256[:12]}…).",
        )
        with snapshot.file.open("rb") as handle:
            frame = read_snapshot(handle, features=features, label_column=snapshot.label_column)
        task = job.model.task
        X, y = frame[names], _labels(frame[snapshot.label_column], task)
        hp = job.hyperparameters
        split = split_rows(
            X,
            y,
            validation_split=hp["validation_split"],
            random_state=hp["random_state"],
            stratify=task != Task.REGRESSION,
        )
        estimator = self._estimator(job)
        report(
            progress=FIT_START,
            stage="Training",
            message=f"{algorithm_name(estimator)} on {len(split.X_train)} rows; "
            f"{len(split.X_test)} rows held out for evaluation.",
        )

        fit_staged(
            estimator,
            X_train=split.X_train,
            y_train=split.y_train,
            X_val=split.X_test,
            y_val=split.y_test,
            on_stage=stage_reporter(report),
        )
        report(
            progress=88, stage="Evaluating on the hold-out", message="Computing metrics and charts."
        )
        evaluation = evaluate_for_task(
            task,
            estimator,
            X_train=split.X_train,
            X_test=split.X_test,
            y_test=split.y_test,
            feature_names=names,
        )
        curve = staged_loss_curve(
            estimator,
            X_train=split.X_train,
            y_train=split.y_train,
            X_val=split.X_test,
            y_val=split.y_test,
        )
        if curve is not None:
            evaluation["charts"]["loss_curve"] = loss_curve_chart(**curve)
        metadata = self._metadata(job, estimator, split=split, evaluation=evaluation)
        artifact = artifact_dump(estimator)
        metrics = evaluation["metrics"]
        summary = result_summary(task, metrics)
        report(
            progress=95, stage="Registering the new version", message=summary, metrics=dict(metrics)
        )
        return LocalResult(
            artifact=artifact, metadata=metadata, summary=summary, holdout=split.X_test
        )

    def _metadata(self, job: FineTuneJob, estimator: Any, *, split: Any, evaluation: dict) -> dict:
        specs = feature_specs(split.X_train)
        # Keep what people wrote about the features (descriptions, units) from the base.
        known = {f["name"]: f for f in self._base_features(job)}
        for spec in specs:
            for key in ("description", "unit"):
                if known.get(spec["name"], {}).get(key):
                    spec[key] = known[spec["name"]][key]
        final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
        snapshot = job.snapshot
        return {
            "name": job.model.name,
            "task": job.model.task,
            "description": f"Trained by fine-tuning job {job.pk} ({job.base_label}).",
            "features": specs,
            **evaluation,
            "training": {
                "dataset": snapshot.dataset.name,
                "rows": int(len(split.X_train)),
                "test_rows": int(len(split.X_test)),
                "framework": f"scikit-learn {sklearn.__version__}",
                "algorithm": algorithm_name(estimator),
                "params": _jsonable(final.get_params()),
                "hyperparameters": job.hyperparameters,
                "trained_at": timezone.now().isoformat(),
                "target": snapshot.label_column,
                # Lineage: what it came from, on which exact rows, made by which job.
                "job": job.pk,
                "base": job.base_label,
                "base_version": job.base_version_id,
                "snapshot": {
                    "id": snapshot.pk,
                    "sha256": snapshot.sha256,
                    "rows": snapshot.row_count,
                    "columns": snapshot.columns,
                },
            },
        }

    def _base_features(self, job: FineTuneJob) -> list[dict]:
        if job.base_version_id:
            return list(job.base_version.metadata.get("features", []))
        latest = job.model.versions.order_by("-created_at").first() if job.model_id else None
        return list(latest.metadata.get("features", [])) if latest else []

    def poll(self, job: FineTuneJob) -> ExternalState:
        raise TypeError("Local jobs run in the worker; there is nothing to poll.")

    def cancel(self, job: FineTuneJob) -> None:
        # A running local job stops at its next stage (the reporter raises JobCancelled).
        return None
