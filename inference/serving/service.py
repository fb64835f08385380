"""The service: predict_one and predict_batch (see the package's docstring)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from inference import explain, refusals
from inference.group_commit import GroupCommitWriter
from inference.serving import respond
from inference.serving.commit import (
    group_commit_on,
    group_commit_reset,
    group_commit_writer,
    run_job,
)
from inference.serving.errors import database_reachable
from inference.serving.jobs import Job, PredictRequest
from inference.serving.respond import answers_in_order
from inference.serving.route import champion_of, pending_items, serving_table
from inference.serving.validate import (
    check_batch_size,
    group_validator,
    validate_instances,
    validators_clear,
)
from inference.serving.versions import versions_clear


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
    writer = group_commit_writer() if group_commit_on() else None
    if writer is not None:
        writer.arrive()  # the writer may wait a moment for this request's row
    job: Job | None = None
    try:
        with database_reachable():
            table = serving_table(slug, routing_generation, user)
            job = Job(table, champion_of(table), [], started)
            return _predict_batch(job, instances, batch, writer)
    finally:
        if writer is not None and (job is None or not job.submitted):
            writer.leave()


def _predict_batch(
    job: Job,
    instances: Sequence[PredictRequest],
    batch: bool,
    writer: GroupCommitWriter | None,
) -> list[dict[str, Any]]:
    table = job.table
    with refusals.refusals_counted(table.group_id):  # a 400 counts its refused instances
        validate_instances(
            instances, group_validator(table, job.champion), batch=batch, mode=table.routing_mode
        )
    check_batch_size(table, instances, batch=batch)

    logged = respond.logged_answers(table, instances, batch=batch)
    job.items = pending_items(table, instances, logged)
    if job.items:
        run_job(job, writer)
        if job.taken:
            # Logged by a concurrent retry while we predicted: answer with that row.
            retried = [item.request for item in job.items if item.request_id in job.taken]
            logged.update(respond.logged_answers(table, retried, batch=batch))
    return answers_in_order(table, instances, job.served(), logged)


def serving_cache_clear() -> None:
    """Forget every cached version, predictor, explainer and validator of this process, and
    stop its writer, whose connection would outlive the test (tests)."""
    from core.throttling import throttle_counts_clear
    from registry.predictors import predictor_cache_clear

    group_commit_reset()
    versions_clear()
    validators_clear()
    predictor_cache_clear()
    explain.explainer_cache_clear()
    throttle_counts_clear()
