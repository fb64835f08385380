"""Checking a prediction's inputs against the group's features (pure, no Django).

Every problem is reported at once, by field: `inputs.<feature>` (or
`instances[i].inputs.<feature>` in a batch), so a client fixes its request in one go.
Feature types are the metadata schema's: numeric, integer, boolean, categorical, text.
"""

import math
from typing import Any


def _number_error(value: Any, kind: str) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, got {shown(value)}."
    if not math.isfinite(value):
        return "must be a finite number."
    if kind == "integer" and not float(value).is_integer():
        return f"must be a whole number, got {value}."
    return None


def _category_error(value: Any, spec: dict) -> str | None:
    categories = spec.get("categories")
    if isinstance(value, dict | list) or value is None:
        return f"must be one of the categories, got {shown(value)}."
    if categories and value not in categories:
        allowed = ", ".join(str(c) for c in categories[:20])
        return f"{shown(value)} is not a category of this feature (use one of {allowed})."
    return None


def type_error(value: Any, spec: dict) -> str | None:
    kind = spec.get("type", "numeric")
    if kind in ("numeric", "integer"):
        return _number_error(value, kind)
    if kind == "boolean":
        return None if isinstance(value, bool) else f"must be true or false, got {shown(value)}."
    if kind == "text":
        return None if isinstance(value, str) else f"must be a string, got {shown(value)}."
    if kind == "categorical":
        return _category_error(value, spec)
    return None


def shown(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def input_errors(
    inputs: Any, features: dict[str, dict], *, prefix: str = "inputs"
) -> dict[str, list[str]]:
    """Every missing, unknown and mistyped feature of one instance, by field."""
    if not isinstance(inputs, dict):
        return {prefix: ["Send the inputs as an object of feature names to values."]}
    errors: dict[str, list[str]] = {}
    for name, spec in features.items():
        if name not in inputs:
            errors[f"{prefix}.{name}"] = ["This feature is missing."]
            continue
        problem = type_error(inputs[name], spec)
        if problem:
            errors[f"{prefix}.{name}"] = [f"{name} {problem}"]
    unknown = [name for name in inputs if name not in features]
    if unknown:
        known = ", ".join(features)
        for name in unknown:
            errors[f"{prefix}.{name}"] = [f"Unknown feature: this group's features are {known}."]
    return errors
