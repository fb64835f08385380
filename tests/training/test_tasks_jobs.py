"""Regression and multiclass training jobs, end to end through job_create and job_run: the
label checks, the staged loss in the task's units, and a registered version whose metrics
are scikit-learn's on the same hold-out."""

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from inference.tables import inference_log_model
from registry.models import Task
from registry.predictors import predictor_for
from registry.schema import validate_metadata
from tests.training.factories import credit_group, decision_log, log_decisions
from tests.training.task_factories import (
    NBA_FEATURES,
    OFFERS,
    PRICING_FEATURES,
    log_outcomes,
    nba_group,
    nba_rows,
    pricing_group,
    pricing_rows,
)
from training.models import JobStatus
from training.selectors import job_loss_chart
from training.services import TrainingValidationError, job_create
from training.tasks import job_run

GB = {"n_estimators": 30, "max_depth": 2, "learning_rate": 0.2}
EXACT = 1e-12


@pytest.fixture
def pricing(db):
    group, champion = pricing_group()
    log_outcomes(group, champion, pricing_rows(), label="price")
    return group, champion


@pytest.fixture
def nba(db):
    group, champion = nba_group()
    log_outcomes(group, champion, nba_rows(), label="offer")
    return group, champion


def _run(group, champion, preset: str, hyperparameters: dict | None = None):
    job = job_create(
        preset=preset,
        model=champion.model,
        dataset=decision_log(group),
        hyperparameters=hyperparameters or {},
    )
    job_run(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, job.error
    return job


def _split(job, features: list[str], *, stratify: bool):
    with job.snapshot.file.open("rb") as fh:
        frame = pd.read_csv(fh)
    y = frame["outcome"]
    return train_test_split(
        frame[features], y, test_size=0.2, random_state=42, stratify=y if stratify else None
    )


def _assert_regression_metrics(metrics: dict, y_test, predicted) -> None:
    y_test = np.asarray(y_test, dtype=float)
    nonzero = y_test != 0
    assert (~nonzero).any(), "the data must have a zero price for the MAPE guard to matter"
    expected = {
        "mae": skm.mean_absolute_error(y_test, predicted),
        "rmse": skm.root_mean_squared_error(y_test, predicted),
        "r2": skm.r2_score(y_test, predicted),
        "median_absolute_error": skm.median_absolute_error(y_test, predicted),
        # Guarded at zero: the rows whose actual price is 0 have no percentage error.
        "mape": skm.mean_absolute_percentage_error(y_test[nonzero], predicted[nonzero]),
        "mean_error": float(np.mean(predicted - y_test)),
    }
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, abs=EXACT, rel=EXACT), name
    assert metrics["n_test"] == len(y_test)


def test_a_regression_job_from_a_decision_log_registers_scikit_learns_hold_out_metrics(pricing):
    group, champion = pricing
    job = _run(group, champion, "gradient_boosting", GB)

    version = job.result_version
    assert version.model.task == Task.REGRESSION
    assert version.metadata["training"]["algorithm"] == "GradientBoostingRegressor"
    assert validate_metadata(version.metadata) == []
    X_train, X_test, y_train, y_test = _split(job, PRICING_FEATURES, stratify=False)
    reference = GradientBoostingRegressor(random_state=42, subsample=1.0, **GB).fit(
        X_train, y_train
    )
    predicted = reference.predict(X_test)
    _assert_regression_metrics(version.metadata["metrics"], y_test, predicted)

    answer = predictor_for(version).predict([X_test.iloc[0].to_dict()])[0]
    assert isinstance(answer.label, float)
    assert answer.label == pytest.approx(predicted[0])


def test_a_ridge_regression_job_measures_the_linear_model_it_trained(pricing):
    group, champion = pricing
    job = _run(group, champion, "ridge_regression", {"alpha": 2.0})

    X_train, X_test, y_train, y_test = _split(job, PRICING_FEATURES, stratify=False)
    reference = Pipeline([("scale", StandardScaler()), ("model", Ridge(alpha=2.0))])
    predicted = reference.fit(X_train, y_train).predict(X_test)
    _assert_regression_metrics(job.result_version.metadata["metrics"], y_test, predicted)


def test_a_random_forest_regression_job_trains_in_stages_with_squared_error(pricing):
    group, champion = pricing
    job = _run(group, champion, "random_forest", {"n_estimators": 20, "max_depth": 4})

    assert job.result_version.metadata["training"]["algorithm"] == "RandomForestRegressor"
    assert len([e for e in job.events.all() if "val_loss" in e.metrics]) == 10
    assert job_loss_chart(job=job)["y_title"] == "squared error (MSE)"


def test_a_regression_job_reports_squared_error_per_stage_and_the_staged_loss_curve(pricing):
    group, champion = pricing
    job = _run(group, champion, "gradient_boosting", GB)

    X_train, X_test, y_train, y_test = _split(job, PRICING_FEATURES, stratify=False)
    reference = GradientBoostingRegressor(random_state=42, subsample=1.0, **GB).fit(
        X_train, y_train
    )
    stages = [e.metrics for e in job.events.order_by("id") if "val_loss" in e.metrics]
    assert stages[-1]["trees"] == 30
    assert stages[-1]["val_loss"] == pytest.approx(
        skm.mean_squared_error(y_test, reference.predict(X_test)), abs=1e-6
    )
    curve = job.result_version.metadata["charts"]["loss_curve"]
    assert curve["loss"] == "squared error (MSE)"
    assert curve["stages"] == list(range(1, 31))
    expected = [skm.mean_squared_error(y_test, p) for p in reference.staged_predict(X_test)]
    assert curve["validation"] == pytest.approx(expected, abs=1e-6)
    assert job_loss_chart(job=job)["y_title"] == "squared error (MSE)"


def _assert_multiclass_metrics(metrics: dict, y_test, proba, classes) -> None:
    predicted = np.asarray(classes)[proba.argmax(axis=1)]
    expected = {
        "accuracy": skm.accuracy_score(y_test, predicted),
        "f1_macro": skm.f1_score(y_test, predicted, average="macro"),
        "f1_weighted": skm.f1_score(y_test, predicted, average="weighted"),
        "log_loss": skm.log_loss(y_test, proba, labels=classes),
        "top_2_accuracy": skm.top_k_accuracy_score(y_test, proba, k=2, labels=classes),
    }
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, abs=EXACT, rel=EXACT), name
    assert metrics["n_test"] == len(y_test)


def test_a_multiclass_job_from_a_decision_log_registers_scikit_learns_hold_out_metrics(nba):
    group, champion = nba
    job = _run(group, champion, "gradient_boosting", GB)

    version = job.result_version
    assert version.metadata["training"]["algorithm"] == "GradientBoostingClassifier"
    assert validate_metadata(version.metadata) == []
    X_train, X_test, y_train, y_test = _split(job, NBA_FEATURES, stratify=True)
    reference = GradientBoostingClassifier(random_state=42, subsample=1.0, **GB).fit(
        X_train, y_train
    )
    proba = reference.predict_proba(X_test)
    _assert_multiclass_metrics(version.metadata["metrics"], y_test, proba, list(reference.classes_))

    charts = version.metadata["charts"]
    assert charts["confusion_matrix"]["labels"] == OFFERS
    assert sum(map(sum, charts["confusion_matrix"]["matrix"])) == len(y_test)
    assert charts["top_k"]["k"] == [1, 2, 3] and charts["top_k"]["accuracy"][-1] == 1.0
    assert charts["loss_curve"]["validation"][-1] == pytest.approx(
        skm.log_loss(y_test, proba, labels=list(reference.classes_)), abs=1e-6
    )
    assert job_loss_chart(job=job)["y_title"] == "log loss"


def test_a_multiclass_logistic_job_measures_the_model_it_trained(nba):
    group, champion = nba
    job = _run(group, champion, "logistic_regression", {"max_iter": 500})

    X_train, X_test, y_train, y_test = _split(job, NBA_FEATURES, stratify=True)
    reference = Pipeline(
        [("scale", StandardScaler()), ("model", LogisticRegression(max_iter=500, random_state=42))]
    ).fit(X_train, y_train)
    proba = reference.predict_proba(X_test)
    metrics = job.result_version.metadata["metrics"]
    classes = list(reference.classes_)
    # The staged solver stops where a single fit does, to the solver's tolerance.
    predicted = np.asarray(classes)[proba.argmax(axis=1)]
    assert metrics["accuracy"] == pytest.approx(skm.accuracy_score(y_test, predicted), abs=0.02)
    assert metrics["log_loss"] == pytest.approx(skm.log_loss(y_test, proba), abs=1e-3)


def test_a_multiclass_version_predicts_a_class_with_its_probabilities(nba):
    group, champion = nba
    job = _run(group, champion, "gradient_boosting", GB)

    _, X_test, _, _ = _split(job, NBA_FEATURES, stratify=True)
    predictor = predictor_for(job.result_version)
    [answer] = predictor.predict([X_test.iloc[0].to_dict()])
    proba = predictor.estimator.predict_proba(X_test.iloc[[0]])[0]
    assert answer.label in OFFERS
    assert answer.probabilities == pytest.approx(dict(zip(OFFERS, proba, strict=True)))
    assert answer.score == pytest.approx(max(proba))
    assert answer.label == OFFERS[int(np.argmax(proba))]


# --- the label fits the task, or the job is refused naming it ------------------------------


def test_a_regression_job_on_text_outcomes_names_the_label_and_what_was_found(db):
    group, champion = pricing_group()
    frame = pricing_rows(rows=60)
    frame["price"] = frame["price"].astype(object)
    frame.loc[frame.index[5], "price"] = "expensive"
    log_outcomes(group, champion, frame, label="price")

    with pytest.raises(TrainingValidationError) as caught:
        job_create(preset="gradient_boosting", model=champion.model, dataset=decision_log(group))

    [message] = caught.value.errors["dataset"]
    assert "label column 'outcome'" in message
    assert "'expensive' is not a number (a regression model needs a numeric label)" in message


def test_a_multiclass_job_with_two_classes_says_how_many_it_found(db):
    group, champion = nba_group()
    frame = nba_rows(rows=60)
    frame["offer"] = np.where(frame.recency > 45, "bundle", "upgrade")
    log_outcomes(group, champion, frame, label="offer")

    with pytest.raises(TrainingValidationError) as caught:
        job_create(preset="gradient_boosting", model=champion.model, dataset=decision_log(group))

    [message] = caught.value.errors["dataset"]
    assert message.startswith(
        "The label 'outcome' of a multiclass model needs at least 3 classes, each at least "
        "twice; found 2 classes: "
    )
    assert "bundle: " in message and "upgrade: " in message


def test_a_binary_job_with_a_third_class_is_refused_naming_the_label(db):
    group, champion = credit_group()
    log_decisions(group, champion, rows=40)
    log = inference_log_model(group.table_name)
    log.objects.filter(pk=log.objects.order_by("pk").first().pk).update(outcome=2)

    with pytest.raises(TrainingValidationError) as caught:
        job_create(preset="gradient_boosting", model=champion.model, dataset=decision_log(group))

    [message] = caught.value.errors["dataset"]
    assert message.endswith("label column 'outcome': 2 is not a binary label (0 or 1).")


@pytest.mark.parametrize(
    ("make_group", "preset", "expected"),
    [
        (pricing_group, "logistic_regression", "The logistic regression preset does not train"),
        (nba_group, "ridge_regression", "The ridge regression (linear, regression only) preset"),
    ],
)
def test_a_preset_that_does_not_fit_the_task_is_refused(db, make_group, preset, expected):
    _, champion = make_group()

    with pytest.raises(TrainingValidationError) as caught:
        job_create(
            preset=preset,
            model=champion.model,
            dataset=decision_log(champion.memberships.first().group),
        )

    [message] = caught.value.errors["base"]
    assert message.startswith(expected)
    assert "use one of:" in message
