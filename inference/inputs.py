"""Checking a prediction's inputs against the group's features (pure, no Django).

Every problem is reported at once, by field: `inputs.<feature>` (or
`instances[i].inputs.<feature>` in a batch), so a client fixes its request in one go.
Feature types are the metadata schema's: numeric, integer, boolean, categorical, text.

Each message is of one kind, named by a short stable code (`refusal_reason`): what the
group's refusal counts record (inference/refusals.py) and monitoring shows as
`quality.refused`.
"""

import math
from typing import Any

# The kinds of problem, as counted: stable codes (stored, and read by alert rules).
NOT_AN_OBJECT = "not_an_object"
MISSING_FIELD = "missing_field"
UNKNOWN_FIELD = "unknown_field"
WRONG_TYPE = "wrong_type"
NOT_FINITE = "not_finite"
NOT_WHOLE_NUMBER = "not_whole_number"
UNKNOWN_CATEGORY = "unknown_category"
INVALID = "invalid"  # a message this module did not write

_NOT_AN_OBJECT_MESSAGE = "Send the inputs as an object of feature names to values."
_MISSING_MESSAGE = "This feature is missing."
_UNKNOWN_START = "Unknown feature: "
_FINITE = "must be a finite number."
_WHOLE = "must be a whole number"
_NOT_A_CATEGORY = "is not a category of this feature"


def _number_error(value: Any, kind: str) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, got {shown(value)}."
    if not math.isfinite(value):
        return _FINITE
    if kind == "integer" and not float(value).is_integer():
        return f"{_WHOLE}, got {value}."
    return None


def _category_error(value: Any, spec: dict) -> str | None:
    categories = spec.get("categories")
    if isinstance(value, dict | list) or value is None:
        return f"must be one of the categories, got {shown(value)}."
    if categories and value not in categories:
        allowed = ", ".join(str(c) for c in categories[:20])
        return f"{shown(value)} {_NOT_A_CATEGORY} (use one of {allowed})."
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
        return {prefix: [_NOT_AN_OBJECT_MESSAGE]}
    errors: dict[str, list[str]] = {}
    for name, spec in features.items():
        if name not in inputs:
            errors[f"{prefix}.{name}"] = [_MISSING_MESSAGE]
            continue
        problem = type_error(inputs[name], spec)
        if problem:
            errors[f"{prefix}.{name}"] = [f"{name} {problem}"]
    unknown = [name for name in inputs if name not in features]
    if unknown:
        known = ", ".join(features)
        for name in unknown:
            errors[f"{prefix}.{name}"] = [f"{_UNKNOWN_START}this group's features are {known}."]
    return errors


def refusal_reason(message: str) -> str:
    """The kind of problem an `input_errors` message reports (its stable code)."""
    if message == _NOT_AN_OBJECT_MESSAGE:
        return NOT_AN_OBJECT
    if message == _MISSING_MESSAGE:
        return MISSING_FIELD
    if message.startswith(_UNKNOWN_START):
        return UNKNOWN_FIELD
    if message.endswith(_FINITE):
        return NOT_FINITE
    if f" {_WHOLE}, got " in message:
        return NOT_WHOLE_NUMBER
    if f" {_NOT_A_CATEGORY} (use one of " in message:
        return UNKNOWN_CATEGORY
    if " must be " in message:
        return WRONG_TYPE
    return INVALID
