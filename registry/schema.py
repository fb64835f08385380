"""The model-metadata contract: one JSON Schema file (draft 2020-12), validated with jsonschema.

The same file is served at GET /api/v1/schema/model-metadata and handed verbatim to the LLM
by the importer, so there is exactly one definition of a valid document.
"""

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

SCHEMA_PATH = Path(__file__).with_name("model_metadata.schema.json")
METADATA_SCHEMA: dict = json.loads(SCHEMA_PATH.read_text())


@dataclass(frozen=True)
class ValidationIssue:
    path: str  # dotted path of the offending field, e.g. "metrics.auc_roc" or "features[0].name"
    message: str


@cache
def _validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(METADATA_SCHEMA)
    return Draft202012Validator(METADATA_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _join(parts: list[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _issues_for(error: ValidationError) -> list[ValidationIssue]:
    base = list(error.absolute_path)
    # Point "required" and "additionalProperties" at the field itself, so a preview can show
    # a status per field ("metrics: is required", "model_performance: not in the schema").
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in error.validator_value if k not in error.instance]
        return [ValidationIssue(_join([*base, k]), "is required") for k in missing]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if error.validator_value is False and extra:
            return [
                ValidationIssue(_join([*base, k]), "is not a field of the schema") for k in extra
            ]
    return [ValidationIssue(_join(base) or "(document)", error.message)]


def validate_metadata(doc: Any) -> list[ValidationIssue]:
    """Every problem with `doc`, sorted by path; an empty list means the document is valid."""
    if not isinstance(doc, dict):
        return [ValidationIssue("(document)", "must be a JSON object")]
    issues: list[ValidationIssue] = []
    for error in _validator().iter_errors(doc):
        issues.extend(_issues_for(error))
    return sorted(set(issues), key=lambda i: (i.path, i.message))
