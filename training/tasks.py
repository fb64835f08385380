"""Celery tasks: each takes ids, calls one service, and owns its retries."""

import logging

from celery import shared_task

from training import services
from training.trainers.base import TransientTrainingError

logger = logging.getLogger(__name__)

MAX_RETRIES = 3


@shared_task(
    bind=True, name="training.job_run", max_retries=MAX_RETRIES, acks_late=True, ignore_result=True
)
def job_run(self, job_id: int) -> None:
    """Train one job. A temporary failure (provider outage, database hiccup) puts the job
    back in the queue and retries with backoff; after the last attempt the job fails."""
    try:
        services.job_execute(job_id=job_id)
    except TransientTrainingError as exc:
        attempt = self.request.retries
        if attempt >= MAX_RETRIES:
            services.job_fail(job_id=job_id, reason=f"Gave up after {attempt + 1} attempts: {exc}")
            return
        services.job_requeue(job_id=job_id, reason=str(exc), attempt=attempt + 1)
        raise self.retry(exc=exc, countdown=10 * 2**attempt) from exc


@shared_task(name="training.jobs_fail_stale", ignore_result=True)
def jobs_fail_stale() -> int:
    """Beat: a running job whose worker stopped beating is failed with that reason."""
    return len(services.jobs_fail_stale())


@shared_task(name="training.jobs_poll_external", ignore_result=True)
def jobs_poll_external() -> int:
    """Beat: follow provider fine-tuning jobs (status, events, the fine-tuned model)."""
    return services.jobs_poll_external()
