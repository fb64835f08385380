"""Following provider (OpenAI) fine-tuning jobs: status and events mirrored by a beat task,
the fine-tuned model registered as an external version when it succeeds."""

import logging
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from registry.models import Flavor, ModelVersion
from training import trainers
from training.models import BaseKind, EventLevel, FineTuneJob, JobEvent, JobStatus
from training.services.common import EXTERNAL_PROGRESS, event_add, version_register_next
from training.services.running import job_fail
from training.trainers.base import ExternalState, TrainingFailure, TransientTrainingError

logger = logging.getLogger(__name__)


def jobs_poll_external() -> int:
    """Poll every running provider job once; returns how many were polled."""
    ids = list(
        FineTuneJob.objects.filter(status=JobStatus.RUNNING, base_kind=BaseKind.EXTERNAL)
        .exclude(external_job_id="")
        .values_list("pk", flat=True)
    )
    for job_id in ids:
        try:
            job_poll_external(job_id=job_id)
        except TransientTrainingError as exc:
            # The next beat tries again; the job stays running meanwhile.
            logger.warning("polling job %s failed: %s", job_id, exc)
    return len(ids)


def _timestamp(value: float | None) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC) if value else timezone.now()


def _external_progress(state: ExternalState) -> int:
    if state.status == "running":
        steps = [
            e.metrics for e in state.events if "step" in e.metrics and e.metrics.get("total_steps")
        ]
        if steps:
            return 30 + round(60 * min(1.0, steps[-1]["step"] / steps[-1]["total_steps"]))
    return EXTERNAL_PROGRESS.get(state.status, 10)


EVENT_LEVELS = {
    "warn": EventLevel.WARNING,
    "warning": EventLevel.WARNING,
    "error": EventLevel.ERROR,
}


def job_poll_external(*, job_id: int) -> FineTuneJob:
    """Mirror a provider job's status and events; register its model when it succeeds."""
    job = FineTuneJob.objects.select_related(
        "base_version__provider", "base_version__model", "model", "snapshot"
    ).get(pk=job_id)
    if job.status != JobStatus.RUNNING or not job.external_job_id:
        return job
    try:
        state = trainers.trainer_for(job.base_kind).poll(job)
    except TrainingFailure as exc:
        # Not an outage (those are retried at the next beat): the provider refuses to say.
        job_fail(
            job_id=job_id,
            reason=f"The provider job {job.external_job_id} cannot be followed: {exc}",
        )
        job.refresh_from_db()
        return job
    try:
        _state_record(job_id, state)
    except TrainingFailure as exc:
        job_fail(job_id=job_id, reason=str(exc))
    job.refresh_from_db()
    return job


@transaction.atomic
def _state_record(job_id: int, state: ExternalState) -> None:
    locked = FineTuneJob.objects.select_for_update().get(pk=job_id)
    if locked.status != JobStatus.RUNNING:
        return
    _events_mirror(locked, state)
    now = timezone.now()
    updates: dict[str, Any] = {
        "external_status": state.status,
        "stage": f"Provider: {state.status}",
        "heartbeat_at": now,
        "progress": max(locked.progress, _external_progress(state)),
    }
    if state.status == "succeeded":
        version = _register_external(locked, state)
        updates |= {
            "status": JobStatus.SUCCEEDED,
            "progress": 100,
            "stage": "Done",
            "result_version": version,
            "finished_at": now,
        }
        FineTuneJob.objects.filter(pk=job_id).update(**updates)
        event_add(
            locked,
            f"Registered {version} (staging) for {state.fine_tuned_model}.",
            stage="Done",
            metrics={"version_id": version.pk},
        )
        return
    updates |= _end_updates(state, now)
    FineTuneJob.objects.filter(pk=job_id).update(**updates)


def _end_updates(state: ExternalState, now: datetime) -> dict[str, Any]:
    if state.status == "failed":
        return {
            "status": JobStatus.FAILED,
            "error": f"The provider failed the job: {state.error or 'no reason given'}",
            "stage": "Failed",
            "finished_at": now,
        }
    if state.status == "cancelled":
        return {"status": JobStatus.CANCELLED, "stage": "Cancelled", "finished_at": now}
    return {}


def _events_mirror(job: FineTuneJob, state: ExternalState) -> None:
    seen = set(job.events.exclude(external_id="").values_list("external_id", flat=True))
    for event in state.events:
        if event.id in seen:
            continue
        JobEvent.objects.create(
            job=job,
            created_at=_timestamp(event.created_at),
            level=EVENT_LEVELS.get(event.level, EventLevel.INFO),
            stage=f"Provider: {state.status}",
            message=event.message,
            metrics=event.metrics,
            external_id=event.id,
        )


def _register_external(job: FineTuneJob, state: ExternalState) -> ModelVersion:
    base = job.base_version
    losses = [e.metrics["train_loss"] for e in state.events if "train_loss" in e.metrics]
    snapshot = job.snapshot
    metadata = {
        "name": job.model.name,
        "task": job.model.task,
        "description": f"Fine-tuned from {base} by job {job.pk}.",
        "features": base.metadata.get("features")
        or [spec | {"type": "text"} for spec in snapshot.features],
        "metrics": {"train_loss": float(losses[-1])} if losses else {},
        "training": {
            "dataset": snapshot.dataset.name,
            "rows": snapshot.row_count,
            "framework": "openai fine-tuning",
            "algorithm": "supervised fine-tuning",
            "params": job.hyperparameters,
            "trained_at": timezone.now().isoformat(),
            "target": snapshot.label_column,
            "job": job.pk,
            "base": str(base),
            "base_version": base.pk,
            "base_model": base.provider_model,
            "provider_job": job.external_job_id,
            "trained_tokens": state.trained_tokens,
            "snapshot": {"id": snapshot.pk, "sha256": snapshot.sha256, "rows": snapshot.row_count},
        },
    }
    return version_register_next(
        job=job,
        flavor=Flavor.EXTERNAL,
        metadata=metadata,
        provider=base.provider,
        provider_model=state.fine_tuned_model or "",
        prompt_template=base.prompt_template,
        response_parser=base.response_parser,
        description=metadata["description"],
    )
