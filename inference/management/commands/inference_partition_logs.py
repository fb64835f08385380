"""manage.py inference_partition_logs [slug ...] [--retention]: convert groups' plain log
tables to monthly partitions while predictions keep flowing (PostgreSQL), and with
--retention apply the groups' retention policies now instead of waiting for beat."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from groups.models import ModelGroup
from inference.partitions import partition_convert, partitions_ahead
from inference.retention import retention_apply


class Command(BaseCommand):
    help = "Partition groups' inference logs by month (PostgreSQL), keeping serving up."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", help="groups to convert (default: all)")
        parser.add_argument(
            "--retention", action="store_true", help="then apply each group's retention policy"
        )

    def handle(self, *args: object, **options: object) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("Partitioned logs need PostgreSQL; SQLite keeps a plain table.")
        groups = ModelGroup.objects.exclude(table_name="").order_by("slug")
        if options["slugs"]:
            groups = groups.filter(slug__in=options["slugs"])
            missing = set(options["slugs"]) - set(groups.values_list("slug", flat=True))
            if missing:
                raise CommandError(f"No group {', '.join(sorted(missing))}.")
        for group in groups:
            done = partition_convert(group.table_name)
            partitions_ahead(group.table_name)
            self.stdout.write(
                f"{group.slug}: {done.rows} rows copied, {done.partitions} partitions, "
                f"writes held {done.locked_seconds * 1000:.0f} ms"
            )
            if options["retention"]:
                for result in retention_apply(group=group):
                    self.stdout.write(
                        f"  {result.partition}: {result.rows} rows "
                        f"{'archived' if result.archive else 'dropped'}, "
                        f"{result.freed_bytes / 1e6:.1f} MB freed in {result.seconds:.1f} s"
                    )
