"""Hyperparameters: each trainer's specs (type, default, bounds, help) and their validation.

Pure: no Django. A value arrives as JSON (API), a string (form, command line) or is
missing (the default applies); what comes out is the complete, typed set the job runs with.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# core.errors is plain Python too: this module stays free of Django.
from core.errors import ServiceError

EMPTY = (None, "")


@dataclass(frozen=True)
class HyperParameter:
    name: str
    kind: type  # int, float or str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    # Bounds that exclude themselves (a learning rate of 0 learns nothing).
    exclusive_minimum: bool = False
    # None is a meaningful value ("no limit", "let the provider choose").
    nullable: bool = False
    max_length: int | None = None

    def show(self, value: float) -> str:
        return str(int(value)) if self.kind is int else f"{value:g}"

    @property
    def bounds_text(self) -> str:
        low = ""
        if self.minimum is not None:
            low = f"{'>' if self.exclusive_minimum else '≥'} {self.show(self.minimum)}"
        high = "" if self.maximum is None else f"≤ {self.show(self.maximum)}"
        return ", ".join(part for part in (low, high) if part)


class HyperparameterError(ServiceError):
    """Bad hyperparameters (400); `errors` maps each hyperparameter's name to its messages
    (job_create files them under `hyperparameters.<name>`)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()), errors)


VALIDATION_SPLIT = HyperParameter(
    "validation_split",
    float,
    0.2,
    "Share of the rows held out to evaluate the new version (never trained on).",
    minimum=0.05,
    maximum=0.5,
)
RANDOM_STATE = HyperParameter(
    "random_state",
    int,
    42,
    "Seed for the split and the estimator: the same seed and data give the same model.",
    minimum=0,
    maximum=2**31 - 1,
)

PRESET_SPECS: dict[str, tuple[HyperParameter, ...]] = {
    "logistic_regression": (
        HyperParameter(
            "C",
            float,
            1.0,
            "Inverse regularisation strength: smaller values regularise more.",
            minimum=0,
            exclusive_minimum=True,
            maximum=1e6,
        ),
        HyperParameter(
            "max_iter",
            int,
            200,
            "Most solver iterations (reported in steps of 10).",
            minimum=10,
            maximum=10_000,
        ),
        VALIDATION_SPLIT,
        RANDOM_STATE,
    ),
    "gradient_boosting": (
        HyperParameter(
            "n_estimators",
            int,
            100,
            "Boosting stages (trees); the loss is reported as they grow.",
            minimum=1,
            maximum=2000,
        ),
        HyperParameter(
            "learning_rate",
            float,
            0.1,
            "Shrinks each tree's contribution.",
            minimum=0,
            exclusive_minimum=True,
            maximum=1,
        ),
        HyperParameter("max_depth", int, 3, "Depth of each tree.", minimum=1, maximum=16),
        HyperParameter(
            "subsample",
            float,
            1.0,
            "Share of rows each tree sees (below 1: stochastic boosting).",
            minimum=0,
            exclusive_minimum=True,
            maximum=1,
        ),
        VALIDATION_SPLIT,
        RANDOM_STATE,
    ),
    "random_forest": (
        HyperParameter(
            "n_estimators",
            int,
            200,
            "Trees in the forest; it grows in steps, reporting the loss.",
            minimum=1,
            maximum=2000,
        ),
        HyperParameter(
            "max_depth",
            int,
            None,
            "Depth limit of each tree (empty: grow until leaves are pure).",
            minimum=1,
            maximum=64,
            nullable=True,
        ),
        HyperParameter(
            "min_samples_leaf",
            int,
            1,
            "Fewest rows in a leaf: larger values smooth the model.",
            minimum=1,
            maximum=1000,
        ),
        VALIDATION_SPLIT,
        RANDOM_STATE,
    ),
    "ridge_regression": (
        HyperParameter(
            "alpha",
            float,
            1.0,
            "L2 regularisation strength: larger values shrink the coefficients more (0: plain "
            "least squares).",
            minimum=0,
            maximum=1e6,
        ),
        VALIDATION_SPLIT,
        RANDOM_STATE,
    ),
}

# Which presets train which task (registry Task values): the same preset name builds the
# task's estimator (gradient boosting is a classifier for classification, a regressor for
# regression); ridge regression is for regression only, logistic regression for classes only.
PRESETS_BY_TASK: dict[str, tuple[str, ...]] = {
    "binary_classification": ("logistic_regression", "gradient_boosting", "random_forest"),
    "multiclass_classification": ("logistic_regression", "gradient_boosting", "random_forest"),
    "regression": ("ridge_regression", "gradient_boosting", "random_forest"),
}

# Retraining an existing local version keeps its own estimator settings; only the split is chosen.
RETRAIN_SPECS: tuple[HyperParameter, ...] = (VALIDATION_SPLIT, RANDOM_STATE)

OPENAI_SPECS: tuple[HyperParameter, ...] = (
    HyperParameter(
        "n_epochs",
        int,
        None,
        "Passes over the training file (empty: the provider chooses).",
        minimum=1,
        maximum=50,
        nullable=True,
    ),
    HyperParameter(
        "batch_size",
        int,
        None,
        "Examples per batch (empty: the provider chooses).",
        minimum=1,
        maximum=256,
        nullable=True,
    ),
    HyperParameter(
        "learning_rate_multiplier",
        float,
        None,
        "Scales the provider's base learning rate (empty: the provider chooses).",
        minimum=0,
        exclusive_minimum=True,
        maximum=10,
        nullable=True,
    ),
    HyperParameter(
        "suffix",
        str,
        "",
        "Up to 18 characters added to the fine-tuned model's name.",
        max_length=18,
    ),
)


def _text(spec: HyperParameter, raw: Any) -> str:
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise ValueError("must be text.")
    value = str(raw).strip()
    if spec.max_length is not None and len(value) > spec.max_length:
        raise ValueError(f"must be at most {spec.max_length} characters.")
    return value


def _number(spec: HyperParameter, raw: Any) -> float:
    kind = "a whole number" if spec.kind is int else "a number"
    if isinstance(raw, bool):
        raise ValueError(f"must be {kind}.")
    try:
        value = float(raw)
        if spec.kind is int:
            if not value.is_integer():
                raise ValueError
            value = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"must be {kind}, got {raw!r}.") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number.")
    return value


def _check_bounds(spec: HyperParameter, value: float) -> None:
    low = spec.minimum
    if low is not None and spec.exclusive_minimum and value <= low:
        raise ValueError(f"must be greater than {spec.show(low)}, got {spec.show(value)}.")
    if low is not None and not spec.exclusive_minimum and value < low:
        raise ValueError(f"must be at least {spec.show(low)}, got {spec.show(value)}.")
    if spec.maximum is not None and value > spec.maximum:
        raise ValueError(f"must be at most {spec.show(spec.maximum)}, got {spec.show(value)}.")


def _coerce(spec: HyperParameter, raw: Any) -> Any:
    if spec.kind is str:
        return _text(spec, raw)
    value = _number(spec, raw)
    _check_bounds(spec, value)
    return value


def defaults(specs: Sequence[HyperParameter]) -> dict[str, Any]:
    return {spec.name: spec.default for spec in specs}


def validate_hyperparameters(
    specs: Sequence[HyperParameter], values: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The complete typed set, defaults filled in; HyperparameterError names every bad field."""
    values = dict(values or {})
    errors: dict[str, list[str]] = {}
    known = {spec.name for spec in specs}
    for name in sorted(set(values) - known):
        errors[name] = [
            f"is not a hyperparameter of this trainer (known: {', '.join(sorted(known))})."
        ]
    cleaned: dict[str, Any] = {}
    for spec in specs:
        raw = values.get(spec.name)
        if raw in EMPTY or (isinstance(raw, str) and not raw.strip()):
            cleaned[spec.name] = spec.default
            continue
        try:
            cleaned[spec.name] = _coerce(spec, raw)
        except ValueError as exc:
            errors[spec.name] = [str(exc)]
    if errors:
        raise HyperparameterError(errors)
    return cleaned
