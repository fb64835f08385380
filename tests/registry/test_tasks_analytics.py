"""Per-task validation analytics: the metrics module equals scikit-learn, the evaluation fits
the metadata schema with bounded charts, the Analytics tab shows each task's charts, and the
predictor answers per task."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from registry import task_metrics
from registry.charts import version_charts
from registry.evaluation import MAX_SCATTER_POINTS, regression_charts
from registry.models import Task
from registry.predictors import predictor_for
from registry.schema import validate_metadata
from registry.selectors import version_analytics
from tests.registry.task_versions import fitted, task_version
from tests.training.task_factories import OFFERS

REGRESSION_CHARTS = [
    "chart-predicted-actual",
    "chart-residuals",
    "chart-residual-histogram",
    "chart-error-decile",
    "chart-importance",
]
MULTICLASS_CHARTS = ["chart-confusion", "chart-per-class", "chart-top-k", "chart-importance"]

_values = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(pairs=st.lists(st.tuples(_values, _values), min_size=2, max_size=40))
def test_regression_metrics_equal_scikit_learn_on_any_rows(pairs):
    y_true = np.array([a for a, _ in pairs])
    y_pred = np.array([p for _, p in pairs])

    metrics = task_metrics.regression_metrics(y_true, y_pred)

    assert metrics["mae"] == pytest.approx(skm.mean_absolute_error(y_true, y_pred), abs=1e-9)
    assert metrics["rmse"] == pytest.approx(skm.root_mean_squared_error(y_true, y_pred), abs=1e-9)
    assert metrics["median_absolute_error"] == pytest.approx(
        skm.median_absolute_error(y_true, y_pred), abs=1e-9
    )
    assert metrics["r2"] == skm.r2_score(y_true, y_pred)
    assert metrics["mean_error"] == pytest.approx(np.mean(y_pred - y_true), abs=1e-9)
    nonzero = y_true != 0
    if nonzero.any():
        expected = skm.mean_absolute_percentage_error(y_true[nonzero], y_pred[nonzero])
        assert metrics["mape"] == pytest.approx(expected, rel=1e-12)
    else:
        assert "mape" not in metrics


def test_mape_leaves_out_rows_whose_actual_value_is_zero():
    # sklearn alone divides the first error by machine epsilon: ~4.5e15.
    assert skm.mean_absolute_percentage_error([0, 10], [1, 11]) > 1e14
    assert task_metrics.mape_guarded([0, 10], [1, 11]) == pytest.approx(0.1)
    assert task_metrics.mape_guarded([0, 0], [1, 2]) is None


_classes = ["a", "b", "c", "d"]


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.sampled_from(_classes),
            st.lists(st.floats(0.01, 1), min_size=4, max_size=4),
        ),
        min_size=4,
        max_size=40,
    )
)
def test_multiclass_metrics_equal_scikit_learn_on_any_rows(data):
    y_true = [label for label, _ in data]
    raw = np.array([weights for _, weights in data])
    proba = raw / raw.sum(axis=1, keepdims=True)
    y_pred = list(np.asarray(_classes)[proba.argmax(axis=1)])

    metrics = task_metrics.multiclass_metrics(y_true, proba, _classes)

    assert metrics["accuracy"] == skm.accuracy_score(y_true, y_pred)
    assert metrics["f1_macro"] == skm.f1_score(y_true, y_pred, average="macro", zero_division=0)
    assert metrics["f1_weighted"] == skm.f1_score(
        y_true, y_pred, average="weighted", zero_division=0
    )
    assert metrics["log_loss"] == skm.log_loss(y_true, proba, labels=_classes)
    assert metrics["top_2_accuracy"] == skm.top_k_accuracy_score(
        y_true, proba, k=2, labels=_classes
    )
    per_class = task_metrics.per_class_scores(y_true, y_pred, _classes)
    precision, recall, _, _ = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=_classes, zero_division=0
    )
    assert per_class["precision"] == list(precision) and per_class["recall"] == list(recall)
    matrix = task_metrics.confusion(y_true, y_pred, _classes)["matrix"]
    assert matrix == skm.confusion_matrix(y_true, y_pred, labels=_classes).tolist()


def test_error_by_decile_covers_every_row_once_sorted_by_prediction():
    rng = np.random.default_rng(0)
    y_pred = rng.normal(size=95)
    y_true = y_pred + rng.normal(size=95)

    deciles = task_metrics.error_by_decile(y_true, y_pred)

    assert deciles["decile"] == list(range(1, 11))
    assert sum(deciles["counts"]) == 95
    assert deciles["mean_predicted"] == sorted(deciles["mean_predicted"])
    total = sum(m * n for m, n in zip(deciles["mae"], deciles["counts"], strict=True))
    assert total / 95 == pytest.approx(skm.mean_absolute_error(y_true, y_pred))


def test_regression_charts_keep_a_bounded_sample_but_histogram_every_row():
    rng = np.random.default_rng(1)
    y_true = rng.normal(100, 10, 5000)
    y_pred = y_true + rng.normal(0, 3, 5000)

    charts = regression_charts(y_true, y_pred)

    assert len(charts["predicted_actual"]["predicted"]) == MAX_SCATTER_POINTS
    assert charts["predicted_actual"]["rows"] == 5000
    assert sum(charts["residual_histogram"]["counts"]) == 5000


@pytest.mark.parametrize("task", [Task.REGRESSION, Task.MULTICLASS])
def test_the_evaluation_of_each_task_is_valid_metadata(task):
    *_, metadata = fitted(task)
    assert validate_metadata(metadata) == []


def test_existing_binary_metadata_stays_valid_under_the_extended_schema():
    from tests.registry.factories import fitted_artifact

    _, metadata = fitted_artifact("logistic", 400, 0)
    assert validate_metadata({**metadata, "metrics": {**metadata["metrics"], "f1": 0.5}}) == []


def test_regression_evaluation_equals_scikit_learn_on_its_hold_out():
    estimator, _, X_test, y_test, metadata = fitted(Task.REGRESSION)
    predicted = estimator.predict(X_test)
    assert metadata["metrics"]["mae"] == skm.mean_absolute_error(y_test, predicted)
    assert metadata["metrics"]["rmse"] == skm.root_mean_squared_error(y_test, predicted)
    assert metadata["metrics"]["r2"] == skm.r2_score(y_test, predicted)


def test_multiclass_evaluation_equals_scikit_learn_on_its_hold_out():
    estimator, _, X_test, y_test, metadata = fitted(Task.MULTICLASS)
    proba = estimator.predict_proba(X_test)
    predicted = estimator.predict(X_test)
    assert metadata["metrics"]["accuracy"] == skm.accuracy_score(y_test, predicted)
    assert metadata["metrics"]["f1_macro"] == skm.f1_score(y_test, predicted, average="macro")
    assert metadata["metrics"]["log_loss"] == skm.log_loss(y_test, proba)
    assert metadata["charts"]["per_class"]["labels"] == OFFERS


@pytest.mark.parametrize(
    ("task", "expected"),
    [(Task.REGRESSION, REGRESSION_CHARTS), (Task.MULTICLASS, MULTICLASS_CHARTS)],
)
def test_version_charts_follow_the_charts_contract_per_task(task, expected):
    *_, metadata = fitted(task)

    charts = version_charts(metadata["charts"], label="v1.0")

    assert [c["id"] for c in charts] == expected
    for entry in charts:
        chart = entry["chart"]
        assert chart["kind"] in ("confusion", "bars", "scatter", "histogram", "timeseries")
        assert chart["datasets"] and all(d["data"] for d in chart["datasets"])


@pytest.mark.django_db
def test_the_analytics_tab_of_a_regression_version_shows_its_charts_and_kpis(user_client):
    version = task_version(Task.REGRESSION)

    response = user_client.get(f"/models/{version.model.slug}/?tab=analytics")

    assert response.context["uses_charts"] is True
    html = response.content.decode()
    for chart_id in REGRESSION_CHARTS:
        assert f'data-chart="{chart_id}"' in html
    assert 'data-chart="chart-roc"' not in html
    kpis = [row.label for row in response.context["analytics"].kpis]
    assert kpis == ["MAE", "RMSE", "R²", "MAPE (rows with a non-zero actual)"]


@pytest.mark.django_db
def test_the_analytics_tab_of_a_multiclass_version_shows_its_charts_and_kpis(user_client):
    version = task_version(Task.MULTICLASS)

    response = user_client.get(f"/models/{version.model.slug}/?tab=analytics")

    html = response.content.decode()
    for chart_id in MULTICLASS_CHARTS:
        assert f'data-chart="{chart_id}"' in html
    for offer in OFFERS:  # the confusion matrix table names every class
        assert f"<th>{offer}</th>" in html
    analytics = version_analytics(version.model)
    assert [row.name for row in analytics.kpis] == [
        "accuracy",
        "f1_macro",
        "log_loss",
        "top_2_accuracy",
    ]


@pytest.mark.django_db
def test_a_multiclass_version_predicts_the_class_and_every_class_probability():
    version = task_version(Task.MULTICLASS, name="NBA predictor")
    estimator, _, X_test, _, _ = fitted(Task.MULTICLASS)
    rows = X_test.head(3).to_dict("records")

    answers = predictor_for(version).predict(rows)

    proba = estimator.predict_proba(X_test.head(3))
    for answer, p in zip(answers, proba, strict=True):
        assert answer.label == OFFERS[int(np.argmax(p))]
        assert answer.probabilities == pytest.approx(dict(zip(OFFERS, p, strict=True)), abs=1e-12)
        assert answer.score == pytest.approx(max(p), abs=1e-12)


@pytest.mark.django_db
def test_a_regression_version_predicts_a_number():
    version = task_version(Task.REGRESSION, name="Pricing predictor")
    estimator, _, X_test, _, _ = fitted(Task.REGRESSION)
    rows = X_test.head(3).to_dict("records")

    answers = predictor_for(version).predict(rows)

    for answer, expected in zip(answers, estimator.predict(X_test.head(3)), strict=True):
        assert isinstance(answer.label, float)
        assert answer.label == pytest.approx(expected, abs=1e-9)
        assert answer.probabilities is None
