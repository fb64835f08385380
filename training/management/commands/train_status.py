"""Show fine-tuning jobs: the latest ones, or one job with its recent events."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from training import selectors
from training.models import FineTuneJob, JobStatus


class Command(BaseCommand):
    help = "List recent fine-tuning jobs, or show one job's progress and events."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "job", nargs="?", type=int, help="A job id; without it, the latest jobs."
        )
        parser.add_argument(
            "--status", choices=JobStatus.values, help="Only jobs with this status."
        )
        parser.add_argument(
            "--limit", type=int, default=20, help="How many jobs or events to show."
        )

    def handle(
        self, *args, job: int | None = None, status: str | None = None, limit: int = 20, **options
    ) -> None:
        if job is None:
            rows = selectors.all_jobs(status=status or "")[:limit]
            if not rows:
                self.stdout.write("No jobs. Start one with manage.py train_start.")
            for row in rows:
                self.stdout.write(self._line(row))
            return
        try:
            found = selectors.all_jobs().get(pk=job)
        except FineTuneJob.DoesNotExist:
            raise CommandError(f"No job {job}.") from None
        self.stdout.write(self._line(found))
        if found.error:
            self.stdout.write(f"  error: {found.error}")
        if found.result_version:
            self.stdout.write(
                f"  new version: {found.result_version} (id {found.result_version.pk})"
            )
        for event in reversed(list(found.events.order_by("-created_at", "-id")[:limit])):
            self.stdout.write(f"  {event.created_at:%H:%M:%S} {event.level:<7} {event.message}")

    def _line(self, job: FineTuneJob) -> str:
        return f"#{job.pk} {job.status:<9} {job.progress:>3}% {job.base_label} -> {job.model or '-'}: {job.stage}"
