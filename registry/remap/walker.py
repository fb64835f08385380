"""The walk of a document against the schema: matching, placing, reshaping, reporting."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from registry.remap.vocabulary import (
    SPLIT_PREFIXES,
    SPLIT_SUFFIXES,
    SYNONYMS,
    VALUE_SYNONYMS,
    coerce_number,
    normalise_key,
)

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


def remap(document: dict, schema: dict) -> Remapping:
    """Map `document` onto `schema` (a JSON Schema with local `$ref`s); never raises on data."""
    walker = _Walker(schema)
    mapped = walker.object(document, schema, "", "", verbose=True)
    return Remapping(
        document=mapped,
        moves=list(dict.fromkeys(walker.moves)),
        dropped=list(dict.fromkeys(walker.dropped)),
    )


def join_path(base: str, key: str) -> str:
    key = key if key != "" else '""'  # an empty key still needs a visible path
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
    """ "50%", "0.5", "q50", "median" -> "p50" (the schema's quantile keys)."""
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
        for prefix in SPLIT_PREFIXES:
            if key.startswith(prefix) and len(key) > len(prefix):
                candidates.append(key[len(prefix) :])
        for stem in list(candidates):
            for suffix in SPLIT_SUFFIXES:
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
    def place(
        self, value: Any, node: Any, src: str, dst: str, *, verbose: bool
    ) -> tuple[bool, Any, str]:
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
            return _place_enum(value, node["enum"])
        if kind in ("number", "integer"):
            return _place_number(value, kind)
        if kind == "string":
            return _place_string(value, node)
        return True, value, ""

    def named_rows(self, value: dict, items: dict, src: str) -> list[dict]:
        """{"income": {"dtype": "float"}} or {"income": "float"}: a name -> spec map, as rows."""
        has_type = "type" in self.props(items)
        rows = []
        for name, spec in value.items():
            if isinstance(spec, dict):
                rows.append(
                    {"name": name, **{k: v for k, v in spec.items() if normalise_key(k) != "name"}}
                )
            elif isinstance(spec, str) and has_type:
                rows.append({"name": name, "type": spec})
            else:
                rows.append({"name": name})
                if spec is not None:
                    self.drop(
                        f"{join_path(src, '*')}",
                        f"no place for a {type(spec).__name__} value next to a name",
                    )
        return rows

    def array_shape(self, value: Any, items: dict, src: str) -> tuple[Any, str]:
        if isinstance(value, dict) and _kind(items) == "object" and "name" in self.props(items):
            return self.named_rows(value, items, src), "an object keyed by name, turned into a list"
        if isinstance(value, str) and _kind(items) == "string":
            return [value], "a single value, turned into a list"
        return value, ""

    def place_array(
        self, value: Any, node: dict, src: str, dst: str, *, verbose: bool
    ) -> tuple[bool, Any, str]:
        items = self.resolve(node.get("items", {}))
        value, detail = self.array_shape(value, items, src)
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

    def object_shape(self, value: Any, node: dict, props: dict[str, dict]) -> tuple[Any, str]:
        """Other shapes of the same object: name/value pairs, points, a bare list, two lists."""
        pairs = _name_value_pairs(value)
        if pairs is not None and not any(_kind(p) == "array" for p in props.values()):
            # [{"name": "auc", "value": 0.91}, ...]: a list of named numbers.
            return pairs, "a list of name/value pairs, turned into an object"
        if (
            isinstance(value, list)
            and value
            and props
            and all(isinstance(row, dict) for row in value)
        ):
            # [{"fpr": 0, "tpr": 0}, ...]: points, turned into columns.
            return _columns(value), "a list of points, turned into columns"
        if isinstance(value, list):
            required = [k for k in node.get("required", []) if _kind(props.get(k, {})) == "array"]
            if len(required) == 1:
                return {required[0]: value}, f"a bare list, read as {required[0]}"
        elif isinstance(value, dict):
            pair = self.pair_columns(value, node, props)
            if pair is not None:
                return pair, "an object of name -> number, turned into two lists"
        return value, ""

    def place_object(
        self, value: Any, node: dict, src: str, dst: str, *, verbose: bool
    ) -> tuple[bool, Any, str]:
        props = self.props(node)
        if isinstance(value, str) and _kind(props.get("name", {})) == "string":
            return True, {"name": value}, "a bare name, turned into an object"
        value, detail = self.object_shape(value, node, props)
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
        if not (
            _kind(names) == "array" and _kind(self.resolve(names.get("items", {}))) == "string"
        ):
            return None
        if not (
            _kind(numbers) == "array"
            and _kind(self.resolve(numbers.get("items", {}))) in ("number", "integer")
        ):
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
        if not props and node.get("additionalProperties", True) is True:
            # A free-form object (training.params): nothing to map inside it.
            return copy.deepcopy(value)
        chosen, rest = self.match_keys(value, props, src, dst)
        out, failed = self.place_chosen(chosen, props, src, dst, verbose=verbose)
        rest += [(key, value[key]) for key in failed]
        for key, item in rest:
            self.place_rest(
                key, item, node, props, out, failed.get(key, ""), src, dst, verbose=verbose
            )
        # Schema order, then extras: the mapped document reads like the schema.
        return {
            **{k: out[k] for k in props if k in out},
            **{k: v for k, v in out.items() if k not in props},
        }

    def match_keys(
        self, value: dict, props: dict[str, dict], src: str, dst: str
    ) -> tuple[list[tuple[str, str, Any]], list[tuple[str, Any]]]:
        """(target, key, item) for the keys that match a field, and the rest. Exact names
        first, so that `auc_roc` wins over its synonym `auc` in the same object."""
        chosen: dict[str, tuple[str, Any]] = {}
        later: list[tuple[str, Any]] = []
        for key, item in value.items():
            norm = normalise_key(key)
            if norm in props and norm not in chosen:
                chosen[norm] = (key, item)
            else:
                later.append((key, item))
        rest: list[tuple[str, Any]] = []
        for key, item in later:
            target = self.match(normalise_key(key), props)
            if target is None:
                rest.append((key, item))
            elif target in chosen:
                first = chosen[target][0]
                self.drop(
                    join_path(src, key),
                    f"duplicate of {join_path(src, first)}, which also maps to {join_path(dst, target)}",
                )
            else:
                chosen[target] = (key, item)
        return [(target, key, item) for target, (key, item) in chosen.items()], rest

    def place_chosen(
        self,
        chosen: list[tuple[str, str, Any]],
        props: dict[str, dict],
        src: str,
        dst: str,
        *,
        verbose: bool,
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """(the placed fields, why each matched key that did not fit was refused)."""
        out: dict[str, Any] = {}
        failed: dict[str, str] = {}
        for target, key, item in chosen:
            at = len(self.moves)  # the key's own row goes before the rows of what is inside it
            ok, placed, detail = self.place(
                item, props[target], join_path(src, key), join_path(dst, target), verbose=verbose
            )
            if not ok:
                del self.moves[at:]
                failed[key] = f"it matches {join_path(dst, target)}, but {detail}"
                continue
            out[target] = placed
            if verbose or key != target or detail:
                self.moves.insert(at, KeyMove(join_path(src, key), join_path(dst, target), detail))
        return out, failed

    def place_rest(
        self,
        key: str,
        item: Any,
        node: dict,
        props: dict[str, dict],
        out: dict,
        failure: str,
        src: str,
        dst: str,
        *,
        verbose: bool,
    ) -> None:
        """A key no field matched: one level down, inside it, as an extra field, or dropped."""
        if self.hoist(key, item, props, out, src, dst):
            return
        if isinstance(item, dict) and self.search_inside(item, node, out, join_path(src, key), dst):
            return
        norm = normalise_key(key)
        extra = node.get("additionalProperties", True)
        if norm in out or extra is False or extra is None:
            self.drop(join_path(src, key), failure or self.no_place_reason(item, dst, props))
        elif extra is True:
            out[norm] = item
            self.move(
                join_path(src, key),
                join_path(dst, norm),
                "not a schema field; kept (this section allows extra fields)",
            )
        elif isinstance(extra, dict):
            self.place_extra(key, norm, item, extra, out, src, dst, verbose=verbose)
        else:
            self.drop(join_path(src, key), failure or self.no_place_reason(item, dst, props))

    def place_extra(
        self,
        key: str,
        norm: str,
        item: Any,
        extra: dict,
        out: dict,
        src: str,
        dst: str,
        *,
        verbose: bool,
    ) -> None:
        ok, placed, detail = self.place(
            item, extra, join_path(src, key), join_path(dst, norm), verbose=verbose
        )
        if not ok:
            self.drop(
                join_path(src, key),
                f"{join_path(dst, norm) or 'this'} wants a {_kind(self.resolve(extra))}",
            )
            return
        out[norm] = placed
        if verbose or key != norm or detail:
            self.move(join_path(src, key), join_path(dst, norm), detail)

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
                    self.drop(join_path(src, key), f"the key does not match {pattern}")
                    continue
                target = fixed
            if target in out:
                self.drop(join_path(src, key), f"duplicate of {join_path(dst, target)}")
                continue
            ok, placed, detail = self.place(
                item, values, join_path(src, key), join_path(dst, target), verbose=False
            )
            if not ok:
                self.drop(
                    join_path(src, key),
                    f"{join_path(dst, target)} wants a {_kind(self.resolve(values))}",
                )
                continue
            out[target] = placed
            if target != key or detail:
                self.move(join_path(src, key), join_path(dst, target), detail)
        return out

    def hoist(
        self, key: str, item: Any, props: dict[str, dict], out: dict, src: str, dst: str
    ) -> bool:
        """A key that belongs one level down: a feature's summary inside `reference` goes to
        `reference.features`, `accuracy` at the top goes to `metrics.accuracy`."""
        return self.hoist_into_map(key, item, props, out, src, dst) or self.hoist_into_section(
            key, item, props, out, src, dst
        )

    def try_place(
        self, item: Any, node: dict, src: str, where: str, note: str, *, verbose: bool
    ) -> tuple[bool, Any]:
        """Place `item` at `where`, recording the move (with `note` if nothing more is said)
        before the rows of what is inside it; on failure, record nothing."""
        at = len(self.moves)
        ok, placed, detail = self.place(item, node, src, where, verbose=verbose)
        if ok:
            self.moves.insert(at, KeyMove(src, where, detail or note))
        else:
            del self.moves[at:]
        return ok, placed

    def map_entry_fits(self, key: str, item: Any, child: dict, out_entries: Any) -> dict | None:
        """The entry schema of the map `child` if `item` looks like one of its entries."""
        if not (self.is_map(child) and isinstance(item, dict)):
            return None
        entry = self.resolve(child["additionalProperties"])
        known = self.props(entry)
        fits = sum(1 for k in item if self.match(normalise_key(k), known))
        if (
            not known
            or fits * 2 < len(item)
            or not isinstance(out_entries, dict)
            or str(key) in out_entries
        ):
            return None
        return entry

    def hoist_into_map(
        self, key: str, item: Any, props: dict[str, dict], out: dict, src: str, dst: str
    ) -> bool:
        for field_name, child in props.items():
            entries = out.get(field_name, {})
            entry = self.map_entry_fits(key, item, child, entries)
            if entry is None:
                continue
            where = join_path(join_path(dst, field_name), str(key))
            note = f"moved into {join_path(dst, field_name)}"
            ok, placed = self.try_place(
                item, entry, join_path(src, key), where, note, verbose=False
            )
            if ok:
                out[field_name] = {**entries, str(key): placed}
                return True
        return False

    def hoist_into_section(
        self, key: str, item: Any, props: dict[str, dict], out: dict, src: str, dst: str
    ) -> bool:
        norm = normalise_key(key)
        for section, child in props.items():
            current = out.get(section, {})
            if _kind(child) != "object" or self.is_map(child) or not isinstance(current, dict):
                continue
            sub = self.props(child)
            target = self.match(norm, sub)
            if target is None or target in current:
                continue
            where = join_path(join_path(dst, section), target)
            note = f"moved into {join_path(dst, section)}"
            ok, placed = self.try_place(
                item, sub[target], join_path(src, key), where, note, verbose=True
            )
            if ok:
                out[section] = {**current, target: placed}
                return True
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
                accepted.append(join_path(dst, key))
            elif isinstance(out[key], dict) and isinstance(value, dict):
                fresh = {k: v for k, v in value.items() if k not in out[key]}
                out[key] = {**out[key], **fresh}
                accepted.extend(join_path(join_path(dst, key), k) for k in fresh)
        if not accepted:
            return False
        for move in trial.moves:
            if any(
                path_under(move.target, path) or path_under(path, move.target) for path in accepted
            ):
                self.move(move.source, move.target, move.detail)
            else:
                self.drop(move.source, f"{move.target} was already filled")
        self.dropped.extend(trial.dropped)
        return True


def _place_enum(value: Any, allowed: list) -> tuple[bool, Any, str]:
    if value in allowed or not isinstance(value, str):
        return True, value, ""
    for candidate in (normalise_key(value), VALUE_SYNONYMS.get(normalise_key(value))):
        if candidate in allowed:
            return True, candidate, f"{value!r} read as {candidate!r}"
    return False, value, f"{value!r} is not one of {', '.join(map(str, allowed))}"


def _place_number(value: Any, kind: str) -> tuple[bool, Any, str]:
    number = coerce_number(value)
    if number is None:
        return True, value, ""
    if kind == "integer" and isinstance(number, float) and number.is_integer():
        number = int(number)
    if number == value and type(number) is type(value):
        return True, value, ""
    return True, number, f"{value!r} read as {number!r}"


def _place_string(value: Any, node: dict) -> tuple[bool, Any, str]:
    if node.get("format") == "date-time":
        stamp = _date_time(value)
        if stamp is not None and stamp != value:
            return True, stamp, f"{value!r} read as {stamp!r}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return True, str(value), f"{value!r} read as {str(value)!r}"
    return True, value, ""


def _columns(rows: list[dict]) -> dict[str, list]:
    columns: dict[str, list] = {}
    for row in rows:
        for key, cell in row.items():
            columns.setdefault(key, []).append(cell)
    return columns


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
