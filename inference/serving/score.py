"""Scoring: predict and explain (SHAP) the routed instances of every job in a batch, one
call per model version (micro-batched across requests, answers equal to one call each),
with fallback to the champion; then the shadows, on the same instances."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from groups.routing import CHAMPION, SHADOW
from inference import explain
from inference.serving.errors import InvalidInputs, ModelUnavailable, ServingError
from inference.serving.jobs import Job, Pending
from inference.serving.versions import version_label, version_predictor
from registry.predictors import PredictionInputError, PredictorUnavailable

logger = logging.getLogger(__name__)


def by_version(items: list[Pending], version_of: Callable[[Pending], int]) -> dict:
    groups: dict[int, list[Pending]] = {}
    for item in items:
        groups.setdefault(version_of(item), []).append(item)
    return groups


def predict_jobs(jobs: list[Job]) -> None:
    """Predict (and explain) every job's routed instances: one call per model version for
    all the jobs together. Instances whose routed member cannot serve fall back to their
    group's champion; a champion that cannot serve fails its job (only)."""
    items = [item for job in jobs for item in job.items]
    for job in jobs:
        for item in job.items:
            item.job = job
    fallbacks: list[Pending] = []
    for version_id, group in by_version(items, lambda i: i.member.version_id).items():
        for item, exc in _predict_group(version_id, group):
            job = item.job
            assert job is not None
            if version_id == job.champion.version_id:
                job.fail(_champion_failure(version_id, exc))
                continue
            label = version_label(version_id)
            item.fallback = True
            item.error = f"{label} ({item.member.role}) could not serve: {exc}"
            fallbacks.append(item)
    if fallbacks:
        _fall_back(fallbacks)


def _fall_back(items: list[Pending]) -> None:
    for version_id, group in by_version(items, lambda i: i.job.champion.version_id).items():
        for item, exc in _predict_group(version_id, group, role=CHAMPION):
            item.job.fail(_champion_failure(version_id, exc))


def _predict_group(
    version_id: int, items: list[Pending], role: str | None = None
) -> list[tuple[Pending, Exception]]:
    """Predict the items routed to one version in one call; the items that failed. When
    several requests share the call and it fails, each is tried alone, so one request's
    bad row never fails another's."""
    try:
        predict_as(version_id, items, role)
        return []
    except Exception as exc:
        jobs: dict[int, list[Pending]] = {}
        for item in items:
            jobs.setdefault(id(item.job), []).append(item)
        if len(jobs) == 1:
            if role is None and version_id != items[0].job.champion.version_id:
                logger.warning(
                    "%s could not serve %s; falling back to the champion: %s",
                    version_label(version_id),
                    items[0].job.table.slug,
                    exc,
                )
            return [(item, exc) for item in items]
        return [failed for own in jobs.values() for failed in _predict_group(version_id, own, role)]


def _champion_failure(version_id: int, exc: Exception) -> ServingError:
    if isinstance(exc, PredictionInputError):
        return InvalidInputs(f"Invalid input: {exc}", {"inputs": [str(exc)]})
    if isinstance(exc, PredictorUnavailable):
        message = f"{version_label(version_id)} cannot be loaded: {exc}"
    else:
        logger.error("The champion %s failed", version_id, exc_info=exc)
        message = f"{version_label(version_id)} failed to predict: {type(exc).__name__}."
    return ModelUnavailable(message, {"model": [message]})


def predict_as(version_id: int, items: list[Pending], role: str | None = None) -> None:
    """One predict (and one SHAP) call for all the items: answers equal to one call each."""
    version, predictor = version_predictor(version_id)
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


def shadow_request_id(request_id: uuid.UUID, version_id: int) -> uuid.UUID:
    """The log id of a shadow's prediction for a request: derived, so a retry never logs a
    shadow twice and feedback can find the shadows' rows of a request."""
    return uuid.uuid5(request_id, f"shadow:{version_id}")


def predict_shadows(jobs: list[Job]) -> list[Pending]:
    """The shadows' predictions of the jobs' instances (one predict call per shadow
    version), made before the batch is committed so their rows join it. A shadow never
    fails the request it shadows: one that cannot predict logs nothing."""
    wanted = [
        Pending(
            index=item.index,
            request=item.request,
            request_id=shadow_request_id(item.request_id, shadow.version_id),
            member=shadow,
            job=job,
            shadow_of=item.request_id,
        )
        for job in jobs
        for shadow in job.table.members
        if shadow.role == SHADOW
        for item in job.items
    ]
    predicted: list[Pending] = []
    for version_id, items in by_version(wanted, lambda i: i.member.version_id).items():
        started = time.perf_counter()
        try:
            predict_as(version_id, items, SHADOW)
        except Exception:
            logger.exception("Shadow %s failed", version_label(version_id))
            continue
        share = (time.perf_counter() - started) * 1000.0 / len(items)
        for item in items:
            item.latency_ms = share
        predicted.extend(items)
    return predicted
