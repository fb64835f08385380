"""The deterministic remapper: puts a model-metadata document with other key names onto the schema.

Pure Python, no Django: the importer calls it with `registry.schema.METADATA_SCHEMA` when the
document is not valid as it is and no LLM could remap it. It walks the document against the
schema and, for every key, tries in turn: the same name after normalisation (camelCase,
kebab-case, spaces), a synonym (`model_performance` -> `metrics`, `auc` -> `auc_roc`), the
name without a `test_`/`val_` prefix or `_score` suffix, a field of a sub-section one level
down (`accuracy` at the top goes to `metrics.accuracy`), and finally a search inside an
unknown wrapper (`{"model": {"evaluation": {...}}}`). Numeric strings become numbers where
the schema wants numbers. Whatever found no place is reported as dropped, with the reason.

The schema drives it: a field added to the schema is found by its own name without any
change here; the tables below only hold other names people use for the same thing.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
_PREFIXES = ("test_", "val_", "valid_", "validation_", "holdout_", "hold_out_", "eval_",
             "evaluation_", "final_", "overall_")
_SUFFIXES = ("_score", "_test", "_val", "_holdout", "_value", "_metric")

_CAMEL_1 = re.compile(r"([a-z0-9])([A-Z])")
_CAMEL_2 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_QUANTILE = re.compile(r"^(?:p|q|quantile_?|percentile_?)?(\d+(?:\.\d+)?)(%)?$")


@dataclass(frozen=True)
class KeyMove:
    """One source key and where it went. Paths read like `features[].type`: `[]` stands for
    every item of a list."""

    source: str
    target: str
    detail: str = ""


@dataclass(frozen=True)
class DroppedKey:
    source: str
    reason: str


@dataclass
class Remapping:
    document: dict
    moves: list[KeyMove] = field(default_factory=list)
    dropped: list[DroppedKey] = field(default_factory=list)


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


def remap(document: dict, schema: dict) -> Remapping:
    """Map `document` onto `schema` (a JSON Schema with local `$ref`s); never raises on data."""
    walker = _Walker(schema)
    mapped = walker.object(document, schema, "", "", verbose=True)
    return Remapping(
        document=mapped,
        moves=list(dict.fromkeys(walker.moves)),
        dropped=list(dict.fromkeys(walker.dropped)),
    )


def _join(base: str, key: str) -> str:
    return f"{base}.{key}" if base else key


def _types(node: dict) -> list[str]:
    kind = node.get("type")
    return kind if isinstance(kind, list) else [kind] if kind else []


def _kind(node: dict) -> str:
    types = _types(node)
    if "properties" in node or "object" in types:
        return "object"
    if "items" in node or "array" in types:
        return "array"
    if "enum" in node:
        return "enum"
    if types == ["integer"]:
        return "integer"
    if types in (["number"], ["integer", "number"], ["number", "integer"]):
        return "number"
    if types == ["string"]:
        return "string"
    return "any"


def _quantile_key(key: str) -> str | None:
    """"50%", "0.5", "q50", "median" -> "p50" (the schema's quantile keys)."""
    text = str(key).strip().lower()
    if text == "median":
        return "p50"
    match = _QUANTILE.match(text)
    if not match:
        return None
    number = float(match.group(1))
    if number < 1 and not match.group(2) and "." in match.group(1):
        number *= 100
    if not 0 <= number < 100 or not float(number).is_integer():
        return None
    return f"p{int(number):02d}"


class _Walker:
    def __init__(self, schema: dict) -> None:
        self.root = schema
        self.moves: list[KeyMove] = []
        self.dropped: list[DroppedKey] = []

    # --- the schema ----------------------------------------------------------------------
    def resolve(self, node: Any) -> dict:
        for _ in range(32):
            if not isinstance(node, dict) or "$ref" not in node:
                break
            ref = str(node["$ref"])
            if not ref.startswith("#/"):
                return {}
            target: Any = self.root
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part, {}) if isinstance(target, dict) else {}
            node = target
        return node if isinstance(node, dict) else {}

    def props(self, node: dict) -> dict[str, dict]:
        return {k: self.resolve(v) for k, v in (node.get("properties") or {}).items()}

    def is_map(self, node: dict) -> bool:
        return not node.get("properties") and isinstance(node.get("additionalProperties"), dict)

    @staticmethod
    def match(key: str, props: dict[str, dict]) -> str | None:
        """The schema field a normalised source key stands for, if any."""
        candidates = [key]
        for prefix in _PREFIXES:
            if key.startswith(prefix) and len(key) > len(prefix):
                candidates.append(key[len(prefix):])
        for stem in list(candidates):
            for suffix in _SUFFIXES:
                if stem.endswith(suffix) and len(stem) > len(suffix):
                    candidates.append(stem[: -len(suffix)])
        for candidate in candidates:
            if candidate in props:
                return candidate
            for target in SYNONYMS.get(candidate, ()):
                if target in props:
                    return target
        return None

    # --- recording -----------------------------------------------------------------------
    def move(self, source: str, target: str, detail: str = "") -> None:
        self.moves.append(KeyMove(source, target, detail))

    def drop(self, source: str, reason: str) -> None:
        self.dropped.append(DroppedKey(source, reason))

    # --- placing a value into a schema node ----------------------------------------------
    def place(self, value: Any, node: Any, src: str, dst: str, *, verbose: bool) -> tuple[bool, Any, str]:
        """(placed?, the value as the schema wants it, what was done to it). Only a shape that
        cannot fit (a dict where a number goes) is refused; a wrong scalar is kept so that
        validation names the problem."""
        node = self.resolve(node)
        kind = _kind(node)
        if kind == "object":
            return self.place_object(value, node, src, dst, verbose=verbose)
        if kind == "array":
            return self.place_array(value, node, src, dst, verbose=verbose)
        if isinstance(value, dict | list):
            if kind == "any":
                return True, value, ""
            return False, value, f"{dst} wants a {kind}, not {_shape(value)}"
        return self.place_scalar(value, node, kind)

    def place_scalar(self, value: Any, node: dict, kind: str) -> tuple[bool, Any, str]:
        if kind == "enum":
            allowed = node["enum"]
            if value in allowed or not isinstance(value, str):
                return True, value, ""
            for candidate in (normalise_key(value), VALUE_SYNONYMS.get(normalise_key(value))):
                if candidate in allowed:
                    return True, candidate, f"{value!r} read as {candidate!r}"
            return False, value, f"{value!r} is not one of {', '.join(map(str, allowed))}"
        if kind in ("number", "integer"):
            number = coerce_number(value)
            if number is None:
                return True, value, ""
            if kind == "integer" and isinstance(number, float) and number.is_integer():
                number = int(number)
            if number == value and type(number) is type(value):
                return True, value, ""
            return True, number, f"{value!r} read as {number!r}"
        if kind == "string":
            if node.get("format") == "date-time":
                stamp = _date_time(value)
                if stamp is not None and stamp != value:
                    return True, stamp, f"{value!r} read as {stamp!r}"
            if isinstance(value, int | float) and not isinstance(value, bool):
                return True, str(value), f"{value!r} read as {str(value)!r}"
        return True, value, ""

    def place_array(self, value: Any, node: dict, src: str, dst: str, *, verbose: bool) -> tuple[bool, Any, str]:
        items = self.resolve(node.get("items", {}))
        detail = ""
        if isinstance(value, dict) and _kind(items) == "object" and "name" in self.props(items):
            # {"income": {"dtype": "float"}} or {"income": "float"}: a name -> spec map.
            rows = []
            for name, spec in value.items():
                if isinstance(spec, dict):
                    rows.append({"name": name, **{k: v for k, v in spec.items() if normalise_key(k) != "name"}})
                elif isinstance(spec, str) and "type" in self.props(items):
                    rows.append({"name": name, "type": spec})
                else:
                    rows.append({"name": name})
                    if spec is not None:
                        self.drop(f"{_join(src, '*')}", f"no place for a {type(spec).__name__} value next to a name")
            value, detail = rows, "an object keyed by name, turned into a list"
        if isinstance(value, str) and _kind(items) == "string":
            value, detail = [value], "a single value, turned into a list"
        if not isinstance(value, list):
            return False, value, f"{dst} wants a list, not {_shape(value)}"
        out = []
        converted: list[str] = []
        for item in value:
            ok, placed, note = self.place(item, items, f"{src}[]", f"{dst}[]", verbose=verbose)
            out.append(placed if ok else item)
            if note and not isinstance(item, dict | list):
                converted.append(note)
        if converted:
            note = f"{len(converted)} of {len(value)} values converted, e.g. {converted[0]}"
            detail = f"{detail}; {note}" if detail else note
        return True, out, detail

    def place_object(self, value: Any, node: dict, src: str, dst: str, *, verbose: bool) -> tuple[bool, Any, str]:
        props = self.props(node)
        detail = ""
        if isinstance(value, str) and _kind(props.get("name", {})) == "string":
            return True, {"name": value}, "a bare name, turned into an object"
        pairs = _name_value_pairs(value)
        if pairs is not None and not any(_kind(p) == "array" for p in props.values()):
            # [{"name": "auc", "value": 0.91}, ...]: a list of named numbers.
            value, detail = pairs, "a list of name/value pairs, turned into an object"
        elif isinstance(value, list) and value and props and all(isinstance(row, dict) for row in value):
            # [{"fpr": 0, "tpr": 0}, ...]: points, turned into columns.
            columns: dict[str, list] = {}
            for row in value:
                for key, cell in row.items():
                    columns.setdefault(key, []).append(cell)
            value, detail = columns, "a list of points, turned into columns"
        elif isinstance(value, list):
            required = [k for k in node.get("required", []) if _kind(props.get(k, {})) == "array"]
            if len(required) == 1:
                value, detail = {required[0]: value}, f"a bare list, read as {required[0]}"
        elif isinstance(value, dict):
            pair = self.pair_columns(value, node, props)
            if pair is not None:
                value, detail = pair, "an object of name -> number, turned into two lists"
        if not isinstance(value, dict):
            return False, value, f"{dst} wants an object, not {_shape(value)}"
        return True, self.object(value, node, src, dst, verbose=verbose), detail

    def pair_columns(self, value: dict, node: dict, props: dict[str, dict]) -> dict | None:
        """{"income": 0.4, "age": 0.1} for an object that wants two parallel lists (names and
        numbers, e.g. feature_importance)."""
        required = node.get("required", [])
        if len(required) != 2 or not value:
            return None
        names, numbers = (props.get(k, {}) for k in required)
        if not (_kind(names) == "array" and _kind(self.resolve(names.get("items", {}))) == "string"):
            return None
        if not (_kind(numbers) == "array" and _kind(self.resolve(numbers.get("items", {}))) in ("number", "integer")):
            return None
        if any(self.match(normalise_key(k), props) for k in value):
            return None
        if any(coerce_number(v) is None for v in value.values()):
            return None
        return {required[0]: list(value), required[1]: list(value.values())}

    # --- an object -----------------------------------------------------------------------
    def object(self, value: dict, node: dict, src: str, dst: str, *, verbose: bool) -> dict:
        node = self.resolve(node)
        if self.is_map(node):
            return self.map(value, node, src, dst)
        props = self.props(node)
        extra = node.get("additionalProperties", True)
        if not props and extra is True:
            # A free-form object (training.params): nothing to map inside it.
            return copy.deepcopy(value)
        out: dict[str, Any] = {}
        failed: dict[str, str] = {}
        rest: list[tuple[str, Any]] = []

        # Exact names first, so that `auc_roc` wins over its synonym `auc` in the same object.
        chosen: list[tuple[str, str, Any]] = []
        later: list[tuple[str, Any]] = []
        for key, item in value.items():
            norm = normalise_key(key)
            if norm in props and norm not in {t for t, _, _ in chosen}:
                chosen.append((norm, key, item))
            else:
                later.append((key, item))
        for key, item in later:
            target = self.match(normalise_key(key), props)
            if target is None:
                rest.append((key, item))
            elif target in {t for t, _, _ in chosen}:
                first = next(k for t, k, _ in chosen if t == target)
                self.drop(_join(src, key), f"duplicate of {_join(src, first)}, which also maps to {_join(dst, target)}")
            else:
                chosen.append((target, key, item))

        for target, key, item in chosen:
            at = len(self.moves)  # the key's own row goes before the rows of what is inside it
            ok, placed, detail = self.place(item, props[target], _join(src, key), _join(dst, target), verbose=verbose)
            if ok:
                out[target] = placed
                if verbose or key != target or detail:
                    self.moves.insert(at, KeyMove(_join(src, key), _join(dst, target), detail))
            else:
                del self.moves[at:]
                failed[key] = f"it matches {_join(dst, target)}, but {detail}"
                rest.append((key, item))

        for key, item in rest:
            if self.hoist(key, item, props, out, src, dst):
                continue
            if isinstance(item, dict) and self.search_inside(item, node, out, _join(src, key), dst):
                continue
            norm = normalise_key(key)
            if extra is True and norm not in out:
                out[norm] = item
                self.move(_join(src, key), _join(dst, norm), "not a schema field; kept (this section allows extra fields)")
            elif isinstance(extra, dict) and norm not in out:
                ok, placed, detail = self.place(item, extra, _join(src, key), _join(dst, norm), verbose=verbose)
                if ok:
                    out[norm] = placed
                    if verbose or key != norm or detail:
                        self.move(_join(src, key), _join(dst, norm), detail)
                else:
                    self.drop(_join(src, key), f"{_join(dst, norm) or 'this'} wants a {_kind(self.resolve(extra))}")
            else:
                self.drop(_join(src, key), failed.get(key) or self.no_place_reason(item, dst, props))
        # Schema order, then extras: the mapped document reads like the schema.
        return {**{k: out[k] for k in props if k in out}, **{k: v for k, v in out.items() if k not in props}}

    def no_place_reason(self, item: Any, dst: str, props: dict) -> str:
        where = f"in {dst}" if dst else "at the top level"
        if isinstance(item, dict):
            return f"no field {where} matches it or anything inside it"
        return f"no field {where} matches it"

    def map(self, value: dict, node: dict, src: str, dst: str) -> dict:
        """An object whose keys are data (feature names, metric names, categories): keys stay."""
        values = node["additionalProperties"]
        pattern = (node.get("propertyNames") or {}).get("pattern")
        out: dict[str, Any] = {}
        for key, item in value.items():
            target = str(key)
            if pattern and not re.search(pattern, target):
                fixed = _quantile_key(target)
                if fixed is None or not re.search(pattern, fixed):
                    self.drop(_join(src, key), f"the key does not match {pattern}")
                    continue
                target = fixed
            if target in out:
                self.drop(_join(src, key), f"duplicate of {_join(dst, target)}")
                continue
            ok, placed, detail = self.place(item, values, _join(src, key), _join(dst, target), verbose=False)
            if not ok:
                self.drop(_join(src, key), f"{_join(dst, target)} wants a {_kind(self.resolve(values))}")
                continue
            out[target] = placed
            if target != key or detail:
                self.move(_join(src, key), _join(dst, target), detail)
        return out

    def hoist(self, key: str, item: Any, props: dict[str, dict], out: dict, src: str, dst: str) -> bool:
        """A key that belongs one level down: a feature's summary inside `reference` goes to
        `reference.features`, `accuracy` at the top goes to `metrics.accuracy`."""
        norm = normalise_key(key)
        for field_name, child in props.items():
            if not (self.is_map(child) and isinstance(item, dict)):
                continue
            entry = self.resolve(child["additionalProperties"])
            known = self.props(entry)
            fits = sum(1 for k in item if self.match(normalise_key(k), known))
            entries = out.get(field_name, {})
            if not known or fits * 2 < len(item) or not isinstance(entries, dict) or str(key) in entries:
                continue
            where = _join(_join(dst, field_name), str(key))
            at = len(self.moves)
            ok, placed, detail = self.place(item, entry, _join(src, key), where, verbose=False)
            if ok:
                out[field_name] = {**entries, str(key): placed}
                self.moves.insert(at, KeyMove(_join(src, key), where, detail or f"moved into {_join(dst, field_name)}"))
                return True
            del self.moves[at:]
        for section, child in props.items():
            if _kind(child) != "object" or self.is_map(child):
                continue
            current = out.get(section, {})
            if not isinstance(current, dict):
                continue
            sub = self.props(child)
            target = self.match(norm, sub)
            if target is None or target in current:
                continue
            where = _join(_join(dst, section), target)
            at = len(self.moves)
            ok, placed, detail = self.place(item, sub[target], _join(src, key), where, verbose=True)
            if ok:
                out[section] = {**current, target: placed}
                self.moves.insert(at, KeyMove(_join(src, key), where, detail or f"moved into {_join(dst, section)}"))
                return True
            del self.moves[at:]
        return False

    def search_inside(self, item: dict, node: dict, out: dict, src: str, dst: str) -> bool:
        """An unknown wrapper (`{"evaluation": {...}}`): map its contents onto the same level.
        Only what fills an empty field is taken; if nothing inside fits, the wrapper is
        dropped whole by the caller."""
        trial = _Walker(self.root)
        found = trial.object(item, node, src, dst, verbose=True)
        accepted: list[str] = []
        for key, value in found.items():
            if key not in out:
                out[key] = value
                accepted.append(_join(dst, key))
            elif isinstance(out[key], dict) and isinstance(value, dict):
                fresh = {k: v for k, v in value.items() if k not in out[key]}
                out[key] = {**out[key], **fresh}
                accepted.extend(_join(_join(dst, key), k) for k in fresh)
        if not accepted:
            return False
        for move in trial.moves:
            if any(path_under(move.target, path) or path_under(path, move.target) for path in accepted):
                self.move(move.source, move.target, move.detail)
            else:
                self.drop(move.source, f"{move.target} was already filled")
        self.dropped.extend(trial.dropped)
        return True


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"the {type(value).__name__} {value!r}"[:80]


def _name_value_pairs(value: Any) -> dict | None:
    if not isinstance(value, list) or not value:
        return None
    out: dict[str, Any] = {}
    for row in value:
        if not isinstance(row, dict) or len(row) != 2:
            return None
        keys = {normalise_key(k): v for k, v in row.items()}
        name = next((keys[k] for k in ("name", "metric", "key", "id") if k in keys), None)
        number = next((keys[k] for k in ("value", "score", "val") if k in keys), None)
        if not isinstance(name, str) or number is None:
            return None
        out[name] = number
    return out


def path_under(path: str, prefix: str) -> bool:
    """`metrics.auc_roc` and `features[0].name` are under `metrics` and `features`."""
    return path == prefix or path.startswith((f"{prefix}.", f"{prefix}["))


def _date_time(value: Any) -> str | None:
    """An RFC 3339 date-time from a date, a naive timestamp or a Unix time; None if unsure."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        if not 1e8 < seconds < 1e10:
            return None
        return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat().replace("+00:00", "Z")


# --- tracing an LLM's answer back to the source ---------------------------------------------


def trace(source: Any, mapped: Any) -> tuple[list[KeyMove], list[DroppedKey], list[str]]:
    """Where each value of `mapped` came from in `source`, for a mapping we did not make
    ourselves (the LLM's): values are matched by content (numbers equal, "0.91" equals 0.91,
    "float" equals "numeric"), keys by name when a value occurs more than once.

    Returns the moves, the source values that appear nowhere in `mapped` (dropped), and the
    `mapped` values found nowhere in `source`: the ones the LLM added, to be checked."""
    by_value: dict[Any, list[str]] = {}
    source_leaves = list(_leaves(source, ""))
    for path, value in source_leaves:
        by_value.setdefault(_canon(value), []).append(path)
    by_key: dict[Any, list[str]] = {}
    for path, key in _keys(source, ""):
        by_key.setdefault(_canon(key), []).append(path)

    moves: list[KeyMove] = []
    used: set[str] = set()
    added: list[str] = []
    for path, value in _leaves(mapped, ""):
        candidates = by_value.get(_canon(value), [])
        detail = ""
        if not candidates and isinstance(value, str):
            candidates, detail = by_key.get(_canon(value), []), "a key in the source"
        if not candidates:
            added.append(_wild(path))
            continue
        last = normalise_key(_last(path))
        ranked = sorted(
            candidates,
            key=lambda c: (
                normalise_key(_last(c)) != last and last not in SYNONYMS.get(normalise_key(_last(c)), ()),
                c in used,
            ),
        )
        chosen = ranked[0]
        used.add(chosen)
        moves.append(KeyMove(_wild(chosen), _wild(path), detail))
    used_wild = {_wild(p) for p in used}
    dropped = [
        DroppedKey(_wild(p), "not found in the mapped document")
        for p, _ in source_leaves
        if _wild(p) not in used_wild
    ]
    return list(dict.fromkeys(moves)), list(dict.fromkeys(dropped)), list(dict.fromkeys(added))


def _leaves(value: Any, path: str):
    # A list of scalars (a curve, a category list) is one value, not many.
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(item, _join(path, str(key)))
    elif isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def _keys(value: Any, path: str):
    if isinstance(value, dict):
        for key, item in value.items():
            yield _join(path, str(key)), key
            yield from _keys(item, _join(path, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _keys(item, f"{path}[{i}]")


def _canon(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return ("c", value)
    number = coerce_number(value) if not isinstance(value, str) or not value.strip().endswith("%") else None
    if number is not None:
        return ("n", round(float(number), 9))
    if isinstance(value, str):
        norm = normalise_key(value)
        return ("s", VALUE_SYNONYMS.get(norm, norm) if norm else value)
    if isinstance(value, list):
        return ("l", tuple(_canon(item) for item in value))
    if isinstance(value, dict):
        return ("d",)
    return ("o", repr(value))


_INDEX = re.compile(r"\[\d+\]")


def _wild(path: str) -> str:
    return _INDEX.sub("[]", path)


def _last(path: str) -> str:
    return re.split(r"[.\[\]]+", path.rstrip("]"))[-1] if path else ""
