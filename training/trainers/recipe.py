"""Recipe runs in the worker: the recipe version's effective manifest drives the pipeline
(training/recipe_pipeline.py) and the local trainer's pieces do the fitting.

- train: prepare, hold out (the last horizon for rolling origin), the staged fit of the
  recipe's algorithm, the registry's evaluation plus the recipe's metrics and gate, and a
  version whose metadata names its lineage (recipe, version, content hash, dataset hash);
- backtest: one fresh fit per fold of the validation strategy, per-fold and mean metrics;
- eval: a registered version scored on the dataset against the recipe's thresholds.
"""

from typing import Any

import pandas as pd
from django.utils import timezone

from recipes.models import RecipeStatus
from registry.artifacts import ArtifactError, artifact_dump, artifact_load
from registry.evaluation import evaluate_for_task, loss_curve_chart
from training import recipe_pipeline as rp
from training.models import FineTuneJob, RunKind
from training.trainers.base import LocalResult, Reporter, RunResult, TrainingFailure
from training.trainers.fitting import (
    Split,
    algorithm_name,
    fit_staged,
    preset_estimator,
    staged_loss_curve,
)
from training.trainers.local import FIT_START, LocalTrainer, stage_reporter

REGRESSION = "regression"


def _gate_text(gate: dict) -> str:
    parts = [
        f"{m['label']} {m['value']:.4g} {'✓' if m['passed'] else '✗'}"
        if m["value"] is not None
        else f"{m['label']} n/a ✗"
        for m in gate["metrics"]
    ]
    return ("Gate passed: " if gate["passed"] else "Gate failed: ") + ", ".join(parts) + "."


def lineage(job: FineTuneJob) -> dict[str, Any]:
    version = job.recipe_version
    return {
        "recipe": version.recipe.slug,
        "recipe_version": version.version,
        "recipe_status": version.status,
        "content_hash": version.content_hash,
        "dataset_sha256": job.snapshot.sha256,
        "run": job.pk,
    }


class RecipeTrainer(LocalTrainer):
    def run(self, job: FineTuneJob, report: Reporter) -> LocalResult | RunResult:
        manifest = job.recipe_version.effective
        try:
            prepared = self._prepare(job, manifest, report)
            if job.kind == RunKind.BACKTEST:
                return self._backtest(job, manifest, prepared, report)
            if job.kind == RunKind.EVAL:
                return self._evaluate(job, manifest, prepared, report)
            return self._train(job, manifest, prepared, report)
        except rp.RecipeDataError as exc:
            raise TrainingFailure(str(exc)) from exc

    # --- stages ------------------------------------------------------------------------

    def _prepare(self, job: FineTuneJob, manifest: dict, report: Reporter) -> rp.Prepared:
        snapshot = job.snapshot
        report(
            progress=1,
            stage="Loading the dataset",
            message=f"{job.recipe_version} on {snapshot.dataset.name}: {snapshot.row_count} rows "
            f"(sha256 {snapshot.sha256[:12]}…).",
        )
        with snapshot.file.open("rb") as handle:
            raw = pd.read_csv(handle)
        prepared = rp.prepare(raw, manifest)
        report(
            progress=3,
            stage="Quality and feature preparation",
            message=f"{len(prepared.frame)} usable rows ({prepared.dropped} dropped: duplicates "
            f"or too little history), {len(prepared.features)} features: "
            f"{', '.join(prepared.features)}.",
        )
        return prepared

    def _xy(self, prepared: rp.Prepared, task: str) -> tuple[pd.DataFrame, pd.Series]:
        y = prepared.frame[prepared.label]
        return prepared.frame[prepared.features], y.astype(float) if task == REGRESSION else y

    def _train(
        self, job: FineTuneJob, manifest: dict, prepared: rp.Prepared, report: Reporter
    ) -> LocalResult:
        task = manifest["requirements"]["task"]
        hp = job.hyperparameters
        validation = manifest["evaluation"]["validation"]
        fold = rp.training_holdout(
            prepared,
            validation,
            test_size=hp["validation_split"],
            seed=hp["random_state"],
            stratify=task != REGRESSION,
        )
        X, y = self._xy(prepared, task)
        split = Split(X.iloc[fold.train], X.iloc[fold.test], y.iloc[fold.train], y.iloc[fold.test])
        estimator = preset_estimator(job.preset, hp, task)
        report(
            progress=FIT_START,
            stage="Training",
            message=f"{algorithm_name(estimator)} on {len(split.X_train)} rows; "
            f"{len(split.X_test)} held out ({fold.label}).",
        )
        fit_staged(
            estimator,
            X_train=split.X_train,
            y_train=split.y_train,
            X_val=split.X_test,
            y_val=split.y_test,
            on_stage=stage_reporter(report),
        )
        report(progress=88, stage="Evaluating on the hold-out", message="Metrics, gate and charts.")
        evaluation = evaluate_for_task(
            task,
            estimator,
            X_train=split.X_train,
            X_test=split.X_test,
            y_test=split.y_test,
            feature_names=prepared.features,
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
        scale = rp.naive_mae(
            prepared.frame.iloc[fold.train], prepared, validation.get("seasonality", 1)
        )
        scores = rp.scores_for(task, estimator, split.X_test, split.y_test, scale=scale)
        gate = rp.gate(manifest, scores)
        metadata = self._metadata(job, estimator, split=split, evaluation=evaluation)
        metadata["description"] = (
            f"Trained by run {job.pk} from recipe {job.recipe_version} "
            f"({job.recipe_version.get_status_display().lower()})."
        )
        metadata["training"]["lineage"] = lineage(job)
        metadata["training"]["evaluation_gate"] = gate
        metadata["training"]["trained_at"] = timezone.now().isoformat()
        summary = _gate_text(gate)
        report(progress=95, stage="Registering the new version", message=summary, metrics=scores)
        register_status = manifest["pipeline"].get("deployment", {}).get("register_status")
        return LocalResult(
            artifact=artifact_dump(estimator),
            metadata=metadata,
            summary=summary,
            results={"metrics": scores, "gate": gate, "holdout": fold.label},
            draft=job.recipe_version.status != RecipeStatus.APPROVED or register_status == "draft",
            holdout=split.X_test,
        )

    def _backtest(
        self, job: FineTuneJob, manifest: dict, prepared: rp.Prepared, report: Reporter
    ) -> RunResult:
        task = manifest["requirements"]["task"]
        hp = job.hyperparameters
        validation = manifest["evaluation"]["validation"]
        folds = rp.backtest_folds(
            prepared, validation, seed=hp["random_state"], stratify=task != REGRESSION
        )
        X, y = self._xy(prepared, task)
        per_fold, predictions = [], []
        for fold in folds:
            estimator = preset_estimator(job.preset, hp, task)
            estimator.fit(X.iloc[fold.train], y.iloc[fold.train])
            scale = rp.naive_mae(
                prepared.frame.iloc[fold.train], prepared, validation.get("seasonality", 1)
            )
            X_test, y_test = X.iloc[fold.test], y.iloc[fold.test]
            scores = rp.scores_for(task, estimator, X_test, y_test, scale=scale)
            if task == REGRESSION and prepared.time_column:
                predictions.append((fold, estimator.predict(X_test)))
            per_fold.append(
                {
                    "fold": fold.index,
                    "label": fold.label,
                    "train_rows": int(len(fold.train)),
                    "test_rows": int(len(fold.test)),
                    "metrics": scores,
                }
            )
            shown = ", ".join(
                f"{rp.METRIC_LABELS.get(k, k)} {v:.4g}" for k, v in scores.items() if k != "n_test"
            )
            report(
                progress=5 + round(85 * fold.index / len(folds)),
                stage=f"Fold {fold.index}/{len(folds)}",
                message=f"Fold {fold.index} ({fold.label}, {len(fold.train)} training rows): {shown}.",
                metrics={"fold": fold.index, **scores},
            )
        aggregate = rp.aggregate([f["metrics"] for f in per_fold])
        gate = rp.gate(manifest, aggregate)
        charts = {"folds": rp.folds_chart(per_fold, manifest)}
        if predictions:
            rows = [i for fold, _ in predictions for i in fold.test]
            predicted = [p for _, values in predictions for p in values]
            charts["actual_vs_predicted"] = rp.actual_vs_predicted_chart(
                prepared.frame[rp.TIME].iloc[rows], y.iloc[rows].to_numpy(), predicted
            )
        summary = f"{len(folds)} folds ({validation['strategy'].replace('_', ' ')}). " + _gate_text(
            gate
        )
        report(progress=95, stage="Backtest done", message=summary, metrics=aggregate)
        return RunResult(
            results={
                "strategy": validation["strategy"],
                "folds": per_fold,
                "metrics": aggregate,
                "gate": gate,
                "charts": charts,
            },
            summary=summary,
        )

    def _evaluate(
        self, job: FineTuneJob, manifest: dict, prepared: rp.Prepared, report: Reporter
    ) -> RunResult:
        version = job.evaluated_version
        if version is None:
            raise TrainingFailure("The version to evaluate was deleted.")
        try:
            estimator = artifact_load(version)
        except ArtifactError as exc:
            raise TrainingFailure(f"{version} cannot be loaded: {exc}") from exc
        task = manifest["requirements"]["task"]
        names = version.feature_names or prepared.features
        missing = [n for n in names if n not in prepared.frame.columns]
        if missing:
            raise TrainingFailure(
                f"{version} needs features the recipe does not prepare: {', '.join(missing)}."
            )
        report(
            progress=40,
            stage="Scoring",
            message=f"Scoring {version} on {len(prepared.frame)} rows.",
        )
        _, y = self._xy(prepared, task)
        scale = rp.naive_mae(
            prepared.frame, prepared, manifest["evaluation"]["validation"].get("seasonality", 1)
        )
        scores = rp.scores_for(task, estimator, prepared.frame[names], y, scale=scale)
        gate = rp.gate(manifest, scores)
        summary = f"{version} on {len(prepared.frame)} rows. " + _gate_text(gate)
        report(progress=95, stage="Evaluated", message=summary, metrics=scores)
        return RunResult(
            results={
                "metrics": scores,
                "gate": gate,
                "model_version": {
                    "id": version.pk,
                    "model": version.model.slug,
                    "version": version.version,
                },
            },
            summary=summary,
        )
