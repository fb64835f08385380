from celery import shared_task
from django.utils import timezone

from hub.models import WorkerHeartbeat


@shared_task(name="hub.worker_heartbeat", ignore_result=True)
def worker_heartbeat(hostname: str | None = None) -> None:
    host = hostname or worker_heartbeat.request.hostname or "unknown"
    WorkerHeartbeat.objects.update_or_create(hostname=host, defaults={"seen_at": timezone.now()})
