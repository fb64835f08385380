"""Pieces every training service shares: the validation error, the event log, status
moves, queueing, and registering a new version under the next free label."""

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from core.errors import Errors, ServiceError
from registry.models import ModelVersion, VersionSource, VersionStatus
from registry.services import (
    RegistryValidationError,
    model_version_next_label,
    model_version_register,
)
from training.models import EventLevel, FineTuneJob, JobEvent, JobStatus
from training.trainers.base import TrainingFailure

logger = logging.getLogger(__name__)

# Provider job status -> progress shown while it trains.
EXTERNAL_PROGRESS = {"validating_files": 10, "queued": 20, "running": 30}
REGISTER_ATTEMPTS = 3


class TrainingValidationError(ServiceError):
    """Bad input for a job (400); `errors` maps each field to its messages. Nothing was written.

    The message is the field messages alone: pages show it as is, without field names."""

    def __init__(self, errors: Errors, *, status: int | None = None) -> None:
        super().__init__(joined_messages(errors), errors, status=status)


def joined_messages(errors: Errors) -> str:
    return " ".join(m for msgs in errors.values() for m in msgs)


def person(actor: Any) -> AbstractBaseUser | None:
    """The user row behind an actor: None for an API key's principal (not a person)."""
    return actor if isinstance(actor, get_user_model()) else None


def enqueue(job: FineTuneJob) -> None:
    """Send the job to a worker once the transaction that made it commits."""
    # Imported here: tasks import the services.
    from training.tasks import job_run

    job_id = job.pk

    def send() -> None:
        try:
            job_run.delay(job_id)
        except Exception as exc:  # the broker's errors vary by transport; the job must say why
            logger.exception("job %s could not be queued", job_id)
            reason = f"The task queue could not be reached ({type(exc).__name__}); retry the job."
            with transaction.atomic():
                if job_finish(
                    job_id,
                    status=JobStatus.FAILED,
                    error=reason,
                    stage="Failed",
                    from_statuses=(JobStatus.QUEUED,),
                ):
                    event_add(FineTuneJob.objects.get(pk=job_id), reason, level=EventLevel.ERROR)

    transaction.on_commit(send)


def event_add(
    job: FineTuneJob, message: str, *, level: str = EventLevel.INFO, stage: str = "", **fields: Any
) -> JobEvent:
    return JobEvent.objects.create(
        job=job, message=message, level=level, stage=stage or job.stage, **fields
    )


def job_finish(
    job_id: int,
    *,
    status: str,
    error: str = "",
    stage: str = "",
    from_statuses=(JobStatus.RUNNING,),
) -> bool:
    fields: dict[str, Any] = {"status": status, "finished_at": timezone.now()}
    if error:
        fields["error"] = error
    if stage:
        fields["stage"] = stage
    return bool(FineTuneJob.objects.filter(pk=job_id, status__in=from_statuses).update(**fields))


def version_register_next(
    *, job: FineTuneJob, status: str = VersionStatus.STAGING, **fields: Any
) -> ModelVersion:
    """Register under the next free label (another job may take one at the same moment)."""
    for attempt in range(REGISTER_ATTEMPTS):
        label = model_version_next_label(model=job.model)
        try:
            return model_version_register(
                model=job.model,
                version=label,
                status=status,
                parent=job.base_version
                if job.base_version and job.base_version.model_id == job.model_id
                else None,
                source=VersionSource.TRAINING,
                source_ref=str(job.pk),
                created_by=job.created_by,
                **fields,
            )
        except RegistryValidationError as exc:
            if "version" in exc.errors and attempt + 1 < REGISTER_ATTEMPTS:
                continue
            raise TrainingFailure(f"The registry refused the new version: {exc}") from exc
    raise AssertionError("unreachable")
