from django.db import models


class WorkerHeartbeat(models.Model):
    """Last time each Celery worker ran the beat's heartbeat task: shows ops that the
    worker and beat are alive (the dashboard and /healthz report it)."""

    hostname = models.CharField(max_length=255, unique=True)
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return f"{self.hostname} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
