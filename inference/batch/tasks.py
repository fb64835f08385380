"""Celery tasks of batch prediction: each takes ids and calls one service (services.py).

acks_late (and reject on worker loss, hub/settings.py): a worker killed mid-task leaves its
message to be redelivered, and the chunk it was scoring is redone; what was committed is
not done twice."""

import logging

from celery import shared_task

from inference.batch import services

logger = logging.getLogger(__name__)


@shared_task(name="inference.batch_prepare", acks_late=True, ignore_result=True)
def batch_prepare(job_id: str) -> None:
    for index in services.batch_prepare(job_id=job_id):
        batch_chunk_run.delay(job_id, index)


@shared_task(name="inference.batch_chunk_run", acks_late=True, ignore_result=True)
def batch_chunk_run(job_id: str, index: int) -> None:
    try:
        following = services.batch_chunk_run(job_id=job_id, index=index)
    except Exception as exc:
        # Not a row's problem (those are per-row errors): the models cannot serve.
        logger.exception("Batch %s chunk %s failed", job_id, index)
        services.batch_fail(job_id=job_id, reason=f"Chunk {index} failed: {exc}")
        return
    if following is not None:
        batch_chunk_run.delay(job_id, following)


@shared_task(name="inference.batch_resume_stalled", ignore_result=True)
def batch_resume_stalled() -> None:
    services.batch_resume_stalled()
