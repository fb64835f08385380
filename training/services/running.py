"""Running a job in the worker, cancelling it, and failing jobs whose worker died.

Every status move is a conditional UPDATE on the current status, so the worker, the beat
tasks and a user's cancel can race without a job ending in two states."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from registry.models import Flavor, VersionStatus
from training import trainers
from training.datasets import DatasetError
from training.models import EventLevel, FineTuneJob, JobEvent, JobStatus
from training.services.common import (
    EXTERNAL_PROGRESS,
    TrainingValidationError,
    event_add,
    job_finish,
    version_register_next,
)
from training.services.results import job_result_reference
from training.trainers.base import (
    ExternalSubmission,
    JobCancelled,
    JobStopped,
    LocalResult,
    RunResult,
    TrainingFailure,
    TransientTrainingError,
)

logger = logging.getLogger(__name__)


def job_cancel(*, job: FineTuneJob, actor: AbstractBaseUser | None) -> FineTuneJob:
    """Queued: cancelled at once. Running locally: stops at its next stage. On the provider:
    the provider's cancel is called first, then the job is marked cancelled.

    Not one transaction on purpose: the provider call must not hold the job's row lock.
    """
    who = getattr(actor, "username", "") or "someone"
    if not job.is_active:
        raise TrainingValidationError(
            {
                "status": [
                    f"Job {job.pk} has already {job.get_status_display().lower()}: only queued or running jobs can be cancelled."
                ]
            }
        )
    with transaction.atomic():
        if job_finish(
            job.pk, status=JobStatus.CANCELLED, stage="Cancelled", from_statuses=(JobStatus.QUEUED,)
        ):
            event_add(job, f"Cancelled by {who} before it started.", stage="Cancelled")
            job.refresh_from_db()
            return job
    job.refresh_from_db()
    if job.is_external and job.external_job_id:
        try:
            trainers.trainer_for(job.base_kind).cancel(job)
        except TrainingFailure as exc:
            raise TrainingValidationError({"status": [str(exc)]}) from exc
        with transaction.atomic():
            if job_finish(job.pk, status=JobStatus.CANCELLED, stage="Cancelled"):
                event_add(
                    job,
                    f"Cancelled by {who}; the provider job {job.external_job_id} was cancelled.",
                    stage="Cancelled",
                )
        job.refresh_from_db()
        return job
    with transaction.atomic():
        if FineTuneJob.objects.filter(
            pk=job.pk, status=JobStatus.RUNNING, cancel_requested_at=None
        ).update(cancel_requested_at=timezone.now(), stage="Cancelling at the next stage"):
            event_add(
                job,
                f"Cancel requested by {who}: the job stops at its next stage.",
                level=EventLevel.WARNING,
            )
    job.refresh_from_db()
    return job


class _StageReporter:
    """Records a stage: progress, heartbeat and an event, in one short transaction; raises
    JobCancelled / JobStopped when the job must not go on."""

    def __init__(self, job: FineTuneJob) -> None:
        self.job = job

    def __call__(
        self,
        *,
        progress: int,
        stage: str,
        message: str,
        metrics: dict | None = None,
        level: str = EventLevel.INFO,
    ) -> None:
        stage = stage[:200]
        with transaction.atomic():
            progress = max(0, min(100, progress))
            updated = FineTuneJob.objects.filter(
                pk=self.job.pk, status=JobStatus.RUNNING, cancel_requested_at=None
            ).update(progress=progress, stage=stage, heartbeat_at=timezone.now())
            if updated:
                JobEvent.objects.create(
                    job=self.job,
                    stage=stage,
                    progress=progress,
                    message=message,
                    metrics=metrics or {},
                    level=level,
                )
        if updated:
            return
        current = FineTuneJob.objects.get(pk=self.job.pk)
        if current.status == JobStatus.RUNNING and current.cancel_requested_at:
            raise JobCancelled(stage)
        raise JobStopped(current.status)


def _claim(job_id: int) -> FineTuneJob | None:
    now = timezone.now()
    with transaction.atomic():
        claimed = FineTuneJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
            status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, stage="Starting", error=""
        )
        if not claimed:
            return None
        job = FineTuneJob.objects.select_related(
            "snapshot__dataset",
            "base_version__provider",
            "base_version__model",
            "model",
            "recipe_version__recipe",
            "evaluated_version__model",
        ).get(pk=job_id)
        event_add(job, "A worker picked the job up.")
    return job


def job_execute(*, job_id: int) -> None:
    """Run a queued job to its end (local) or to its submission (provider).

    TransientTrainingError propagates for the task to retry; every other failure ends the
    job as failed with a readable error.
    """
    job = _claim(job_id)
    if job is None:
        logger.info("job %s is not queued any more; nothing to do", job_id)
        return
    trainer = trainers.trainer_for_job(job)
    try:
        outcome = trainer.run(job, _StageReporter(job))
    except JobCancelled as exc:
        with transaction.atomic():
            if job_finish(job_id, status=JobStatus.CANCELLED, stage="Cancelled"):
                event_add(
                    job,
                    f"Stopped at '{exc}' as requested.",
                    level=EventLevel.WARNING,
                    stage="Cancelled",
                )
        return
    except JobStopped as exc:
        logger.warning("job %s stopped: it is %s now", job_id, exc)
        return
    except (TransientTrainingError, OperationalError, InterfaceError) as exc:
        raise TransientTrainingError(str(exc)) from exc
    except Exception as exc:  # any failure of a job is shown on it, whatever its type
        logger.exception("job %s failed", job_id)
        job_fail(job_id=job_id, reason=_reason(exc))
        return
    if isinstance(outcome, LocalResult):
        _job_succeed_local(job, outcome)
    elif isinstance(outcome, RunResult):
        _run_succeed(job, outcome)
    else:
        _job_submitted(job, outcome)


def _reason(exc: Exception) -> str:
    if isinstance(exc, TrainingFailure | DatasetError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


@transaction.atomic
def job_fail(*, job_id: int, reason: str) -> bool:
    job = FineTuneJob.objects.get(pk=job_id)
    if job_finish(
        job_id,
        status=JobStatus.FAILED,
        error=reason,
        stage="Failed",
        from_statuses=(JobStatus.QUEUED, JobStatus.RUNNING),
    ):
        event_add(job, reason, level=EventLevel.ERROR, stage="Failed")
        return True
    return False


@transaction.atomic
def job_requeue(*, job_id: int, reason: str, attempt: int) -> None:
    """Back to queued before the task retries (a retry only picks up queued jobs)."""
    job = FineTuneJob.objects.get(pk=job_id)
    if FineTuneJob.objects.filter(
        pk=job_id, status=JobStatus.RUNNING, cancel_requested_at=None
    ).update(status=JobStatus.QUEUED, stage=f"Retrying (attempt {attempt + 1})", heartbeat_at=None):
        event_add(job, f"Temporary problem, retrying: {reason}", level=EventLevel.WARNING)
    else:
        job_finish(job_id, status=JobStatus.CANCELLED, stage="Cancelled")


def _job_succeed_local(job: FineTuneJob, result: LocalResult) -> None:
    try:
        with transaction.atomic():
            locked = FineTuneJob.objects.select_for_update().get(pk=job.pk)
            if locked.status != JobStatus.RUNNING:
                return
            if locked.cancel_requested_at:
                job_finish(job.pk, status=JobStatus.CANCELLED, stage="Cancelled")
                event_add(
                    job,
                    "Cancelled before the new version was registered.",
                    level=EventLevel.WARNING,
                    stage="Cancelled",
                )
                return
            version = version_register_next(
                job=job,
                status=VersionStatus.DRAFT if result.draft else VersionStatus.STAGING,
                flavor=Flavor.SKLEARN,
                metadata=result.metadata,
                artifact=result.artifact,
                description=result.metadata.get("description", ""),
            )
            job_result_reference(job=job, version=version, holdout=result.holdout)
            FineTuneJob.objects.filter(pk=job.pk).update(
                status=JobStatus.SUCCEEDED,
                progress=100,
                stage="Done",
                result_version=version,
                results=result.results,
                finished_at=timezone.now(),
                heartbeat_at=timezone.now(),
            )
            event_add(
                job,
                f"Registered {version} ({version.get_status_display().lower()}). {result.summary}",
                stage="Done",
                metrics={"version_id": version.pk},
            )
    except TrainingFailure as exc:
        job_fail(job_id=job.pk, reason=str(exc))


def _run_succeed(job: FineTuneJob, result: RunResult) -> None:
    """An eval or backtest run: its numbers are the result; nothing is registered."""
    with transaction.atomic():
        locked = FineTuneJob.objects.select_for_update().get(pk=job.pk)
        if locked.status != JobStatus.RUNNING:
            return
        if locked.cancel_requested_at:
            job_finish(job.pk, status=JobStatus.CANCELLED, stage="Cancelled")
            event_add(job, "Cancelled at the end.", level=EventLevel.WARNING, stage="Cancelled")
            return
        now = timezone.now()
        FineTuneJob.objects.filter(pk=job.pk).update(
            status=JobStatus.SUCCEEDED,
            progress=100,
            stage="Done",
            results=result.results,
            finished_at=now,
            heartbeat_at=now,
        )
        event_add(job, result.summary, stage="Done")


def _job_submitted(job: FineTuneJob, submission: ExternalSubmission) -> None:
    with transaction.atomic():
        FineTuneJob.objects.filter(pk=job.pk).update(
            external_file_id=submission.file_id,
            external_job_id=submission.job_id,
            external_status=submission.status,
            progress=EXTERNAL_PROGRESS.get(submission.status, 10),
            stage=f"Provider: {submission.status}",
            heartbeat_at=timezone.now(),
        )
        event_add(
            job,
            f"Uploaded {submission.examples} examples as {submission.file_id}; provider job {submission.job_id} created.",
            stage=f"Provider: {submission.status}",
        )
    job.refresh_from_db()
    if job.cancel_requested_at:
        # Cancelled while it was being submitted: cancel the provider job too.
        job_cancel_submitted(job=job)


def job_cancel_submitted(*, job: FineTuneJob) -> None:
    try:
        trainers.trainer_for(job.base_kind).cancel(job)
    except TrainingFailure as exc:
        logger.warning("job %s: %s", job.pk, exc)
    with transaction.atomic():
        if job_finish(job.pk, status=JobStatus.CANCELLED, stage="Cancelled"):
            event_add(
                job,
                f"Cancelled; the provider job {job.external_job_id} was cancelled.",
                stage="Cancelled",
            )


def jobs_fail_stale(*, now: datetime | None = None) -> list[int]:
    """Fail running jobs whose worker stopped beating (killed, out of memory, host lost).

    Provider jobs are not included once submitted: the provider trains them, the poller
    follows them.
    """
    timeout = int(settings.TRAINING_HEARTBEAT_TIMEOUT_SECONDS)
    cutoff = (now or timezone.now()) - timedelta(seconds=timeout)
    stale = FineTuneJob.objects.filter(status=JobStatus.RUNNING, external_job_id="").filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at=None, started_at__lt=cutoff)
    )
    failed = []
    for job in stale:
        last = job.heartbeat_at or job.started_at
        reason = (
            f"The worker stopped reporting: no heartbeat for {timeout} seconds "
            f"(last at {last:%Y-%m-%d %H:%M:%S} UTC, during '{job.stage}'). It was probably killed "
            "or ran out of memory. Retry the job."
        )
        with transaction.atomic():
            # Only if it is still stale: a worker that beat meanwhile keeps its job.
            if (
                FineTuneJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING)
                .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at=None))
                .update(
                    status=JobStatus.FAILED,
                    error=reason,
                    stage="Failed",
                    finished_at=timezone.now(),
                )
            ):
                event_add(job, reason, level=EventLevel.ERROR, stage="Failed")
                failed.append(job.pk)
    if failed:
        logger.warning("failed %d training jobs with no heartbeat: %s", len(failed), failed)
    return failed
