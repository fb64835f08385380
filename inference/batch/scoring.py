"""One chunk scored like live traffic: each row routed by groups.routing's rule, then one
predict (or predict_proba) call and one SHAP call per member for that member's rows.

A row's routing key is its key column's value (the stable hash a live request with that
`routing_key` meets) or, without one, `<job id>:<row>`, so a redone chunk routes every
row as before. Its request id is uuid5(job id, "row:<row>"), and a shadow's is derived
from it as on the live path (serving.shadow_request_id): a redone chunk logs no row twice.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from groups.routing import CHAMPION, SHADOW, RouteMember, choose
from inference import explain, serving
from inference.batch.files import PARSE_ERROR
from inference.batch.parsing import ParsedChunk, parse_chunk
from registry.models import Task

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChunkSpec:
    job_id: uuid.UUID
    first_row: int
    features: dict[str, dict]  # name -> metadata spec, in the group's order
    members: list[RouteMember]
    key_column: str = ""
    explain: bool = True
    keep_columns: list[str] | None = None  # None: every input column
    shadow_columns: bool = False


@dataclass
class MemberAnswer:
    """One member's answers for some rows of a chunk (positions in the chunk)."""

    version_id: int
    role: str
    rows: np.ndarray
    labels: list[Any]
    scores: np.ndarray
    shap: np.ndarray | None = None  # (rows, features) in the spec's feature order
    base: np.ndarray | None = None
    fallback: bool = False
    note: str = ""


@dataclass
class ScoredChunk:
    table: pa.Table  # the result rows, in input order
    answers: list[MemberAnswer]
    parsed: ParsedChunk
    keys: list[str]
    seconds: float
    errors: list[tuple[int, str]] = field(default_factory=list)  # (row, reason)

    @property
    def rows_ok(self) -> int:
        return int(self.parsed.ok.sum())

    @property
    def rows_failed(self) -> int:
        return len(self.parsed.errors)


def row_request_id(job_id: uuid.UUID, row: int) -> uuid.UUID:
    return uuid.uuid5(job_id, f"row:{row}")


# --- routing ------------------------------------------------------------------------------


def _keys(table: pa.Table, key_column: str) -> list[str]:
    if not key_column:
        return [""] * table.num_rows
    column = table.column(key_column)
    if not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    return [("" if k is None else k.strip()) for k in column.to_pylist()]


def key_points(keys: Iterable[bytes], count: int) -> np.ndarray:
    """groups.routing.key_point of many (UTF-8 encoded) keys: the first 8 bytes of each
    key's sha256 as a big-endian integer over 2**64. One hash per key in Python, the rest in
    numpy: the uint64 -> float64 conversion rounds to nearest as Python's int / 2**64 does,
    and dividing by a power of two is exact (tests/inference/test_batch_rows.py compares)."""
    sha256 = hashlib.sha256
    digests = b"".join([sha256(key).digest()[:8] for key in keys])
    assert len(digests) == 8 * count
    return np.frombuffer(digests, dtype=">u8").astype(np.float64) / 2.0**64


@dataclass(frozen=True)
class RouteTable:
    """groups.routing.choose's rule for many keys: the eligible members (no shadow, weight
    above 0) by version id, and their cumulative weights. A key's stable point times the
    total weight picks the first member whose cumulative weight is above it, as `choose`
    walks them; with no eligible member every row meets the champion."""

    version_ids: np.ndarray
    cumulative: np.ndarray
    total: int

    @classmethod
    def of(cls, members: Sequence[RouteMember]) -> RouteTable:
        eligible = sorted(
            (m for m in members if m.role != SHADOW and m.weight > 0), key=lambda m: m.version_id
        )
        if not eligible:
            # As choose(): the champion, or no route at all.
            eligible = [choose(members, routing_key="-")]
            return cls(np.array([eligible[0].version_id]), np.array([1]), 0)
        weights = np.array([m.weight for m in eligible], dtype=np.int64)
        return cls(
            np.array([m.version_id for m in eligible]), np.cumsum(weights), int(weights.sum())
        )

    def route(self, keys: Iterable[bytes], count: int) -> np.ndarray:
        """The version id each (UTF-8 encoded) key meets (groups.routing.key_point)."""
        if self.total == 0:
            return np.full(count, self.version_ids[0])
        targets = key_points(keys, count) * self.total  # the float product choose() makes
        # choose() walks the members while `target >= cumulative`: the first one above it.
        index = np.searchsorted(self.cumulative, targets, side="right")
        return self.version_ids[np.minimum(index, len(self.version_ids) - 1)]


def route_rows(spec: ChunkSpec, keys: list[str]) -> np.ndarray:
    """The version each row meets: the key's stable hash (as a live request's routing_key),
    else the job's and row's."""
    prefix = f"{spec.job_id}:".encode()
    first = spec.first_row
    if any(keys):
        routing_keys = [
            key.encode() if key else b"%b%d" % (prefix, first + offset)
            for offset, key in enumerate(keys)
        ]
    else:  # no key column: f"{job}:{row}", formatted as bytes at once
        routing_keys = [b"%b%d" % (prefix, row) for row in range(first, first + len(keys))]
    return RouteTable.of(spec.members).route(routing_keys, len(keys))


# --- predicting ---------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _matrix(parsed: ParsedChunk, names: list[str], rows: np.ndarray) -> np.ndarray:
    columns = [parsed.values[name][rows] for name in names]
    matrix = np.column_stack(columns) if columns else np.empty((len(rows), 0))
    return matrix if all(c.dtype.kind in "fb" for c in columns) else matrix.astype(object)


def _labels_scores(estimator: Any, task: str, raw: np.ndarray) -> tuple[list[Any], np.ndarray]:
    """As SklearnPredictor.predict: binary -> P(class 1), multiclass -> P(label),
    regression -> the value, a classifier without probabilities -> no score. Labels are
    plain Python values (`tolist()`), as the live answer and the log keep them."""
    classes = np.asarray(getattr(estimator, "classes_", []))
    if raw.ndim == 2 and len(classes):
        best = raw.argmax(axis=1)
        labels = classes[best].tolist()
        if len(classes) == 2:
            positive = next((i for i, c in enumerate(classes.tolist()) if c == 1), 1)
            return labels, raw[:, positive].astype(float)
        return labels, raw[np.arange(len(raw)), best].astype(float)
    if task == Task.REGRESSION:
        return raw.astype(float).tolist(), raw.astype(float)
    return raw.tolist(), np.full(len(raw), np.nan)


def _fitted_names(predictor: Any) -> list[str]:
    estimator = predictor.estimator
    return [str(n) for n in getattr(estimator, "feature_names_in_", predictor.feature_names)]


def _estimator_answer(predictor: Any, X: np.ndarray, names: list[str]):
    """The live path's arithmetic: a numeric model takes the float array (the predictor's
    array path, SklearnPredictor.predict_array); anything else the DataFrame it was fitted on."""
    estimator = predictor.estimator
    if getattr(predictor, "serves_arrays", False) and X.dtype.kind == "f":
        raw = np.asarray(predictor.predict_array(X))
    else:
        frame = pd.DataFrame(X, columns=names) if hasattr(estimator, "feature_names_in_") else X
        proba = hasattr(estimator, "predict_proba") and len(getattr(estimator, "classes_", []))
        raw = np.asarray(estimator.predict_proba(frame) if proba else estimator.predict(frame))
    return _labels_scores(estimator, predictor.task, raw)


def _external_answer(predictor: Any, parsed: ParsedChunk, rows: np.ndarray, names: list[str]):
    inputs = [{name: _plain(parsed.values[name][i]) for name in names} for i in rows]
    predictions = predictor.predict(inputs)
    scores = np.array([np.nan if p.score is None else p.score for p in predictions], dtype=float)
    return [p.label for p in predictions], scores


def _explain(
    version: Any,
    predictor: Any,
    matrix: tuple[list[str], np.ndarray],
    labels: list,
    names: list[str],
) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    """SHAP values for the member's rows, returned in the group's feature order. `matrix`:
    the rows' values (columns, X) as predicted; reused when the explainer wants them."""
    explainer = explain.explainer_for(version, predictor)
    if explainer.kind == "none":
        return None, None, explainer.note
    columns, X = matrix
    if columns != explainer.feature_names:
        raise ValueError("The explainer's columns are not the predictor's.")
    values, base = explainer.explain(X, labels)
    values = np.asarray(values, dtype=float)
    order = [explainer.feature_names.index(name) for name in names]
    if order != list(range(values.shape[1])):
        values = values[:, order]
    return values, np.asarray(base, dtype=float), ""


def member_answer(
    version_id: int, role: str, parsed: ParsedChunk, rows: np.ndarray, spec: ChunkSpec
) -> MemberAnswer:
    """One predict call and one SHAP call for a member's rows of the chunk (one matrix
    for both)."""
    version, predictor = serving._predictor(version_id)
    names = list(spec.features)
    if predictor.estimator is None:
        labels, scores = _external_answer(predictor, parsed, rows, names)
        matrix = (names, np.empty((len(rows), 0)))
    else:
        fitted = _fitted_names(predictor)
        matrix = (fitted, _matrix(parsed, fitted, rows))
        labels, scores = _estimator_answer(predictor, matrix[1], fitted)
    answer = MemberAnswer(version_id, role, rows, labels, scores)
    if spec.explain and len(rows):
        try:
            answer.shap, answer.base, answer.note = _explain(
                version, predictor, matrix, labels, names
            )
        except Exception as exc:
            # As live: an explainer failure never fails the prediction; the row says so.
            logger.exception("Explaining %s failed", version)
            answer.note = f"No explanation: the explainer failed ({type(exc).__name__})."
    return answer


def _routed_answers(
    spec: ChunkSpec, parsed: ParsedChunk, chosen: np.ndarray, ok: np.ndarray
) -> list[MemberAnswer]:
    champion = next((m for m in spec.members if m.role == CHAMPION), spec.members[0])
    roles = {m.version_id: m.role for m in spec.members}
    answers: list[MemberAnswer] = []
    chosen_array = np.asarray(chosen)
    fallbacks: list[np.ndarray] = []
    for version_id in sorted(set(chosen_array[ok].tolist())):
        rows = np.flatnonzero(ok & (chosen_array == version_id))
        try:
            answers.append(member_answer(version_id, roles[version_id], parsed, rows, spec))
        except Exception:
            if version_id == champion.version_id:
                raise
            # As live: a member that cannot serve falls back to the champion, and says so.
            logger.exception("Version %s could not serve a batch chunk", version_id)
            fallbacks.append(rows)
    if fallbacks:
        rows = np.sort(np.concatenate(fallbacks))
        answer = member_answer(champion.version_id, CHAMPION, parsed, rows, spec)
        answer.fallback, answer.note = (
            True,
            "The routed member could not serve; the champion answered.",
        )
        answers.append(answer)
    return answers


def _shadow_answers(spec: ChunkSpec, parsed: ParsedChunk, ok: np.ndarray) -> list[MemberAnswer]:
    rows = np.flatnonzero(ok)
    answers = []
    for member in spec.members:
        if member.role != SHADOW or not len(rows):
            continue
        try:
            answers.append(member_answer(member.version_id, SHADOW, parsed, rows, spec))
        except Exception:
            logger.exception(
                "Shadow %s failed on a batch chunk", member.version_id
            )  # never fails rows
    return answers


def _row_errors(table: pa.Table) -> dict[int, str]:
    """The rows the reader found broken (files.PARSE_ERROR set): {row in chunk: reason}."""
    if PARSE_ERROR not in table.column_names:
        return {}
    column = table.column(PARSE_ERROR)
    rows = np.flatnonzero(column.is_valid().to_numpy(zero_copy_only=False))
    return dict(zip(rows.tolist(), column.take(rows).to_pylist(), strict=True))


def score_chunk(table: pa.Table, spec: ChunkSpec) -> ScoredChunk:
    started = time.perf_counter()
    parsed = parse_chunk(table, spec.features, _row_errors(table))
    keys = _keys(table, spec.key_column)
    ok = parsed.ok
    chosen = route_rows(spec, keys)
    answers = _routed_answers(spec, parsed, chosen, ok) + _shadow_answers(spec, parsed, ok)
    result = output_table(table, spec, parsed, answers)
    errors = [(spec.first_row + i, "; ".join(found)) for i, found in parsed.errors.items()]
    return ScoredChunk(result, answers, parsed, keys, time.perf_counter() - started, errors)


# --- the result rows ------------------------------------------------------------------------


def _version_labels(version_id: int) -> tuple[str, str]:
    version = serving._version(version_id)
    return version.model.name, version.version


def _kept(table: pa.Table, spec: ChunkSpec) -> dict[str, pa.ChunkedArray]:
    names = spec.keep_columns if spec.keep_columns is not None else table.column_names
    return {name: table.column(name) for name in names if name != PARSE_ERROR}


def _labels_column(n: int, parts: list[tuple[np.ndarray, list[Any]]]) -> pa.Array:
    """One label per row (None where no member answered), typed by pyarrow."""
    values = np.full(n, None, dtype=object)
    for rows, labels in parts:
        values[rows] = labels
    return pa.array(values)


def _floats(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.float64(), from_pandas=True)  # NaN: no value (null)


def _shap_columns(n: int, names: list[str], served: list[MemberAnswer]) -> dict[str, pa.Array]:
    shap = np.full((n, len(names)), np.nan)
    base = np.full(n, np.nan)
    for answer in served:
        if answer.shap is not None:
            shap[answer.rows] = answer.shap
            base[answer.rows] = answer.base
    columns = {f"shap_{name}": _floats(shap[:, j]) for j, name in enumerate(names)}
    columns["base_value"] = _floats(base)
    return columns


def _served_columns(n: int, spec: ChunkSpec, answers: list[MemberAnswer]) -> dict[str, pa.Array]:
    served = [a for a in answers if a.role != SHADOW]
    # Each row's answering member as an index into `served` (-1: none); the member's
    # name, version and role are then taken per row by pyarrow, not set in Python.
    member = np.full(n, -1, dtype=np.int64)
    score = np.full(n, np.nan)
    for position, answer in enumerate(served):
        member[answer.rows] = position
        score[answer.rows] = answer.scores
    labels = [_version_labels(a.version_id) for a in served]
    index = pa.array(member, mask=member < 0)

    def taken(values: list[str]) -> pa.Array:
        return pa.array(values, pa.string()).take(index)

    columns: dict[str, pa.Array] = {
        "model_name": taken([name for name, _ in labels]),
        "model_version": taken([version for _, version in labels]),
        "role": taken([a.role for a in served]),
        "prediction": _labels_column(n, [(a.rows, a.labels) for a in served]),
        "score": _floats(score),
    }
    if spec.explain:
        columns.update(_shap_columns(n, list(spec.features), served))
    return columns


def _shadow_columns(n: int, answers: list[MemberAnswer]) -> dict[str, pa.Array]:
    columns = {}
    for answer in answers:
        if answer.role != SHADOW:
            continue
        score = np.full(n, np.nan)
        score[answer.rows] = answer.scores
        columns[f"shadow_{answer.version_id}_prediction"] = _labels_column(
            n, [(answer.rows, answer.labels)]
        )
        columns[f"shadow_{answer.version_id}_score"] = pa.array(
            score, pa.float64(), from_pandas=True
        )
    return columns


def output_table(
    table: pa.Table, spec: ChunkSpec, parsed: ParsedChunk, answers: list[MemberAnswer]
) -> pa.Table:
    n = table.num_rows
    columns: dict[str, Any] = dict(_kept(table, spec))
    columns["row"] = pa.array(np.arange(spec.first_row, spec.first_row + n), pa.int64())
    columns.update(_served_columns(n, spec, answers))
    if spec.shadow_columns:
        columns.update(_shadow_columns(n, answers))
    columns["error"] = pa.array(parsed.reasons(), pa.string())
    return pa.table(columns)


# --- the log rows -------------------------------------------------------------------------


def _records(columns: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Rows as {name: plain Python value} dicts, built by pyarrow rather than cell by cell."""
    return pa.table({name: pa.array(values) for name, values in columns.items()}).to_pylist()


def _answer_rows(
    scored: ScoredChunk,
    spec: ChunkSpec,
    answer: MemberAnswer,
    shared: dict[str, Any],
    keys: list[str] | None,
) -> list[dict[str, Any]]:
    names = list(spec.features)
    inputs = _records({n: scored.parsed.values[n][answer.rows] for n in names})
    explanations: list[dict | None] = [None] * len(answer.rows)
    bases: list[float | None] = [None] * len(answer.rows)
    if answer.shap is not None:
        explanations = _records({n: answer.shap[:, j] for j, n in enumerate(names)})
        bases = answer.base.astype(float).tolist()
    scores = np.where(np.isfinite(answer.scores), answer.scores, np.nan).tolist()
    rows = []
    for position, i in enumerate(answer.rows.tolist()):
        request_id = row_request_id(spec.job_id, spec.first_row + i)
        if answer.role == SHADOW:
            request_id = serving.shadow_request_id(request_id, answer.version_id)
        score = scores[position]
        rows.append(
            {
                **shared,
                "request_id": request_id,
                "routing_key": keys[i] if keys is not None else "",
                "inputs": inputs[position],
                "prediction": answer.labels[position],
                "score": None if score != score else score,  # NaN: no score
                "explanation": explanations[position],
                "base_value": bases[position],
            }
        )
    return rows


def log_rows(
    scored: ScoredChunk, spec: ChunkSpec, *, now: datetime, logged_keys: bool
) -> list[dict[str, Any]]:
    """The chunk's answered rows as the group's log takes them (serving.log_insert)."""
    latency = round(scored.seconds * 1000.0 / max(scored.parsed.rows, 1), 3)
    rows = []
    for answer in scored.answers:
        shared = {
            "model_version_id": answer.version_id,
            "role": answer.role,
            "latency_ms": latency,
            "fallback": answer.fallback,
            "error": answer.note,
            "created_at": now,
            "batch_id": spec.job_id,
        }
        keys = scored.keys if logged_keys else None
        rows.extend(_answer_rows(scored, spec, answer, shared, keys))
    return rows
