from celery import shared_task

from hub.services import worker_heartbeat_record


@shared_task(name="hub.worker_heartbeat", ignore_result=True)
def worker_heartbeat(hostname: str | None = None) -> None:
    worker_heartbeat_record(hostname=hostname or worker_heartbeat.request.hostname or "unknown")
