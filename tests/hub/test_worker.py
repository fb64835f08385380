import pytest

from hub.models import WorkerHeartbeat
from hub.tasks import worker_heartbeat
from tests.celery_worker import wait_for


@pytest.mark.worker
def test_a_real_worker_runs_a_queued_task_and_its_write_lands_in_the_database(celery_worker):
    worker_heartbeat.delay(hostname="worker-under-test")

    beat = wait_for(
        lambda: WorkerHeartbeat.objects.filter(hostname="worker-under-test").first(),
        timeout=60,
        message="the worker never ran the task:\n" + celery_worker.log(),
    )
    assert beat.seen_at is not None
    assert "hub.worker_heartbeat" in celery_worker.log()
