"""manage.py batch_predict <group> <file> [--key-column ..]: queue a batch prediction job
for a group (ops staff, on the server: no user, no permission check), or with --inline
run it in this process (no worker needed; bench/batch uses it) and write the result."""

from __future__ import annotations

import resource
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from core.errors import ServiceError
from groups.models import ModelGroup
from inference.batch import services


class Command(BaseCommand):
    help = "Score a CSV, JSON Lines or Parquet file with a group, like its live traffic."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("group", help="the group's slug")
        parser.add_argument("file")
        parser.add_argument("--key-column", default="")
        parser.add_argument("--no-explain", action="store_true")
        parser.add_argument("--no-log", action="store_true")
        parser.add_argument("--output-format", choices=["csv", "jsonl", "parquet"], default="")
        parser.add_argument("--shadow-columns", action="store_true")
        parser.add_argument("--inline", action="store_true", help="run here, not on a worker")
        parser.add_argument("--output", help="with --inline: where to write the result")

    def handle(self, *args: object, **options: object) -> None:
        group = ModelGroup.objects.filter(slug=options["group"]).first()
        if group is None:
            raise CommandError(f"No group '{options['group']}'.")
        path = Path(str(options["file"]))
        if not path.is_file():
            raise CommandError(f"No file {path}.")
        batch_options = services.BatchOptions(
            key_column=str(options["key_column"]),
            explain=not options["no_explain"],
            log=not options["no_log"],
            output_format=str(options["output_format"]),
            shadow_columns=bool(options["shadow_columns"]),
        )
        upload = services.open_upload(str(path))
        try:
            with transaction.atomic():
                job = services.batch_create(
                    upload=upload, options=batch_options, group=group, queue=not options["inline"]
                )
        except ServiceError as error:
            raise CommandError(f"{error.message} {error.errors or ''}") from error
        finally:
            upload.close()
        self.stdout.write(f"Batch {job.pk} queued ({job.file_name}).")
        if options["inline"]:
            self._run_inline(job, options.get("output"))

    def _run_inline(self, job, output: object) -> None:
        started, cpu_started = time.perf_counter(), time.process_time()
        services.batch_run_inline(job=job)
        job.refresh_from_db()
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.stdout.write(
            f"Batch {job.pk} {job.status}: {job.rows_ok} ok, {job.rows_failed} failed, "
            f"{job.rows_total / max(seconds, 1e-9):.0f} rows/s "
            f"({seconds:.2f} s, cpu {cpu:.2f} s, peak RSS {peak_mb:.0f} MB)."
        )
        if output and job.status == "succeeded":
            with open(str(output), "wb") as fh:
                for part in services.result_stream(job):
                    fh.write(part)
