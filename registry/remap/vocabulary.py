"""How the remapper reads names and values: the synonym tables, key normalisation, numbers."""

import math
import re
from typing import Any

# Other names for schema fields, by normalised source key. A name may point at several
# fields; the first one that exists where the key is found wins, so one flat table serves
# every level ("min" is `minimum` in a feature spec and `min` in a feature summary).
SYNONYMS: dict[str, tuple[str, ...]] = {
    # the top level
    "model_name": ("name",),
    "model": ("name",),
    "title": ("name",),
    "version_label": ("version",),
    "model_version": ("version",),
    "version_name": ("version",),
    "release": ("version",),
    "problem_type": ("task",),
    "type": ("task",),
    "model_kind": ("task",),
    "model_task": ("task",),
    "task_type": ("task",),
    "objective": ("task",),
    "labels": ("tags", "categories"),
    "keywords": ("tags",),
    "summary": ("description",),
    "notes": ("description",),
    "model_performance": ("metrics",),
    "performance": ("metrics",),
    "performance_metrics": ("metrics",),
    "evaluation_metrics": ("metrics",),
    "eval_metrics": ("metrics",),
    "validation_metrics": ("metrics",),
    "test_metrics": ("metrics",),
    "scores": ("metrics", "importances"),
    "inputs": ("features",),
    "input_features": ("features",),
    "feature_list": ("features",),
    "feature_names": ("features",),
    "feature_spec": ("features",),
    "columns": ("features",),
    "variables": ("features",),
    "input_schema": ("features",),
    "plots": ("charts",),
    "curves": ("charts",),
    "graphs": ("charts",),
    "training_info": ("training",),
    "training_details": ("training",),
    "train": ("training",),
    "train_info": ("training",),
    "training_data_summary": ("reference",),
    "reference_data": ("reference",),
    "data_summary": ("reference",),
    "data_profile": ("reference",),
    "baseline": ("reference",),
    "training_stats": ("reference",),
    "training_statistics": ("reference",),
    # metrics
    "auc": ("auc_roc",),
    "roc_auc": ("auc_roc",),
    "rocauc": ("auc_roc",),
    "auroc": ("auc_roc",),
    "area_under_roc": ("auc_roc",),
    "auprc": ("auc_pr",),
    "pr_auc": ("auc_pr",),
    "average_precision": ("auc_pr",),
    "acc": ("accuracy",),
    "f1_score": ("f1",),
    "f_1": ("f1",),
    "fscore": ("f1",),
    "f_score": ("f1",),
    "logloss": ("log_loss",),
    "cross_entropy": ("log_loss",),
    "brier_score": ("brier",),
    "r_squared": ("r2",),
    "r2_score": ("r2",),
    "rsquared": ("r2",),
    "root_mean_squared_error": ("rmse",),
    "mean_absolute_error": ("mae",),
    "prec": ("precision",),
    "sensitivity": ("recall",),
    "tpr": ("recall",),
    "n_samples": ("n_test",),
    "test_size": ("n_test",),
    # charts
    "roc": ("roc_curve", "auc_roc"),
    "precision_recall_curve": ("pr_curve",),
    "pr": ("pr_curve",),
    "confusion": ("confusion_matrix",),
    "calibration_curve": ("calibration",),
    "reliability": ("calibration",),
    "reliability_diagram": ("calibration",),
    "feature_importances": ("feature_importance",),
    "importance": ("feature_importance",),
    "importances": ("feature_importance",),
    "false_positive_rate": ("fpr",),
    "true_positive_rate": ("tpr",),
    "threshold": ("thresholds",),
    "cutoffs": ("thresholds",),
    "values": ("importances", "categories"),
    "prob_pred": ("mean_predicted",),
    "predicted": ("mean_predicted",),
    "mean_predicted_value": ("mean_predicted",),
    "prob_true": ("fraction_positive",),
    "observed": ("fraction_positive",),
    "fraction_of_positives": ("fraction_positive",),
    "bins": ("n_bins", "edges"),
    "cm": ("matrix",),
    "classes": ("labels", "categories"),
    # training
    "data": ("dataset",),
    "dataset_name": ("dataset",),
    "training_data": ("dataset",),
    "train_dataset": ("dataset",),
    "n_rows": ("rows",),
    "num_rows": ("rows",),
    "row_count": ("rows",),
    "train_rows": ("rows",),
    "train_size": ("rows",),
    "size": ("rows",),
    "n_train": ("rows",),
    "library": ("framework",),
    "lib": ("framework",),
    "estimator": ("algorithm",),
    "model_class": ("algorithm",),
    "model_type": ("algorithm",),
    "hyperparameters": ("params",),
    "hyper_parameters": ("params",),
    "hyperparams": ("params",),
    "parameters": ("params",),
    "trained_on": ("trained_at",),
    "training_date": ("trained_at",),
    "train_date": ("trained_at",),
    "label": ("target",),
    "label_column": ("target",),
    "target_column": ("target",),
    "y": ("target",),
    # a feature spec and a feature summary
    "feature": ("name",),
    "column": ("name",),
    "feature_name": ("name",),
    "dtype": ("type",),
    "data_type": ("type",),
    "kind": ("type",),
    "min": ("minimum",),
    "max": ("maximum",),
    "minimum": ("min",),
    "maximum": ("max",),
    "low": ("minimum", "min"),
    "high": ("maximum", "max"),
    "allowed_values": ("categories",),
    "levels": ("categories",),
    "choices": ("categories",),
    "desc": ("description",),
    "units": ("unit",),
    "n": ("count",),
    "average": ("mean",),
    "avg": ("mean",),
    "stddev": ("std",),
    "std_dev": ("std",),
    "stdev": ("std",),
    "sd": ("std",),
    "percentiles": ("quantiles",),
    "hist": ("histogram",),
    "bin_edges": ("edges",),
    "frequency": ("counts",),
    "category_frequencies": ("frequencies",),
    "value_counts": ("frequencies",),
    "shares": ("frequencies",),
    "stats": ("features",),
    "per_feature": ("features",),
    "n_train_rows": ("rows",),
}

# Other spellings of enum values (feature types, tasks), by normalised value.
VALUE_SYNONYMS: dict[str, str] = {
    "float": "numeric",
    "float32": "numeric",
    "float64": "numeric",
    "double": "numeric",
    "number": "numeric",
    "numerical": "numeric",
    "continuous": "numeric",
    "real": "numeric",
    "decimal": "numeric",
    "int": "integer",
    "int32": "integer",
    "int64": "integer",
    "long": "integer",
    "count": "integer",
    "str": "categorical",
    "string": "categorical",
    "object": "categorical",
    "category": "categorical",
    "nominal": "categorical",
    "enum": "categorical",
    "bool": "boolean",
    "binary": "binary_classification",
    "binary_classifier": "binary_classification",
    "classifier": "binary_classification",
    "classification": "binary_classification",
    "binary_class": "binary_classification",
    "multiclass": "multiclass_classification",
    "multi_class": "multiclass_classification",
    "multiclass_classifier": "multiclass_classification",
    "multi_class_classification": "multiclass_classification",
    "regressor": "regression",
    "regression_model": "regression",
    "text_generation": "text_generation",
    "generation": "text_generation",
    "llm": "text_generation",
    "text": "text",
}

# Qualifiers that say which split a number came from, not what it is ("test_auc" is an AUC).
SPLIT_PREFIXES = (
    "test_",
    "val_",
    "valid_",
    "validation_",
    "holdout_",
    "hold_out_",
    "eval_",
    "evaluation_",
    "final_",
    "overall_",
)
SPLIT_SUFFIXES = ("_score", "_test", "_val", "_holdout", "_value", "_metric")

_CAMEL_1 = re.compile(r"([a-z0-9])([A-Z])")
_CAMEL_2 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


def normalise_key(key: Any) -> str:
    """`modelPerformance`, `Model Performance`, `model-performance` -> `model_performance`."""
    text = str(key).strip()
    text = _CAMEL_2.sub(r"\1_\2", _CAMEL_1.sub(r"\1_\2", text))
    return _NON_WORD.sub("_", text).strip("_").lower()


def coerce_number(value: Any) -> float | int | None:
    """A number from a number or a numeric string ("0.91", " 12,000 ", "91%"); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    percent = text.endswith("%")
    if percent:
        text = text[:-1].strip()
    if _THOUSANDS.match(text):
        text = text.replace(",", "")
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    if percent:
        return number / 100
    return int(number) if re.fullmatch(r"[+-]?\d+", text) else number
