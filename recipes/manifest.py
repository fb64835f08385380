"""Recipe manifests without the database: the schema check (errors as JSON Pointers),
inheritance with provenance, the minimal override layer, JSON Patch, diffs, hashes and
version numbers. Pure: jsonschema and jsonpatch only, no Django.

Inheritance: the effective manifest is the layers merged top-down (baseline, industry,
client): objects merge key by key, arrays and scalars replace, `null` removes a key.
Provenance names, for every leaf (a scalar, an empty object or array; arrays are walked
by index), the layer that last CHANGED its value. A layer that restates an inherited value
unchanged does not take it over: when a child replaces the metrics array to change one
threshold, the other thresholds still say where they really come from.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonpatch
import jsonpointer
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")
MANIFEST_SCHEMA: dict = json.loads(SCHEMA_PATH.read_text())

TASK_METRICS = {
    "regression": {"mae", "rmse", "r2", "smape", "mase", "ndcg_at_10", "spearman"},
    "multiclass_classification": {"accuracy", "f1_macro", "top_3_accuracy", "log_loss"},
    "binary_classification": {"accuracy", "f1_macro", "log_loss", "auc_roc"},
}
TASK_ALGORITHMS = {
    "regression": {"gradient_boosting", "random_forest", "ridge_regression"},
    "multiclass_classification": {"gradient_boosting", "random_forest", "logistic_regression"},
    "binary_classification": {"gradient_boosting", "random_forest", "logistic_regression"},
}
FIRST_VERSION = "1.0.0"


@dataclass(frozen=True)
class Problem:
    path: str  # a JSON Pointer into the manifest, e.g. "/evaluation/metrics/0/threshold"
    message: str


@dataclass(frozen=True)
class Layer:
    """One recipe version's own manifest, as inheritance sees it."""

    recipe: str  # slug
    version: str
    level: str
    manifest: dict


@dataclass
class Effective:
    manifest: dict
    # JSON Pointer -> {"recipe", "version", "level", "overrides", "previous"?}
    provenance: dict[str, dict] = field(default_factory=dict)
    # JSON Pointer of a leaf a layer removed with null -> {"recipe", "version", "level"}
    removed: dict[str, dict] = field(default_factory=dict)


class PatchRefused(Exception):
    """A JSON Patch that cannot be applied; `index` names the operation."""

    def __init__(self, index: int, message: str, *, stale: bool = False) -> None:
        super().__init__(message)
        self.index = index
        self.message = message
        self.stale = stale  # a `test` operation failed: the patch was made against older content


# --- pointers ----------------------------------------------------------------------------


def pointer(parts: list[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def resolve(doc: Any, path: str, default: Any = None) -> Any:
    try:
        return jsonpointer.resolve_pointer(doc, path)
    except (jsonpointer.JsonPointerException, TypeError):
        return default


def leaves(doc: Any, prefix: list[Any] | None = None) -> dict[str, Any]:
    """Every leaf of `doc` by JSON Pointer (scalars, empty objects and arrays)."""
    prefix = prefix or []
    if isinstance(doc, dict) and doc:
        out: dict[str, Any] = {}
        for key, value in doc.items():
            out |= leaves(value, [*prefix, key])
        return out
    if isinstance(doc, list) and doc:
        out = {}
        for index, value in enumerate(doc):
            out |= leaves(value, [*prefix, index])
        return out
    return {pointer(prefix): doc}


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values: 1 and 1.0 are the same number, True is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


# --- schema ------------------------------------------------------------------------------


@cache
def _validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(MANIFEST_SCHEMA)
    return Draft202012Validator(MANIFEST_SCHEMA)


def _problems_for(error: ValidationError) -> list[Problem]:
    base = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in error.validator_value if k not in error.instance]
        return [Problem(pointer([*base, k]), "is required") for k in missing]
    if error.validator == "additionalProperties" and error.validator_value is False:
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        return [Problem(pointer([*base, k]), "is not a field of the manifest") for k in extra]
    return [Problem(pointer(base) or "/", error.message)]


def _metric_problems(doc: dict, task: str) -> list[Problem]:
    problems = []
    allowed = TASK_METRICS.get(task, set())
    for index, metric in enumerate(doc["evaluation"]["metrics"]):
        if metric["name"] not in allowed:
            problems.append(
                Problem(
                    f"/evaluation/metrics/{index}/name",
                    f"'{metric['name']}' is not a {task.replace('_', ' ')} metric "
                    f"(use one of: {', '.join(sorted(allowed))}).",
                )
            )
        elif metric["name"] == "mase" and not doc["requirements"].get("time_column"):
            problems.append(
                Problem(f"/evaluation/metrics/{index}/name", "MASE needs requirements.time_column.")
            )
    return problems


def _semantic_problems(doc: dict) -> list[Problem]:
    """What the schema alone cannot say: fields that must agree with each other."""
    task = doc["requirements"]["task"]
    problems = _metric_problems(doc, task)
    algorithm = doc["pipeline"]["training"]["algorithm"]
    if algorithm not in TASK_ALGORITHMS[task]:
        problems.append(
            Problem(
                "/pipeline/training/algorithm",
                f"'{algorithm}' does not train a {task.replace('_', ' ')} "
                f"(use one of: {', '.join(sorted(TASK_ALGORITHMS[task]))}).",
            )
        )
    time_column = doc["requirements"].get("time_column")
    strategy = doc["evaluation"]["validation"]["strategy"]
    if strategy == "rolling_origin" and not time_column:
        problems.append(
            Problem(
                "/evaluation/validation/strategy",
                "Rolling-origin validation needs requirements.time_column.",
            )
        )
    prep = doc["pipeline"].get("feature_prep", {})
    if (prep.get("lags") or prep.get("rolling_means") or prep.get("calendar")) and not time_column:
        problems.append(
            Problem(
                "/pipeline/feature_prep", "Lag and calendar features need requirements.time_column."
            )
        )
    return problems


def validate(doc: Any) -> list[Problem]:
    """Every problem with an effective manifest, sorted by path; empty when it is valid."""
    if not isinstance(doc, dict):
        return [Problem("/", "A manifest is a JSON object.")]
    problems = [p for e in _validator().iter_errors(doc) for p in _problems_for(e)]
    if not problems:
        problems = _semantic_problems(doc)
    return sorted(set(problems), key=lambda p: (p.path, p.message))


# --- inheritance -------------------------------------------------------------------------


def merge(base: dict, layer: dict) -> dict:
    """`layer` over `base`: objects merge key by key, arrays and scalars replace, null removes."""
    out = copy.deepcopy(base)
    for key, value in layer.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            inner = out.get(key)
            out[key] = merge(inner if isinstance(inner, dict) else {}, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _removed_leaves(layer: dict, before: dict, prefix: list[Any]) -> list[str]:
    out: list[str] = []
    for key, value in layer.items():
        if key not in before:
            continue
        if value is None:
            out.extend(leaves(before[key], [*prefix, key]))
        elif isinstance(value, dict) and isinstance(before[key], dict):
            out.extend(_removed_leaves(value, before[key], [*prefix, key]))
    return out


def _origin(layer: Layer) -> dict:
    return {"recipe": layer.recipe, "version": layer.version, "level": layer.level}


def effective(layers: list[Layer]) -> Effective:
    """The layers merged top-down (the root first), with the provenance of every leaf."""
    result = Effective(manifest={})
    for layer in layers:
        before_leaves = leaves(result.manifest) if result.manifest else {}
        for path in _removed_leaves(layer.manifest, result.manifest, []):
            result.removed[path] = _origin(layer)
        merged = merge(result.manifest, layer.manifest)
        provenance: dict[str, dict] = {}
        for path, value in (leaves(merged) if merged else {}).items():
            if path in before_leaves and same(before_leaves[path], value):
                provenance[path] = result.provenance[path]
                continue
            entry = {**_origin(layer), "overrides": path in before_leaves}
            if path in before_leaves:
                previous = result.provenance[path]
                entry["previous"] = {
                    "recipe": previous["recipe"],
                    "version": previous["version"],
                    "value": before_leaves[path],
                }
            provenance[path] = entry
        result.manifest, result.provenance = merged, provenance
    return result


def layer_between(parent: dict, child: dict) -> dict:
    """The smallest layer that turns `parent` into `child` when merged over it."""
    out: dict = {}
    for key, value in child.items():
        if key not in parent:
            out[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(parent[key], dict):
            inner = layer_between(parent[key], value)
            if inner:
                out[key] = inner
        elif not _deep_same(parent[key], value):
            out[key] = copy.deepcopy(value)
    for key in parent:
        if key not in child:
            out[key] = None
    return out


def _deep_same(a: Any, b: Any) -> bool:
    return canonical(a) == canonical(b)


# --- content, versions, patches, diffs ---------------------------------------------------


def canonical(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(doc: Any) -> str:
    return hashlib.sha256(canonical(doc).encode()).hexdigest()


def next_version(previous: str | None, *, major: bool) -> str:
    """Semver: 1.0.0 first; then the minor number, or the major one when `major`."""
    if not previous:
        return FIRST_VERSION
    numbers = [int(p) for p in previous.split(".")]
    major_n, minor_n = numbers[0], numbers[1] if len(numbers) > 1 else 0
    return f"{major_n + 1}.0.0" if major else f"{major_n}.{minor_n + 1}.0"


def requirements_changed(before: dict, after: dict) -> bool:
    return not _deep_same(before.get("requirements"), after.get("requirements"))


def _check_op(index: int, op: Any) -> None:
    if not isinstance(op, dict) or not isinstance(op.get("op"), str) or "path" not in op:
        raise PatchRefused(index, 'Each operation is an object with "op" and "path".')


def apply_patch(doc: dict, ops: Any) -> dict:
    """`doc` with the RFC 6902 operations applied in order (a copy). A failed `test`
    operation is a PatchRefused with `stale` set; any other bad operation names its index."""
    if not isinstance(ops, list) or not ops:
        raise PatchRefused(0, "A patch is a non-empty list of RFC 6902 operations.")
    current = copy.deepcopy(doc)
    for index, op in enumerate(ops):
        _check_op(index, op)
        try:
            current = jsonpatch.apply_patch(current, [op])
        except jsonpatch.JsonPatchTestFailed as exc:
            raise PatchRefused(index, f"test failed: {exc}", stale=True) from exc
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            raise PatchRefused(index, str(exc)) from exc
        except (TypeError, KeyError, IndexError, ValueError) as exc:
            raise PatchRefused(index, f"cannot be applied: {exc}") from exc
    return current


def diff(before: dict, after: dict) -> list[dict]:
    """The RFC 6902 patch from `before` to `after`."""
    return jsonpatch.make_patch(before, after).patch


MISSING = object()


def side_by_side(before: dict, after: dict, ops: list[dict]) -> list[dict]:
    """One row per changed path: the value before and after (None: absent)."""
    rows = []
    for op in ops:
        paths = [op["from"], op["path"]] if op.get("op") == "move" else [op["path"]]
        for path in paths:
            old, new = resolve(before, path, MISSING), resolve(after, path, MISSING)
            rows.append(
                {
                    "op": op["op"],
                    "path": path,
                    "before": None if old is MISSING else old,
                    "after": None if new is MISSING else new,
                    "had_before": old is not MISSING,
                    "has_after": new is not MISSING,
                }
            )
    return rows
