"""manage.py monitor_run --group <slug> [--window 24h] [--backfill-days N]"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from groups.models import ModelGroup
from monitoring.models import Period
from monitoring.snapshots import group_run, window_end


class Command(BaseCommand):
    help = "Compute a group's monitoring snapshots now (and check its alert rules)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--group", required=True, help="The group's slug.")
        parser.add_argument("--window", default=Period.DAY, choices=[p.value for p in Period])
        parser.add_argument(
            "--backfill-days", type=int, default=0, help="Also the N closed days before (daily)."
        )

    def handle(self, *args, group: str, window: str, backfill_days: int, **options) -> None:
        found = ModelGroup.objects.filter(slug=group).first()
        if found is None:
            raise CommandError(f"No group with the slug {group!r}.")
        now = timezone.now()
        ends = [
            window_end(Period.DAY, now - timedelta(days=d)) for d in range(backfill_days, 0, -1)
        ]
        for end in ends:
            group_run(group=found, period=Period.DAY, end=end)
        snapshots = group_run(group=found, period=window)
        for snapshot in snapshots:
            share = (snapshot.drift or {}).get("share_drifted")
            self.stdout.write(
                f"{snapshot.model_version} ({snapshot.role}): {snapshot.health.get('requests', 0)} requests, "
                f"share drifted {share if share is not None else 'n/a (no reference)'}"
            )
        self.stdout.write(
            self.style.SUCCESS(f"{len(snapshots)} snapshot(s), {len(ends)} backfilled day(s).")
        )
