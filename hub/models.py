from django.db import models


class WorkerHeartbeat(models.Model):
    """Last time each Celery worker ran the beat's heartbeat task: the dashboard shows
    ops whether a worker and beat are alive (training stalls without them)."""

    hostname = models.CharField(max_length=255, unique=True)
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return f"{self.hostname} at {self.seen_at:%Y-%m-%d %H:%M:%S}"
