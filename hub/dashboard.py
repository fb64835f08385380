from datetime import datetime, timedelta

from django.utils import timezone

from groups.models import ModelGroup, PendingChange, PendingStatus
from hub.models import WorkerHeartbeat
from inference.selectors import predictions_since
from monitoring.alerts import open_alerts
from providers.models import Provider
from registry.models import RegisteredModel
from training.models import FineTuneJob, JobStatus


def dashboard_counts(*, since: datetime) -> dict[str, int]:
    return {
        "models": RegisteredModel.objects.count(),
        "groups": ModelGroup.objects.count(),
        "predictions_24h": predictions_since(since),
        "running_jobs": FineTuneJob.objects.filter(
            status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
        ).count(),
    }


def worker_last_seen() -> WorkerHeartbeat | None:
    return WorkerHeartbeat.objects.order_by("-seen_at").first()


WORKER_STALE_AFTER = timedelta(minutes=3)


def ops_summary() -> dict:
    """What the ops staff watch on the admin index."""
    worker = worker_last_seen()
    now = timezone.now()
    return {
        "worker": worker,
        "worker_stale": worker is None or now - worker.seen_at > WORKER_STALE_AFTER,
        "providers": list(Provider.objects.order_by("name")),
        # monitoring.Alert rows not resolved yet (monitoring/alerts.py).
        "open_alerts": open_alerts().count(),
        "pending_changes": PendingChange.objects.filter(status=PendingStatus.PENDING).count(),
        "failed_jobs": FineTuneJob.objects.filter(
            status=JobStatus.FAILED, finished_at__gte=now - timedelta(hours=24)
        ).count(),
    }
