from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from rollouts.services import rollouts_tick


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(f"--at takes an ISO 8601 time, not {value!r}.")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


class Command(BaseCommand):
    help = "Run one tick of every running rollout now (what beat does every minute)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--at", help="Decide as if it were this time (ISO 8601); default now.")

    def handle(self, *args, **options) -> None:
        outcomes = rollouts_tick(now=_when(options.get("at")))
        if not outcomes:
            self.stdout.write("No running rollout.")
        for rollout_id, action in outcomes.items():
            self.stdout.write(f"Rollout #{rollout_id}: {action}")
