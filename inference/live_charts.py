"""A version's live analytics per task, from its labelled rows in a group, in the charts
contract (the same chart builders as the validation-side analytics tab: registry/charts.py).

- regression: predicted vs actual (a sample), residuals vs predicted, the residual
  histogram and the error by decile of the prediction, from the latest labelled rows;
- multiclass: the confusion matrix and per-class precision / recall from the counts of
  every labelled row of the window, and the top-k curve from the latest rows' class
  probabilities.

Also the all-class SHAP table of one multiclass prediction (the inference detail page).
"""

from __future__ import annotations

import logging
from typing import Any

from inference import explain
from inference.comparison import MemberStats
from inference.comparison.tasks import MULTICLASS, REGRESSION, ClassProbabilities
from inference.metrics import counts
from registry import charts, evaluation, task_metrics
from registry.models import Flavor, ModelVersion
from registry.predictors import predictor_for

logger = logging.getLogger(__name__)
LiveChart = dict[str, Any]  # {"id", "title", "chart", "note"}


def _regression(member: MemberStats, label: str) -> list[LiveChart]:
    rows = member.rows
    if not rows:
        return []
    section = evaluation.regression_charts(rows.actual, rows.predicted)
    sample = section["predicted_actual"]
    note = f"a sample of {len(sample['actual'])} of the latest {len(rows)} labelled rows"
    return [
        {
            "id": "predicted-actual",
            "chart": charts.predicted_actual_chart(sample, label),
            "note": note,
        },
        {"id": "residuals", "chart": charts.residuals_chart(sample, label), "note": note},
        {
            "id": "residual-histogram",
            "chart": charts.residual_histogram_chart(section["residual_histogram"], label),
            "note": f"the latest {len(rows)} labelled rows",
        },
        {
            "id": "error-decile",
            "chart": charts.error_by_decile_chart(section["error_by_decile"]),
            "note": f"the latest {len(rows)} labelled rows",
        },
    ]


def _multiclass(member: MemberStats, label: str) -> list[LiveChart]:
    scores = counts.multiclass_from_counts(member.totals.cells)
    if not scores:
        return []
    every = f"every labelled row of the window ({sum(member.totals.cells.values())})"
    out = [
        {"id": "confusion", "chart": charts.confusion_chart(scores), "note": every},
        {"id": "per-class", "chart": charts.per_class_chart(scores), "note": every},
    ]
    probabilities = ClassProbabilities.of(member.rows) if member.rows else None
    if probabilities is not None:
        curve = task_metrics.top_k_curve(
            probabilities.actual, probabilities.matrix, probabilities.classes
        )
        out.append(
            {
                "id": "top-k",
                "chart": charts.top_k_chart(curve, label),
                "note": f"the latest {len(probabilities.actual)} labelled rows",
            }
        )
    return out


def member_live_charts(member: MemberStats, *, prefix: str) -> list[LiveChart]:
    """The member's task charts, each with a page-unique id starting with `prefix`."""
    label = f"{member.version_label} (live)"
    if member.task == REGRESSION:
        built = _regression(member, label)
    elif member.task == MULTICLASS:
        built = _multiclass(member, label)
    else:
        return []
    for entry in built:
        entry["id"] = f"{prefix}-{entry['id']}"
        entry["title"] = entry["chart"]["title"]
    return built


def class_shap_table(version: ModelVersion | None, inputs: dict[str, Any]) -> dict[str, Any] | None:
    """Every class's SHAP values for one multiclass prediction: {"classes", "base_values",
    "outputs", "rows": [{"feature", "value", "pushes": [...]}]}; None for a version that has
    no per-class explanation (binary, regression, external)."""
    if version is None or version.flavor != Flavor.SKLEARN:
        return None
    try:
        predictor = predictor_for(version)
        [per_class] = explain.class_explanations_for(version, predictor, [inputs])
    except Exception:  # the page shows the logged explanation anyway
        logger.warning("No per-class SHAP for version %s", version.pk, exc_info=True)
        return None
    if not per_class:
        return None
    classes = list(per_class)
    features = list(per_class[classes[0]].values)
    base_values = [per_class[c].base_value for c in classes]
    return {
        "classes": classes,
        "units": per_class[classes[0]].units,
        "base_values": base_values,
        "outputs": [
            (base or 0.0) + sum(per_class[c].values.values())
            for c, base in zip(classes, base_values, strict=True)
        ],
        "rows": [
            {
                "feature": name,
                "value": inputs.get(name),
                "pushes": [per_class[c].values[name] for c in classes],
            }
            for name in features
        ],
    }
