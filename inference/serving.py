"""Serving predictions for a group: the hot path behind POST /api/v1/groups/<slug>/predict.

    routing table (cached per process; one cache round trip checks its generation)
    -> validate the inputs with the group's compiled validator (400 names every problem)
    -> route each instance (weighted, or by the stable hash of its routing key)
    -> hand the routed instances to the process's writer (inference/group_commit.py),
       which, for every request gathered while it was busy:
         predict + SHAP, one call per model version (micro-batched across requests)
         -> ONE multi-row INSERT and one commit for the whole batch
         -> wakes each request, which answers only now: no 200 without a committed row
         -> shadows: predicted after the wake-up, their rows join the next batch
    -> a batch whose commit fails fails exactly its requests: 503 JSON

On SQLite, inside a caller's transaction (tests, the demo) and for backdated rows, a
request does the same steps itself and commits its own rows (`HUB_GROUP_COMMIT` off too).

Only the INSERT touches the database on the common path. Two exceptions, both off it:
a client-supplied `request_id` is looked up first (one indexed SELECT) so a retry returns
the logged answer without predicting or logging again; and the first request for a
version reads that version's row once per process. A client-supplied id is logged once
even under a concurrent retry: on PostgreSQL the commit takes a transaction-scoped
advisory lock per such id and skips the ids logged meanwhile (a partitioned table's unique
constraints must include the month, so `request_id` alone cannot be one); those requests
answer with the logged row.

`latency_ms` is the time from the request's arrival in the service to its prediction and
explanation (its wait for a batch included): the INSERT writes it, so it cannot include
itself, nor the HTTP exchange.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import orjson
from django.conf import settings
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    models,
    transaction,
)
from django.utils import timezone
from psycopg.types.json import Jsonb

from core.errors import ServiceError
from core.permissions import require
from core.roles import PREDICT_PERM
from groups.routing import CHAMPION, SHADOW, NoRoute, RouteMember, choose, routing_key_errors
from groups.selectors import RoutingTable, routing_table
from inference import explain, partitions, tables
from inference.access import GroupRef, slug_in_scope
from inference.group_commit import GroupCommitWriter
from inference.inputs import input_errors, type_error
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
# How long a request waits for its batch before it answers 503 (the writer is stuck).
GROUP_COMMIT_TIMEOUT_SECONDS = 30.0


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


def _database_error(exc: BaseException) -> DatabaseUnavailable:
    if isinstance(exc, OperationalError | InterfaceError):
        message = "The database is unreachable: try again shortly."
    else:
        message = "The prediction could not be logged: try again shortly."
    return DatabaseUnavailable(message, {"database": [message]})


@contextmanager
def database_reachable() -> Iterator[None]:
    """A database that cannot be reached is a 503 JSON error, never an HTML page or a 500."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        logger.error("The database is unreachable: %s", exc)
        raise _database_error(exc) from exc


# --- requests and answers ----------------------------------------------------------------


@dataclass(frozen=True)
class PredictRequest:
    """One instance to predict. `logged_at` backdates the log row (demo replay only)."""

    inputs: dict[str, Any]
    routing_key: str = ""
    request_id: uuid.UUID | None = None
    explain: bool = True
    logged_at: datetime | None = None


@dataclass(eq=False)
class _Pending:
    """One instance on its way through the pipeline."""

    index: int
    request: PredictRequest
    request_id: uuid.UUID
    member: RouteMember
    job: _Job | None = None
    version_id: int = 0
    role: str = ""
    prediction: Prediction | None = None
    explanation: explain.Explanation | None = None
    fallback: bool = False
    error: str = ""
    latency_ms: float = 0.0
    row: dict[str, Any] | None = None  # the log row, as inserted and answered
    notes: list[str] = field(default_factory=list)


@dataclass(eq=False)
class _Job:
    """One request's routed instances, handed to the writer (or run by the request)."""

    table: RoutingTable
    champion: RouteMember
    items: list[_Pending]
    started: float
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    submitted: bool = False
    # Client-supplied ids another request logged first: answered from the log.
    taken: set[uuid.UUID] = field(default_factory=set)

    @property
    def size(self) -> int:
        return len(self.items)

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error

    def served(self) -> list[_Pending]:
        return [item for item in self.items if item.request_id not in self.taken]


# --- per-process caches ------------------------------------------------------------------

_versions: dict[int, ModelVersion] = {}
_failures: dict[int, tuple[float, str]] = {}
_validators: dict[str, tuple[RoutingTable, int, Callable[..., dict]]] = {}
_lock = threading.Lock()
_writer: list[GroupCommitWriter] = []


def serving_cache_clear() -> None:
    """Forget every cached version, predictor, explainer and validator of this process (tests)."""
    from core.throttling import throttle_counts_clear
    from registry.predictors import predictor_cache_clear

    with _lock:
        _versions.clear()
        _failures.clear()
        _validators.clear()
    predictor_cache_clear()
    explain.explainer_cache_clear()
    throttle_counts_clear()


def group_commit_reset() -> None:
    """Stop this process's writer; the next request starts one with the current settings."""
    with _lock:
        writers = list(_writer)
        _writer.clear()
    for writer in writers:
        writer.stop()


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


def _accepts(spec: dict) -> Callable[[Any], bool]:
    """A quick yes for a value `inputs.type_error` accepts (a no is explained by it)."""
    kind = spec.get("type", "numeric")
    if kind == "numeric":
        return lambda v: type(v) in (int, float) and math.isfinite(v)
    if kind == "boolean":
        return lambda v: type(v) is bool
    if kind == "text":
        return lambda v: isinstance(v, str)
    return lambda v: type_error(v, spec) is None


def _compile_validator(features: dict[str, dict]) -> Callable[..., dict]:
    """The group's input check, built once per routing generation: a fast path for valid
    inputs, and `inputs.input_errors` (every problem, by field) for the rest."""
    checks = [(name, _accepts(spec)) for name, spec in features.items()]
    names = frozenset(features)

    def errors(inputs: Any, prefix: str) -> dict[str, list[str]]:
        if (
            type(inputs) is dict
            and inputs.keys() == names
            and all(check(inputs[name]) for name, check in checks)
        ):
            return {}
        return input_errors(inputs, features, prefix=prefix)

    return errors


def _validator(table: RoutingTable, champion: RouteMember) -> Callable[..., dict]:
    held = _validators.get(table.slug)
    # A new routing generation is a new RoutingTable object: the check is built again.
    if held is not None and held[0] is table and held[1] == champion.version_id:
        return held[2]
    validator = _compile_validator(_feature_types(table, champion))
    _validators[table.slug] = (table, champion.version_id, validator)
    return validator


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
    """Predict many instances (each routed on its own), log them, and return the answers
    in order. Any invalid instance refuses the whole batch (400).
    `routing_generation`: as read by the caller in this request (groups.selectors).
    `user`: the caller (an API key's principal), checked for the predict permission on
    the group; None for the hub's own calls (the demo)."""
    started = time.perf_counter()
    writer = _group_commit() if _group_commit_on() else None
    if writer is not None:
        writer.arrive()  # the writer may wait a moment for this request's row
    job: _Job | None = None
    try:
        with database_reachable():
            table = _serving_table(slug, routing_generation, user)
            job = _Job(table, _champion(table), [], started)
            return _predict_batch(job, instances, batch, writer)
    finally:
        if writer is not None and (job is None or not job.submitted):
            writer.leave()


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
    job: _Job,
    instances: Sequence[PredictRequest],
    batch: bool,
    writer: GroupCommitWriter | None,
) -> list[dict[str, Any]]:
    table = job.table
    _validate(instances, _validator(table, job.champion), batch=batch, mode=table.routing_mode)
    _check_batch_size(table, instances, batch=batch)

    logged = _logged_answers(table, instances, batch=batch)
    job.items = _pending(table, instances, logged)
    if job.items:
        _run(job, writer)
        if job.taken:
            # Logged by a concurrent retry while we predicted: answer with that row.
            retried = [item.request for item in job.items if item.request_id in job.taken]
            logged.update(_logged_answers(table, retried, batch=batch))
    return _answers(table, instances, job.served(), logged)


def _run(job: _Job, writer: GroupCommitWriter | None) -> None:
    """Through the process's writer (group commit), or here (see the module doc)."""
    if writer is not None and not any(item.request.logged_at for item in job.items):
        job.submitted = True
        if not writer.submit(job, timeout=GROUP_COMMIT_TIMEOUT_SECONDS):
            message = "The prediction was not logged in time: try again shortly."
            job.fail(DatabaseUnavailable(message, {"database": [message]}))
    else:
        _run_here(job)
    if job.error is not None:
        raise job.error


def _group_commit_on() -> bool:
    return (
        settings.HUB_GROUP_COMMIT
        and connection.vendor == "postgresql"
        # A caller's open transaction (tests, the demo) must see its rows: not another
        # connection's.
        and not connection.in_atomic_block
    )


def _group_commit() -> GroupCommitWriter:
    if not _writer:
        with _lock:
            if not _writer:
                _writer.append(
                    GroupCommitWriter(
                        commit=_commit_in_writer,
                        after=_shadow_rows,
                        window_seconds=settings.HUB_GROUP_COMMIT_WINDOW_MS / 1000.0,
                        max_rows=settings.HUB_GROUP_COMMIT_MAX_ROWS,
                    )
                )
    return _writer[0]


def _run_here(job: _Job) -> None:
    backdated = [item.request.logged_at for item in job.items if item.request.logged_at]
    if backdated:
        partitions.partitions_cover(job.table.table_name, backdated)
    committed = _commit_jobs([job], [])
    if job.error is not None:
        return
    _backdated_written(job.table, job.served())
    carry = _shadow_rows(committed)
    if carry:
        _commit_jobs([], carry)


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
    instances: Sequence[PredictRequest],
    validator: Callable[..., dict],
    *,
    batch: bool,
    mode: str,
) -> None:
    errors: dict[str, list[str]] = {}
    seen: dict[uuid.UUID, int] = {}
    for index, request in enumerate(instances):
        prefix = f"instances[{index}]." if batch else ""
        errors.update(validator(request.inputs, f"{prefix}inputs"))
        for name, messages in routing_key_errors(
            routing_mode=mode, routing_key=request.routing_key
        ).items():
            errors[f"{prefix}{name}"] = messages
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
        return choose(table.members, routing_key=routing_key or None)
    except NoRoute as exc:
        raise NoChampion(str(exc), {"group": [str(exc)]}) from exc


# --- predicting a batch of jobs ------------------------------------------------------------


def _by_version(items: list[_Pending], version_of: Callable[[_Pending], int]) -> dict:
    groups: dict[int, list[_Pending]] = {}
    for item in items:
        groups.setdefault(version_of(item), []).append(item)
    return groups


def _predict_jobs(jobs: list[_Job]) -> None:
    """Predict (and explain) every job's routed instances: one call per model version for
    all the jobs together. Instances whose routed member cannot serve fall back to their
    group's champion; a champion that cannot serve fails its job (only)."""
    items = [item for job in jobs for item in job.items]
    for job in jobs:
        for item in job.items:
            item.job = job
    fallbacks: list[_Pending] = []
    for version_id, group in _by_version(items, lambda i: i.member.version_id).items():
        for item, exc in _predict_group(version_id, group):
            job = item.job
            assert job is not None
            if version_id == job.champion.version_id:
                job.fail(_champion_failure(version_id, exc))
                continue
            label = _label(version_id)
            item.fallback = True
            item.error = f"{label} ({item.member.role}) could not serve: {exc}"
            fallbacks.append(item)
    if fallbacks:
        _fall_back(fallbacks)


def _fall_back(items: list[_Pending]) -> None:
    for version_id, group in _by_version(items, lambda i: i.job.champion.version_id).items():
        for item, exc in _predict_group(version_id, group, role=CHAMPION):
            item.job.fail(_champion_failure(version_id, exc))


def _predict_group(
    version_id: int, items: list[_Pending], role: str | None = None
) -> list[tuple[_Pending, Exception]]:
    """Predict the items routed to one version in one call; the items that failed. When
    several requests share the call and it fails, each is tried alone, so one request's
    bad row never fails another's."""
    try:
        _predict_as(version_id, items, role)
        return []
    except Exception as exc:
        jobs: dict[int, list[_Pending]] = {}
        for item in items:
            jobs.setdefault(id(item.job), []).append(item)
        if len(jobs) == 1:
            if role is None and version_id != items[0].job.champion.version_id:
                logger.warning(
                    "%s could not serve %s; falling back to the champion: %s",
                    _label(version_id),
                    items[0].job.table.slug,
                    exc,
                )
            return [(item, exc) for item in items]
        return [failed for own in jobs.values() for failed in _predict_group(version_id, own, role)]


def _champion_failure(version_id: int, exc: Exception) -> ServingError:
    if isinstance(exc, PredictionInputError):
        return InvalidInputs(f"Invalid input: {exc}", {"inputs": [str(exc)]})
    if isinstance(exc, PredictorUnavailable):
        message = f"{_label(version_id)} cannot be loaded: {exc}"
    else:
        logger.error("The champion %s failed", version_id, exc_info=exc)
        message = f"{_label(version_id)} failed to predict: {type(exc).__name__}."
    return ModelUnavailable(message, {"model": [message]})


def _predict_as(version_id: int, items: list[_Pending], role: str | None = None) -> None:
    """One predict (and one SHAP) call for all the items: answers equal to one call each."""
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
        item.role = role or item.member.role
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


# --- committing a batch ----------------------------------------------------------------------


@dataclass
class _TableRows:
    rows: list[dict[str, Any]] = field(default_factory=list)
    claimed: list[uuid.UUID] = field(default_factory=list)  # ids that may be logged already


def _commit_in_writer(jobs: list[_Job], carry: list[tuple[str, dict]]) -> list[_Job]:
    committed = _commit_jobs(jobs, carry)
    if any(job.error is not None and isinstance(job.error, DatabaseUnavailable) for job in jobs):
        connection.close()  # a broken connection is opened again by the next batch
    return committed


def _commit_jobs(jobs: list[_Job], carry: list[tuple[str, dict]]) -> list[_Job]:
    """Predict the jobs, then log their rows and the carried (shadow) rows in one
    transaction. Returns the jobs committed; the others have their error set."""
    _predict_jobs(jobs)
    predicted = time.perf_counter()
    ready = [job for job in jobs if job.error is None]
    if not ready and not carry:
        return []
    by_table = _rows_by_table(ready, predicted)
    for table_name, row in carry:
        by_table.setdefault(table_name, _TableRows()).rows.append(row)
    try:
        taken = _commit_rows(by_table)
    except DatabaseError as exc:
        logger.error("Logging %d request(s) failed: %s", len(ready), exc)
        for job in ready:
            job.fail(_database_error(exc))
        return []
    for job in ready:
        job.taken |= {item.request_id for item in job.items} & taken
    return ready


def _rows_by_table(ready: list[_Job], predicted: float) -> dict[str, _TableRows]:
    """The jobs' rows per table. A client-supplied id sent by two requests of one batch (a
    retry racing the first attempt) is logged once: the later request answers from it."""
    now = timezone.now()
    by_table: dict[str, _TableRows] = {}
    claimed: set[tuple[str, uuid.UUID]] = set()
    for job in ready:
        share = (predicted - job.started) * 1000.0 / max(len(job.items), 1)
        into = by_table.setdefault(job.table.table_name, _TableRows())
        for item in job.items:
            # A batch shares its work: each row carries its share of the time.
            item.latency_ms = share
            item.row = _row_fields(job.table, item, now)
            if item.request.request_id is not None:
                key = (job.table.table_name, item.request_id)
                if key in claimed:
                    job.taken.add(item.request_id)
                    continue
                claimed.add(key)
                into.claimed.append(item.request_id)
            into.rows.append(item.row)
    return by_table


def _commit_rows(by_table: dict[str, _TableRows]) -> set[uuid.UUID]:
    """One INSERT per table, all in one transaction (a lone INSERT in autocommit is its
    own). The client-supplied ids already logged are skipped and returned."""
    several = len(by_table) > 1 or any(rows.claimed for rows in by_table.values())
    for attempt in range(2):
        taken: set[uuid.UUID] = set()
        try:
            with transaction.atomic() if several else _savepoint_if_nested():
                for table_name, rows in by_table.items():
                    taken |= log_insert(table_name, rows.rows, claimed=rows.claimed)
            return taken
        except IntegrityError:
            # SQLite takes no lock per id: a concurrent retry's row may have won the race
            # the unique index decides. Once more: the check now finds it.
            if attempt or connection.vendor == "postgresql":
                raise
    raise AssertionError("unreachable")


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


def _lock_key(table_name: str, request_id: uuid.UUID) -> int:
    value = int.from_bytes(request_id.bytes[:8], "big", signed=True)
    return value ^ int.from_bytes(table_name.encode()[-8:].rjust(8, b"\0"), "big", signed=True)


def _already_logged(table_name: str, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these ids the table holds. On PostgreSQL first a transaction-scoped lock
    per id: a concurrent writer of the same id waits for this transaction, and this one
    sees its committed row (one statement later, in a new snapshot)."""
    if not ids:
        return set()
    if connection.vendor == "postgresql":
        keys = sorted({_lock_key(table_name, i) for i in ids})
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k", [keys]
            )
    model = tables.inference_log_model(table_name)
    return set(model.all_rows.filter(request_id__in=ids).values_list("request_id", flat=True))


def log_insert(
    table_name: str,
    rows: list[dict[str, Any]],
    *,
    ignore_conflicts: bool = False,
    extra_columns: tuple[str, ...] = (),
    claimed: Sequence[uuid.UUID] = (),
) -> set[uuid.UUID]:
    """INSERT log rows (as `_row_fields` makes them) in as few statements as the database
    takes, without building model instances: the ORM's per-row machinery cost more CPU than
    the statement itself (bench/serving). Each value is adapted by its model field's own
    get_db_prep_save, as the ORM would (jsonb on PostgreSQL, text on SQLite).

    Rows whose request_id the table already holds are skipped, and their ids returned:
    every row's with `ignore_conflicts` (batch jobs, whose redone chunks repeat ids), the
    `claimed` ids otherwise (client-supplied). Call it in a transaction for those."""
    check = [row["request_id"] for row in rows] if ignore_conflicts else list(claimed)
    taken = _already_logged(table_name, check)
    if taken:
        rows = [row for row in rows if row["request_id"] not in taken]
    if rows:
        _insert_rows(table_name, rows, extra_columns)
    return taken


_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _numpy_scalar(value: Any) -> Any:
    if hasattr(value, "item"):  # a numpy scalar, which orjson takes only in arrays
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _orjson_dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_numpy_scalar, option=_ORJSON_OPTIONS)


def _jsonb(value: Any) -> Jsonb | None:
    # As JSONField.get_db_prep_save on PostgreSQL (None is SQL NULL), dumped by orjson.
    return None if value is None else Jsonb(value, dumps=_orjson_dumps)


def _adapters(fields: list[models.Field]) -> list[Callable[[Any], Any]]:
    """Each field's value -> database parameter, as its get_db_prep_save."""
    postgres = connection.vendor == "postgresql"
    return [
        _jsonb
        if postgres and isinstance(f, models.JSONField)
        else partial(f.get_db_prep_save, connection=connection)
        for f in fields
    ]


def _insert_rows(table_name: str, rows: list[dict[str, Any]], extra_columns: tuple) -> None:
    model = tables.inference_log_model(table_name)
    # extra_columns: e.g. batch_id (inference/batch.py); live rows leave it to its default.
    fields = [model._meta.get_field(name) for name in _LOG_COLUMNS + extra_columns]
    adapters = list(zip([f.name for f in fields], _adapters(fields), strict=True))
    quote = connection.ops.quote_name
    head = (
        f"INSERT INTO {quote(model._meta.db_table)} "
        f"({', '.join(quote(f.column) for f in fields)}) VALUES "
    )
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    size = max(1, connection.ops.bulk_batch_size(fields, rows))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            # .get: a column added since a caller built its rows (probabilities) is NULL.
            params = [adapt(row.get(name)) for row in chunk for name, adapt in adapters]
            cursor.execute(head + ", ".join([row_sql] * len(chunk)), params)


def _savepoint_if_nested() -> AbstractContextManager:
    # In autocommit (every web request) the INSERT is its own transaction, one round trip;
    # inside an outer transaction (a caller's atomic block, tests) a savepoint keeps a failed
    # INSERT from breaking it.
    if transaction.get_connection().in_atomic_block:
        return transaction.atomic()
    return nullcontext()


def _answer(table: RoutingTable, item: _Pending) -> dict[str, Any]:
    row = item.row
    assert row is not None  # set by _commit_jobs, which every answered item went through
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
            field_name = f"instances[{index}].request_id" if batch else "request_id"
            message = (
                f"The request_id {row['request_id']} was already used with other inputs: "
                "send a new request_id for a new prediction."
            )
            raise RequestIdReused(message, {field_name: [message]})
        answers[row["request_id"]] = _answer_from_row(table, row)
    return answers


# --- shadows -------------------------------------------------------------------------------


def shadow_request_id(request_id: uuid.UUID, version_id: int) -> uuid.UUID:
    """The log id of a shadow's prediction for a request: derived, so a retry never logs a
    shadow twice and feedback can find the shadows' rows of a request."""
    return uuid.uuid5(request_id, f"shadow:{version_id}")


def _shadow_items(jobs: list[_Job]) -> list[_Pending]:
    items = []
    for job in jobs:
        served = job.served()
        for shadow in (m for m in job.table.members if m.role == SHADOW):
            items.extend(
                _Pending(
                    index=item.index,
                    request=item.request,
                    request_id=shadow_request_id(item.request_id, shadow.version_id),
                    member=shadow,
                    job=job,
                )
                for item in served
            )
    return items


def _shadow_rows(jobs: list[_Job]) -> list[tuple[str, dict[str, Any]]]:
    """The shadows' rows for the requests just answered (one predict call per shadow
    version): logged with the next batch. A shadow never fails the request it shadows."""
    rows: list[tuple[str, dict[str, Any]]] = []
    for version_id, items in _by_version(
        _shadow_items(jobs), lambda i: i.member.version_id
    ).items():
        started = time.perf_counter()
        try:
            _predict_as(version_id, items, SHADOW)
        except Exception:
            logger.exception("Shadow %s failed", _label(version_id))
            continue
        share = (time.perf_counter() - started) * 1000.0 / len(items)
        now = timezone.now()
        for item in items:
            item.latency_ms = share
            rows.append((item.job.table.table_name, _row_fields(item.job.table, item, now)))
    return rows
