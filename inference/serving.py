"""Serving predictions for a group: the hot path behind POST /api/v1/groups/<slug>/predict.

    routing table (cached per process; one cache round trip checks its generation)
    -> validate the inputs against the group's features (400 names every problem)
    -> route each instance (weighted, or by the stable hash of its routing key)
    -> predictor and explainer of the chosen version (loaded once per process)
    -> predict + SHAP
    -> ONE INSERT into the group's table, committed (autocommit) before we answer
    -> shadows: predicted and logged after the answer is decided; never returned, and
       their failures are logged, never raised

Only the INSERT touches the database on the common path. Two exceptions, both off it:
a client-supplied `request_id` is looked up first (one indexed SELECT) so a retry returns
the logged answer without predicting or logging again; and the first request for a
version reads that version's row once per process.

`latency_ms` is the time spent validating, routing, predicting and explaining: the INSERT
writes it, so it cannot include itself, nor the HTTP exchange.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from core.errors import ServiceError
from core.permissions import require
from core.roles import PREDICT_PERM
from groups.routing import CHAMPION, SHADOW, NoRoute, RouteMember, choose
from groups.selectors import RoutingTable, routing_table
from inference import explain, tables
from inference.access import GroupRef, slug_in_scope
from inference.inputs import input_errors
from inference.rollup import rollup_mark_written
from registry.models import Flavor, ModelVersion
from registry.predictors import (
    Prediction,
    PredictionInputError,
    Predictor,
    PredictorUnavailable,
    predictor_for,
)

logger = logging.getLogger(__name__)

# A version that failed to load is not retried on every request (that would put a database
# read and a file read on the hot path of every request routed to it); after this long, it is.
FAILED_VERSION_RETRY_SECONDS = 30.0
ROUTING_KEY_MAX = 200


# --- errors ------------------------------------------------------------------------------


class ServingError(ServiceError):
    """A request the hub answers with an error; nothing was logged."""

    status = 400


class InvalidInputs(ServingError):
    status = 400


class GroupNotFound(ServingError):
    status = 404


class NoChampion(ServingError):
    status = 409


class ModelUnavailable(ServingError):
    status = 503


class RequestIdReused(ServingError):
    """A client-supplied request_id already logged with other inputs (not a retry)."""

    status = 409


class DatabaseUnavailable(ServingError):
    status = 503


@contextmanager
def database_reachable() -> Iterator[None]:
    """A database that cannot be reached is a 503 JSON error, never an HTML page or a 500."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        logger.error("The database is unreachable: %s", exc)
        message = "The database is unreachable: try again shortly."
        raise DatabaseUnavailable(message, {"database": [message]}) from exc


# --- requests and answers ----------------------------------------------------------------


@dataclass(frozen=True)
class PredictRequest:
    """One instance to predict. `logged_at` backdates the log row (demo replay only)."""

    inputs: dict[str, Any]
    routing_key: str = ""
    request_id: uuid.UUID | None = None
    explain: bool = True
    logged_at: datetime | None = None


@dataclass
class _Pending:
    """One instance on its way through the pipeline."""

    index: int
    request: PredictRequest
    request_id: uuid.UUID
    member: RouteMember
    version_id: int = 0
    role: str = ""
    prediction: Prediction | None = None
    explanation: explain.Explanation | None = None
    fallback: bool = False
    error: str = ""
    latency_ms: float = 0.0
    row: dict[str, Any] | None = None  # the log row, as inserted and answered
    notes: list[str] = field(default_factory=list)


# --- per-process caches ------------------------------------------------------------------

_versions: dict[int, ModelVersion] = {}
_failures: dict[int, tuple[float, str]] = {}
_lock = threading.Lock()


def serving_cache_clear() -> None:
    """Forget every cached version, predictor and explainer of this process (tests)."""
    from registry.predictors import predictor_cache_clear

    with _lock:
        _versions.clear()
        _failures.clear()
    predictor_cache_clear()
    explain.explainer_cache_clear()


def _version(version_id: int) -> ModelVersion:
    version = _versions.get(version_id)
    if version is None:
        # Read once per process (external versions are checked for changes, _predictor).
        version = ModelVersion.objects.select_related("model", "provider").get(pk=version_id)
        _versions[version_id] = version
    return version


def _stamp(version: ModelVersion) -> tuple[datetime | None, datetime | None]:
    provider = version.provider if version.provider_id else None
    return version.updated_at, provider.updated_at if provider is not None else None


def _forget_if_changed(version_id: int) -> None:
    """An external version whose row or provider changed since this process read it (a new
    key, a deactivated provider, an edited prompt) is read again. One indexed SELECT of two
    timestamps, only for external versions, each of whose instances costs an LLM call
    anyway; a scikit-learn version's artifact and features never change once registered."""
    version = _versions.get(version_id)
    if version is None or version.flavor != Flavor.EXTERNAL:
        return
    current = (
        ModelVersion.objects.filter(pk=version_id)
        .values_list("updated_at", "provider__updated_at")
        .first()
    )
    if current != _stamp(version):
        _versions.pop(version_id, None)


def _predictor(version_id: int) -> tuple[ModelVersion, Predictor]:
    failed = _failures.get(version_id)
    if failed and time.monotonic() - failed[0] < FAILED_VERSION_RETRY_SECONDS:
        raise PredictorUnavailable(failed[1])
    _forget_if_changed(version_id)
    try:
        version = _version(version_id)
        predictor = predictor_for(version)
    except ModelVersion.DoesNotExist as exc:
        message = f"Model version {version_id} does not exist."
        _failures[version_id] = (time.monotonic(), message)
        raise PredictorUnavailable(message) from exc
    except PredictorUnavailable as exc:
        _failures[version_id] = (time.monotonic(), str(exc))
        # Read the row again next time: someone may fix it (trust its types, set a provider).
        _versions.pop(version_id, None)
        raise
    _failures.pop(version_id, None)
    return version, predictor


def _is_external(version_id: int) -> bool:
    try:
        return _version(version_id).flavor == Flavor.EXTERNAL
    except ModelVersion.DoesNotExist:
        return False


def _label(version_id: int) -> str:
    try:
        return str(_version(version_id))
    except ModelVersion.DoesNotExist:
        return f"model version {version_id}"


# --- input validation --------------------------------------------------------------------


def _feature_types(table: RoutingTable, champion: RouteMember) -> dict[str, dict]:
    """The group's features with their declared specs (from the champion's metadata)."""
    try:
        version = _version(champion.version_id)
    except ModelVersion.DoesNotExist as exc:
        message = f"Model version {champion.version_id} does not exist."
        raise ModelUnavailable(message, {"model": [message]}) from exc
    specs = {f["name"]: f for f in version.metadata.get("features", []) if "name" in f}
    names = table.features or tuple(version.feature_names)
    return {name: specs.get(name, {}) for name in names}


# --- the service ---------------------------------------------------------------------------


def predict_one(
    *,
    slug: str,
    inputs: dict[str, Any],
    routing_key: str = "",
    request_id: uuid.UUID | None = None,
    explain_prediction: bool = True,
) -> dict[str, Any]:
    """Predict one instance for a group, log it, and return the answer (see module doc)."""
    request = PredictRequest(
        inputs=inputs, routing_key=routing_key, request_id=request_id, explain=explain_prediction
    )
    return predict_batch(slug=slug, instances=[request], batch=False)[0]


def predict_batch(
    *,
    slug: str,
    instances: Sequence[PredictRequest],
    batch: bool = True,
    routing_generation: int | None = None,
    user: object | None = None,
) -> list[dict[str, Any]]:
    """Predict many instances (each routed on its own), log them in one bulk INSERT, and
    return the answers in order. Any invalid instance refuses the whole batch (400).
    `routing_generation`: as read by the caller in this request (groups.selectors).
    `user`: the caller (an API key's principal), checked for the predict permission on
    the group; None for the hub's own calls (the demo)."""
    started = time.perf_counter()
    with database_reachable():
        table = _serving_table(slug, routing_generation, user)
        return _predict_batch(table, instances, batch, started)


def _serving_table(slug: str, routing_generation: int | None, user: object | None) -> RoutingTable:
    if user is not None:
        slug_in_scope(user, slug)  # 403 off a key's scope, before the 404
    table = routing_table(slug, generation=routing_generation)
    if table is None:
        raise GroupNotFound(f"No group '{slug}'.", {"group": [f"No group '{slug}'."]})
    if user is not None:
        require(user, PREDICT_PERM, GroupRef.of(table))
    return table


def _predict_batch(
    table: RoutingTable, instances: Sequence[PredictRequest], batch: bool, started: float
) -> list[dict[str, Any]]:
    champion = _champion(table)
    _validate(instances, _feature_types(table, champion), batch=batch)
    _check_batch_size(table, instances, batch=batch)

    logged = _logged_answers(table, instances, batch=batch)
    pending = _pending(table, instances, logged)
    _predict_routed(table, champion, pending)
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    for item in pending:
        # A batch shares its work: each row carries its share of the time.
        item.latency_ms = elapsed_ms / max(len(pending), 1)
    _insert(table, pending, logged, batch=batch)

    served = [item for item in pending if item.request_id not in logged]
    answers = _answers(table, instances, served, logged)
    _serve_shadows(table, served)
    return answers


def _pending(
    table: RoutingTable, instances: Sequence[PredictRequest], logged: dict[uuid.UUID, dict]
) -> list[_Pending]:
    """The instances not logged before, each routed."""
    return [
        _Pending(
            index=index,
            request=request,
            request_id=request.request_id or uuid.uuid4(),
            member=_route(table, request.routing_key),
        )
        for index, request in enumerate(instances)
        if request.request_id is None or request.request_id not in logged
    ]


def _answers(
    table: RoutingTable,
    instances: Sequence[PredictRequest],
    served: list[_Pending],
    logged: dict[uuid.UUID, dict],
) -> list[dict[str, Any]]:
    by_index = {item.index: item for item in served}
    return [
        _answer(table, by_index[index])
        if index in by_index
        # logged before, or by a concurrent retry while we predicted
        else logged[request.request_id]  # type: ignore[index]
        for index, request in enumerate(instances)
    ]


def _check_batch_size(
    table: RoutingTable, instances: Sequence[PredictRequest], *, batch: bool
) -> None:
    """An external (LLM) member costs a provider call per instance: a lower cap."""
    limit = settings.HUB_PREDICT_BATCH_MAX_EXTERNAL
    if not batch or len(instances) <= limit:
        return
    external = next((m for m in table.members if _is_external(m.version_id)), None)
    if external is not None:
        message = (
            f"At most {limit} instances per request in a group served by an external (LLM) "
            f"model ({_label(external.version_id)}), not {len(instances)}."
        )
        raise InvalidInputs(message, {"instances": [message]})


def _champion(table: RoutingTable) -> RouteMember:
    if not table.is_active:
        raise NoChampion(
            f"The group '{table.slug}' is not active.",
            {
                "group": [
                    f"The group '{table.slug}' is not active: activate it to serve predictions."
                ]
            },
        )
    champion = next((m for m in table.members if m.role == CHAMPION), None)
    if champion is None and settings.HUB_ROUTING_OVERRIDES.get(table.slug) and table.members:
        # An override forces one version (the routing table holds only it): it answers alone,
        # whatever its role in the group.
        return table.members[0]
    if champion is None:
        raise NoChampion(
            f"The group '{table.slug}' has no champion.",
            {"group": [f"The group '{table.slug}' has no champion: promote a member first."]},
        )
    return champion


def _validate(
    instances: Sequence[PredictRequest], features: dict[str, dict], *, batch: bool
) -> None:
    errors: dict[str, list[str]] = {}
    seen: dict[uuid.UUID, int] = {}
    for index, request in enumerate(instances):
        prefix = f"instances[{index}]." if batch else ""
        errors.update(input_errors(request.inputs, features, prefix=f"{prefix}inputs"))
        if len(request.routing_key or "") > ROUTING_KEY_MAX:
            errors[f"{prefix}routing_key"] = [f"At most {ROUTING_KEY_MAX} characters."]
        if request.request_id is not None:
            if request.request_id in seen:
                errors[f"{prefix}request_id"] = [
                    f"Repeats the request_id of instances[{seen[request.request_id]}]."
                ]
            seen[request.request_id] = index
    if errors:
        raise InvalidInputs(f"Invalid input: check {', '.join(errors)}.", errors)


def _route(table: RoutingTable, routing_key: str) -> RouteMember:
    try:
        return choose(
            table.members, routing_key=routing_key or None, sticky=table.routing_mode == "sticky"
        )
    except NoRoute as exc:
        raise NoChampion(str(exc), {"group": [str(exc)]}) from exc


def _predict_routed(table: RoutingTable, champion: RouteMember, pending: list[_Pending]) -> None:
    """Predict (and explain) each routed instance, falling back to the champion for the
    instances whose routed member cannot serve."""
    groups: dict[int, list[_Pending]] = {}
    for item in pending:
        groups.setdefault(item.member.version_id, []).append(item)
    fallbacks: list[_Pending] = []
    for version_id, items in groups.items():
        member = items[0].member
        try:
            _predict_as(version_id, member.role, items)
        except Exception as exc:
            if member.version_id == champion.version_id:
                raise _champion_failure(version_id, exc) from exc
            label = _label(version_id)
            logger.warning(
                "%s could not serve %s; falling back to the champion: %s", label, table.slug, exc
            )
            for item in items:
                item.fallback = True
                item.error = f"{label} ({member.role}) could not serve: {exc}"
            fallbacks.extend(items)
    if fallbacks:
        try:
            _predict_as(champion.version_id, CHAMPION, fallbacks)
        except Exception as exc:
            raise _champion_failure(champion.version_id, exc) from exc


def _champion_failure(version_id: int, exc: Exception) -> ServingError:
    if isinstance(exc, PredictionInputError):
        return InvalidInputs(f"Invalid input: {exc}", {"inputs": [str(exc)]})
    if isinstance(exc, PredictorUnavailable):
        message = f"{_label(version_id)} cannot be loaded: {exc}"
    else:
        logger.exception("The champion %s failed", version_id)
        message = f"{_label(version_id)} failed to predict: {type(exc).__name__}."
    return ModelUnavailable(message, {"model": [message]})


def _predict_as(version_id: int, role: str, items: list[_Pending]) -> None:
    version, predictor = _predictor(version_id)
    rows = [item.request.inputs for item in items]
    predictions = predictor.predict(rows)
    explained = [i for i, item in enumerate(items) if item.request.explain]
    explanations: dict[int, explain.Explanation] = {}
    if explained:
        try:
            results = explain.explanation_for(
                version,
                predictor,
                [rows[i] for i in explained],
                labels=[predictions[i].label for i in explained],
            )
            explanations = dict(zip(explained, results, strict=True))
        except Exception as exc:
            # An explainer failure never fails the prediction: it is logged on the row.
            logger.exception("Explaining %s failed", version)
            for i in explained:
                items[i].notes.append(
                    f"No explanation: the explainer failed ({type(exc).__name__})."
                )
    for i, item in enumerate(items):
        item.version_id = version_id
        item.role = role
        item.prediction = predictions[i]
        item.explanation = explanations.get(i)


def _row_fields(table: RoutingTable, item: _Pending, now: datetime) -> dict[str, Any]:
    explanation = item.explanation
    values = explanation.values if explanation and not explanation.is_empty else None
    assert item.prediction is not None
    return {
        "request_id": item.request_id,
        "model_version_id": item.version_id,
        "role": item.role,
        "routing_key": item.request.routing_key or "",
        "inputs": item.request.inputs,
        "prediction": item.prediction.label,
        "score": item.prediction.score,
        "probabilities": item.prediction.probabilities,  # multiclass only
        "explanation": values,
        "base_value": explanation.base_value if values is not None else None,
        "latency_ms": round(item.latency_ms, 3),
        "fallback": item.fallback,
        "error": " ".join([item.error, *item.notes]).strip(),
        "created_at": item.request.logged_at or now,
    }


def _insert(
    table: RoutingTable, pending: list[_Pending], logged: dict[uuid.UUID, dict], *, batch: bool
) -> None:
    """The one INSERT (autocommit: committed when it returns). A request_id that another
    request logged meanwhile (a concurrent retry) answers with that logged row instead."""
    if not pending:
        return
    now = timezone.now()
    for item in pending:
        item.row = _row_fields(table, item, now)
    try:
        with _savepoint_if_nested():
            log_insert(table.table_name, [item.row for item in pending])
        _backdated_written(table, pending)
        return
    except IntegrityError:
        pass
    # Lost a race on a request_id: answer those from the log, insert the rest.
    logged.update(_logged_answers(table, [item.request for item in pending], batch=batch))
    rest = [item for item in pending if item.request_id not in logged]
    if rest:
        log_insert(table.table_name, [item.row for item in rest])
        _backdated_written(table, rest)


def _backdated_written(table: RoutingTable, items: list[_Pending]) -> None:
    """Rows logged with a past time (the demo's replay) may land in hours already rolled
    up for the comparison: mark those hours, after the INSERT (inference/rollup.py). The
    live path logs at `now` and skips this."""
    backdated = [item.request.logged_at for item in items if item.request.logged_at is not None]
    if backdated:
        rollup_mark_written(table.group_id, backdated)


_LOG_COLUMNS = (
    "request_id",
    "model_version_id",
    "role",
    "routing_key",
    "inputs",
    "prediction",
    "score",
    "probabilities",
    "explanation",
    "base_value",
    "latency_ms",
    "fallback",
    "error",
    "created_at",
)


def log_insert(
    table_name: str,
    rows: list[dict[str, Any]],
    *,
    ignore_conflicts: bool = False,
    extra_columns: tuple[str, ...] = (),
) -> None:
    """INSERT log rows (as `_row_fields` makes them) in as few statements as the database
    takes, without building model instances: the ORM's per-row machinery cost more CPU than
    the statement itself (bench/serving). Each value is adapted by its model field's own
    get_db_prep_save, as the ORM would (jsonb on PostgreSQL, text on SQLite)."""
    model = tables.inference_log_model(table_name)
    # extra_columns: e.g. batch_id (inference/batch.py); live rows leave it to its default.
    fields = [model._meta.get_field(name) for name in _LOG_COLUMNS + extra_columns]
    quote = connection.ops.quote_name
    head = (
        f"INSERT INTO {quote(model._meta.db_table)} "
        f"({', '.join(quote(f.column) for f in fields)}) VALUES "
    )
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    tail = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    size = max(1, connection.ops.bulk_batch_size(fields, rows))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            # .get: a column added since a caller built its rows (probabilities) is NULL.
            params = [
                f.get_db_prep_save(row.get(f.name), connection) for row in chunk for f in fields
            ]
            cursor.execute(head + ", ".join([row_sql] * len(chunk)) + tail, params)


def _savepoint_if_nested() -> AbstractContextManager:
    # In autocommit (every web request) the INSERT is its own transaction, one round trip;
    # inside an outer transaction (a caller's atomic block, tests) a savepoint keeps a failed
    # INSERT from breaking it.
    if transaction.get_connection().in_atomic_block:
        return transaction.atomic()
    return nullcontext()


def _answer(table: RoutingTable, item: _Pending) -> dict[str, Any]:
    row = item.row
    assert row is not None  # set by _insert, which every answered item went through
    answer = _answer_from_row(table, row)
    if item.explanation is not None and item.explanation.note:
        answer["explanation_note"] = item.explanation.note
    elif row["explanation"] is None and item.request.explain and item.notes:
        answer["explanation_note"] = " ".join(item.notes)
    return answer


def _answer_from_row(table: RoutingTable, row: dict[str, Any]) -> dict[str, Any]:
    version_id = row["model_version_id"]
    try:
        version = _version(version_id)
        model = {"name": version.model.name, "version": version.version, "id": version_id}
    except ModelVersion.DoesNotExist:
        model = {"name": "", "version": "", "id": version_id}
    return {
        "request_id": str(row["request_id"]),
        "group": table.slug,
        "model": model,
        "role": row["role"],
        "prediction": row["prediction"],
        "score": row["score"],
        "explanation": row["explanation"],
        "base_value": row["base_value"],
        "latency_ms": row["latency_ms"],
    }


_ANSWER_COLUMNS = (
    "request_id",
    "model_version_id",
    "role",
    "prediction",
    "score",
    "explanation",
    "base_value",
    "latency_ms",
)


def _logged_answers(
    table: RoutingTable, instances: Sequence[PredictRequest], *, batch: bool
) -> dict[uuid.UUID, dict[str, Any]]:
    """Answers already logged for the client-supplied request ids (safe retries). A
    request_id logged with other inputs is not a retry: 409, naming it."""
    wanted = {r.request_id: i for i, r in enumerate(instances) if r.request_id is not None}
    if not wanted:
        return {}
    model = tables.inference_log_model(table.table_name)
    rows = model.objects.filter(request_id__in=list(wanted)).values("inputs", *_ANSWER_COLUMNS)
    answers = {}
    for row in rows:
        index = wanted[row["request_id"]]
        if row.pop("inputs") != instances[index].inputs:
            field = f"instances[{index}].request_id" if batch else "request_id"
            message = (
                f"The request_id {row['request_id']} was already used with other inputs: "
                "send a new request_id for a new prediction."
            )
            raise RequestIdReused(message, {field: [message]})
        answers[row["request_id"]] = _answer_from_row(table, row)
    return answers


# --- shadows -------------------------------------------------------------------------------


def shadow_request_id(request_id: uuid.UUID, version_id: int) -> uuid.UUID:
    """The log id of a shadow's prediction for a request: derived, so a retry never logs a
    shadow twice and feedback can find the shadows' rows of a request."""
    return uuid.uuid5(request_id, f"shadow:{version_id}")


def _serve_shadows(table: RoutingTable, served: list[_Pending]) -> None:
    shadows = [m for m in table.members if m.role == SHADOW]
    if not shadows or not served:
        return
    for shadow in shadows:
        try:
            started = time.perf_counter()
            items = [
                _Pending(
                    index=item.index,
                    request=item.request,
                    request_id=shadow_request_id(item.request_id, shadow.version_id),
                    member=shadow,
                )
                for item in served
            ]
            _predict_as(shadow.version_id, SHADOW, items)
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            now = timezone.now()
            for item in items:
                item.latency_ms = elapsed_ms / len(items)
            with _savepoint_if_nested():
                log_insert(
                    table.table_name,
                    [_row_fields(table, item, now) for item in items],
                    ignore_conflicts=True,
                )
                _backdated_written(table, items)
        except Exception:
            # A shadow never fails the request it shadows.
            logger.exception("Shadow %s of %s failed", _label(shadow.version_id), table.slug)
