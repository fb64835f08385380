"""Chart builders return the chart contract (data only): no colours, no Chart.js options.
The looks live in hub/static/hub/charts.js; templates/components/chart.html renders it."""

import json
import re
from typing import Any

import pytest
from django.template.loader import render_to_string

from registry.charts import confusion_chart, importance_chart, roc_chart, version_charts
from tests.training.factories import FineTuneJobFactory, JobEventFactory
from training.selectors import job_loss_chart

KINDS = {"roc", "pr", "calibration", "confusion", "timeseries", "bars", "scatter", "histogram"}
ROLES = {"champion", "challenger", "shadow", "reference", "positive", "negative"}
CHART_KEYS = {"kind", "title", "x_title", "y_title", "labels", "datasets", "orientation"}
HEX = re.compile(r"#[0-9a-fA-F]{3,8}\b|rgba?\(")

CHARTS = {
    "roc_curve": {"fpr": [0, 0.1, 1], "tpr": [0, 0.7, 1], "thresholds": [1, 0.5, 0]},
    "pr_curve": {"recall": [0, 0.5, 1], "precision": [1, 0.8, 0.5]},
    "confusion_matrix": {"matrix": [[50, 5], [8, 37]], "labels": [0, 1], "threshold": 0.5},
    "calibration": {"mean_predicted": [0.1, 0.5, 0.9], "fraction_positive": [0.12, 0.45, 0.88]},
    "feature_importance": {
        "features": ["age", "income"],
        "importances": [0.2, -0.7],
        "method": "coefficient",
    },
}


def assert_contract(chart: dict[str, Any]) -> None:
    assert set(chart) <= CHART_KEYS, set(chart) - CHART_KEYS
    assert chart["kind"] in KINDS
    assert all(isinstance(chart[key], str) for key in ("title", "x_title", "y_title"))
    assert chart["datasets"], "a chart without data"
    for dataset in chart["datasets"]:
        assert set(dataset) <= {"label", "data", "role"}
        assert dataset.get("role", "champion") in ROLES
        assert all(
            v is None or isinstance(v, int | float) or set(v) == {"x", "y"} for v in dataset["data"]
        )
    # Nothing that says how it looks: no colour anywhere, no Chart.js type or options.
    assert not HEX.search(json.dumps(chart))


def test_every_validation_chart_of_a_version_is_plain_data():
    charts = version_charts(CHARTS, label="v1.2", other=CHARTS, other_label="v1.1")

    assert [c["chart"]["kind"] for c in charts] == ["roc", "pr", "confusion", "calibration", "bars"]
    for entry in charts:
        assert_contract(entry["chart"])


def test_a_compared_roc_curve_has_one_series_per_version_and_no_drawn_diagonal():
    chart = roc_chart(
        CHARTS["roc_curve"], "v1.2", CHARTS["roc_curve"] | {"tpr": [0, 0.5, 1]}, "v1.1"
    )

    assert [d["label"] for d in chart["datasets"]] == ["v1.2", "v1.1"]
    assert chart["datasets"][1]["data"][1] == {"x": 0.1, "y": 0.5}
    assert (chart["x_title"], chart["y_title"]) == ("False positive rate", "True positive rate")


def test_a_version_without_a_compared_curve_draws_one_series():
    chart = roc_chart(CHARTS["roc_curve"], "v1.2", None, "")

    assert [d["label"] for d in chart["datasets"]] == ["v1.2"]


def test_the_confusion_matrix_has_a_category_per_actual_label_and_a_series_per_predicted_one():
    chart = confusion_chart(CHARTS["confusion_matrix"])

    assert chart["labels"] == ["Actual 0", "Actual 1"]
    assert {d["label"]: d["data"] for d in chart["datasets"]} == {
        "Predicted 0": [50, 8],
        "Predicted 1": [5, 37],
    }


def test_feature_importance_is_horizontal_bars_largest_first():
    chart = importance_chart(CHARTS["feature_importance"])

    assert chart["kind"] == "bars" and chart["orientation"] == "horizontal"
    assert chart["labels"] == ["income", "age"]
    assert chart["datasets"][0]["data"] == [-0.7, 0.2]


@pytest.mark.django_db
def test_the_training_loss_chart_is_a_timeseries_of_both_losses():
    job = FineTuneJobFactory()
    JobEventFactory.create_batch(3, job=job)

    chart = job_loss_chart(job=job)

    assert_contract(chart)
    assert chart["kind"] == "timeseries"
    assert [d["label"] for d in chart["datasets"]] == ["Training loss", "Hold-out loss"]
    assert len(chart["labels"]) == 3 and chart["datasets"][1]["data"] == [0.6, 0.6, 0.6]


def test_the_chart_component_writes_a_kind_canvas_an_accessible_name_and_the_data():
    chart = roc_chart(CHARTS["roc_curve"], "v1.2")

    html = render_to_string("components/chart.html", {"chart": chart, "chart_id": "chart-roc"})

    assert 'data-chart="chart-roc"' in html and 'data-chart-kind="roc"' in html
    assert (
        'role="img"' in html
        and 'aria-label="ROC curve: True positive rate by False positive rate"' in html
    )
    assert "ROC curve: v1.2." in html  # fallback text where canvas is not drawn
    payload = html.split('<script id="chart-roc" type="application/json">')[1].split("</script>")[0]
    assert json.loads(payload) == chart
    assert "hx-preserve" not in html


def test_a_live_chart_keeps_its_canvas_across_htmx_polls():
    html = render_to_string(
        "components/chart.html",
        {
            "chart": {"kind": "timeseries", "title": "Loss", "datasets": []},
            "chart_id": "loss",
            "live": True,
        },
    )

    assert 'id="loss-canvas"' in html and 'hx-preserve="true"' in html
