"""The answers: built from the log rows as committed, in the instances' order; and the
answers already logged for client-supplied request ids (safe retries)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from groups.selectors import RoutingTable
from inference import tables
from inference.serving.errors import RequestIdReused
from inference.serving.jobs import Pending, PredictRequest
from inference.serving.versions import cached_version
from registry.models import ModelVersion


def answer_for(table: RoutingTable, item: Pending) -> dict[str, Any]:
    row = item.row
    assert row is not None  # set by commit_jobs, which every answered item went through
    answer = answer_from_row(table, row)
    if item.explanation is not None and item.explanation.note:
        answer["explanation_note"] = item.explanation.note
    elif row["explanation"] is None and item.request.explain and item.notes:
        answer["explanation_note"] = " ".join(item.notes)
    return answer


def answer_from_row(table: RoutingTable, row: dict[str, Any]) -> dict[str, Any]:
    version_id = row["model_version_id"]
    try:
        version = cached_version(version_id)
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


def logged_answers(
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
        answers[row["request_id"]] = answer_from_row(table, row)
    return answers


def answers_in_order(
    table: RoutingTable,
    instances: Sequence[PredictRequest],
    served: list[Pending],
    logged: dict[uuid.UUID, dict],
) -> list[dict[str, Any]]:
    by_index = {item.index: item for item in served}
    return [
        answer_for(table, by_index[index])
        if index in by_index
        # logged before, or by a concurrent retry while we predicted
        else logged[request.request_id]  # type: ignore[index]
        for index, request in enumerate(instances)
    ]
