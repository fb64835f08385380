"""One chunk scored like live traffic: each row routed by groups.routing's rule, then one
predict (or predict_proba) call and one SHAP call per member for that member's rows.

A row's routing key is its key column's value (the stable hash a live request with that
`routing_key` meets) or, without one, `<job id>:<row>`, so a redone chunk routes every
row as before. Its request id is uuid5(job id, "row:<row>"), and a shadow's is derived
from it as on the live path (serving.shadow_request_id): a redone chunk logs no row twice.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from groups.routing import CHAMPION, SHADOW, RouteMember, choose, key_point
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
        return len(self.parsed.errors) - self.rows_ok


def row_request_id(job_id: uuid.UUID, row: int) -> uuid.UUID:
    return uuid.uuid5(job_id, f"row:{row}")


# --- routing ------------------------------------------------------------------------------


def _keys(table: pa.Table, key_column: str) -> list[str]:
    if not key_column:
        return [""] * table.num_rows
    column = table.column(key_column)
    if not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    return pc.fill_null(pc.utf8_trim_whitespace(column), "").to_pylist()


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

    def route(self, keys: Iterable[str], count: int) -> np.ndarray:
        """The version id each key meets (a key's point: groups.routing.key_point)."""
        if self.total == 0:
            return np.full(count, self.version_ids[0])
        points = np.fromiter(map(key_point, keys), dtype=np.float64, count=count)
        # The same float product as choose(), then `target < cumulative` for each member.
        targets = points * self.total
        index = np.searchsorted(self.cumulative, targets, side="right")
        return self.version_ids[np.minimum(index, len(self.version_ids) - 1)]


def route_rows(spec: ChunkSpec, keys: list[str]) -> np.ndarray:
    """The version each row meets: the key's stable hash (as a live request's routing_key),
    else the job's and row's."""
    prefix = f"{spec.job_id}:"
    first = spec.first_row
    routing_keys = (key or f"{prefix}{first + offset}" for offset, key in enumerate(keys))
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
    regression -> the value, a classifier without probabilities -> no score."""
    classes = list(getattr(estimator, "classes_", []))
    if raw.ndim == 2 and classes:
        best = raw.argmax(axis=1)
        labels = [_plain(classes[b]) for b in best]
        if len(classes) == 2:
            positive = next((i for i, c in enumerate(classes) if c == 1), 1)
            return labels, raw[:, positive].astype(float)
        return labels, raw[np.arange(len(raw)), best].astype(float)
    if task == Task.REGRESSION:
        return [float(v) for v in raw], raw.astype(float)
    return [_plain(v) for v in raw], np.full(len(raw), np.nan)


def _estimator_answer(version: Any, predictor: Any, parsed: ParsedChunk, rows: np.ndarray):
    estimator = predictor.estimator
    names = [str(n) for n in getattr(estimator, "feature_names_in_", predictor.feature_names)]
    X = _matrix(parsed, names, rows)
    frame = pd.DataFrame(X, columns=names) if hasattr(estimator, "feature_names_in_") else X
    proba = hasattr(estimator, "predict_proba") and list(getattr(estimator, "classes_", []))
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
    parsed: ParsedChunk,
    rows: np.ndarray,
    labels: list,
    names: list[str],
) -> tuple[np.ndarray | None, np.ndarray | None, str]:
    explainer = explain.explainer_for(version, predictor)
    if explainer.kind == "none":
        return None, None, explainer.note
    values, base = explainer.explain(_matrix(parsed, explainer.feature_names, rows), labels)
    order = [explainer.feature_names.index(name) for name in names]
    return np.asarray(values, dtype=float)[:, order], np.asarray(base, dtype=float), ""


def member_answer(
    version_id: int, role: str, parsed: ParsedChunk, rows: np.ndarray, spec: ChunkSpec
) -> MemberAnswer:
    """One predict call and one SHAP call for a member's rows of the chunk."""
    version, predictor = serving._predictor(version_id)
    names = list(spec.features)
    if predictor.estimator is None:
        labels, scores = _external_answer(predictor, parsed, rows, names)
    else:
        labels, scores = _estimator_answer(version, predictor, parsed, rows)
    answer = MemberAnswer(version_id, role, rows, labels, scores)
    if spec.explain and len(rows):
        try:
            answer.shap, answer.base, answer.note = _explain(
                version, predictor, parsed, rows, labels, names
            )
        except Exception as exc:
            # As live: an explainer failure never fails the prediction; the row says so.
            logger.exception("Explaining %s failed", version)
            answer.note = f"No explanation: the explainer failed ({type(exc).__name__})."
    return answer


def _routed_answers(
    spec: ChunkSpec, parsed: ParsedChunk, chosen: list[int], ok: np.ndarray
) -> list[MemberAnswer]:
    champion = next((m for m in spec.members if m.role == CHAMPION), spec.members[0])
    roles = {m.version_id: m.role for m in spec.members}
    answers: list[MemberAnswer] = []
    chosen_array = np.array(chosen)
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


def score_chunk(table: pa.Table, spec: ChunkSpec) -> ScoredChunk:
    started = time.perf_counter()
    row_errors = (
        table.column(PARSE_ERROR).to_pylist() if PARSE_ERROR in table.column_names else None
    )
    parsed = parse_chunk(table, spec.features, row_errors)
    keys = _keys(table, spec.key_column)
    ok = parsed.ok
    chosen = route_rows(spec, keys)
    answers = _routed_answers(spec, parsed, chosen, ok) + _shadow_answers(spec, parsed, ok)
    result = output_table(table, spec, parsed, answers)
    errors = [(spec.first_row + int(i), parsed.reason(i)) for i in np.flatnonzero(~ok)]
    return ScoredChunk(result, answers, parsed, keys, time.perf_counter() - started, errors)


# --- the result rows ------------------------------------------------------------------------


def _version_labels(version_id: int) -> tuple[str, str]:
    version = serving._version(version_id)
    return version.model.name, version.version


def _kept(table: pa.Table, spec: ChunkSpec) -> dict[str, pa.ChunkedArray]:
    names = spec.keep_columns if spec.keep_columns is not None else table.column_names
    return {name: table.column(name) for name in names if name != PARSE_ERROR}


def _served_columns(n: int, spec: ChunkSpec, answers: list[MemberAnswer]) -> dict[str, pa.Array]:
    model_name: list[str | None] = [None] * n
    model_version: list[str | None] = [None] * n
    role: list[str | None] = [None] * n
    prediction: list[Any] = [None] * n
    score = np.full(n, np.nan)
    names = list(spec.features)
    shap = np.full((n, len(names)), np.nan)
    base = np.full(n, np.nan)
    for answer in answers:
        if answer.role == SHADOW:
            continue
        label_name, label_version = _version_labels(answer.version_id)
        for position, row in enumerate(answer.rows):
            model_name[row], model_version[row], role[row] = label_name, label_version, answer.role
            prediction[row] = answer.labels[position]
        score[answer.rows] = answer.scores
        if answer.shap is not None:
            shap[answer.rows] = answer.shap
            base[answer.rows] = answer.base
    columns: dict[str, pa.Array] = {
        "model_name": pa.array(model_name, pa.string()),
        "model_version": pa.array(model_version, pa.string()),
        "role": pa.array(role, pa.string()),
        "prediction": pa.array(prediction),
        "score": pa.array(score, pa.float64(), from_pandas=True),
    }
    if spec.explain:
        for j, name in enumerate(names):
            columns[f"shap_{name}"] = pa.array(shap[:, j], pa.float64(), from_pandas=True)
        columns["base_value"] = pa.array(base, pa.float64(), from_pandas=True)
    return columns


def _shadow_columns(n: int, answers: list[MemberAnswer]) -> dict[str, pa.Array]:
    columns = {}
    for answer in answers:
        if answer.role != SHADOW:
            continue
        prediction: list[Any] = [None] * n
        score = np.full(n, np.nan)
        for position, row in enumerate(answer.rows):
            prediction[row] = answer.labels[position]
        score[answer.rows] = answer.scores
        columns[f"shadow_{answer.version_id}_prediction"] = pa.array(prediction)
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
    columns["error"] = pa.array([parsed.reason(i) for i in range(n)], pa.string())
    return pa.table(columns)


# --- the log rows -------------------------------------------------------------------------


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def log_rows(
    scored: ScoredChunk, spec: ChunkSpec, *, now: datetime, logged_keys: bool
) -> list[dict[str, Any]]:
    """The chunk's answered rows as the group's log takes them (serving.log_insert)."""
    names = list(spec.features)
    latency = round(scored.seconds * 1000.0 / max(len(scored.parsed.errors), 1), 3)
    rows = []
    for answer in scored.answers:
        for position, i in enumerate(answer.rows):
            row = spec.first_row + int(i)
            request_id = row_request_id(spec.job_id, row)
            if answer.role == SHADOW:
                request_id = serving.shadow_request_id(request_id, answer.version_id)
            explanation = None
            if answer.shap is not None:
                explanation = {
                    n: float(v) for n, v in zip(names, answer.shap[position], strict=True)
                }
            rows.append(
                {
                    "request_id": request_id,
                    "model_version_id": answer.version_id,
                    "role": answer.role,
                    "routing_key": scored.keys[i] if logged_keys else "",
                    "inputs": {n: _plain(scored.parsed.values[n][i]) for n in names},
                    "prediction": answer.labels[position],
                    "score": _finite(answer.scores[position]),
                    "explanation": explanation,
                    "base_value": None if explanation is None else float(answer.base[position]),
                    "latency_ms": latency,
                    "fallback": answer.fallback,
                    "error": answer.note,
                    "created_at": now,
                    "batch_id": spec.job_id,
                }
            )
    return rows
