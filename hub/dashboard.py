from datetime import datetime

from groups.models import ModelGroup
from hub.models import WorkerHeartbeat
from inference.selectors import predictions_since
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
