"""Start a fine-tuning job from the command line, e.g.

manage.py train_start --preset gradient_boosting --group live-credit-scoring --set n_estimators=200
manage.py train_start --base-version 12 --file applicants.csv --label-column default
"""

from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from groups.models import ModelGroup
from registry.models import ModelVersion, RegisteredModel
from training import services
from training.models import DatasetSource, Preset


class Command(BaseCommand):
    help = "Queue a fine-tuning job (a preset or an existing version, on a decision log or a file)."

    def add_arguments(self, parser: CommandParser) -> None:
        base = parser.add_mutually_exclusive_group(required=True)
        base.add_argument("--preset", choices=Preset.values, help="Train a new scikit-learn model.")
        base.add_argument(
            "--base-version",
            type=int,
            help="Id of a version to retrain (local) or fine-tune (OpenAI).",
        )
        parser.add_argument(
            "--model",
            help="Slug of the model receiving a preset's version (default: the group champion's).",
        )
        data = parser.add_mutually_exclusive_group(required=True)
        data.add_argument("--group", help="Slug of the group whose decision log to train on.")
        data.add_argument(
            "--file", type=Path, help="A CSV or JSONL file with the features and the label."
        )
        parser.add_argument("--since", help="Decision log window start (ISO 8601, UTC).")
        parser.add_argument("--until", help="Decision log window end (ISO 8601, UTC).")
        parser.add_argument("--role", default="", help="Only the predictions of this role.")
        parser.add_argument("--label-column", default="", help="The file's label column.")
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="A hyperparameter; repeatable.",
        )

    def handle(self, *args, **options) -> None:
        hyperparameters = {}
        for item in options["set"]:
            name, sep, value = item.partition("=")
            if not sep:
                raise CommandError(
                    f"--set {item!r}: write NAME=VALUE, e.g. --set n_estimators=200."
                )
            hyperparameters[name.strip()] = value
        try:
            job = services.job_create(
                preset=options["preset"] or "",
                base_version=self._get(ModelVersion, pk=options["base_version"])
                if options["base_version"]
                else None,
                model=self._get(RegisteredModel, slug=options["model"])
                if options["model"]
                else None,
                hyperparameters=hyperparameters,
                dataset=self._dataset(options),
            )
        except services.TrainingValidationError as error:
            problems = "\n".join(
                f"  {field}: {message}" for field, msgs in error.errors.items() for message in msgs
            )
            raise CommandError(f"The job was not queued:\n{problems}") from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Job {job.pk} queued: {job.base_label} on {job.dataset.name} ({job.snapshot.row_count} rows)."
            )
        )
        self.stdout.write(f"Follow it with: manage.py train_status {job.pk}")

    def _get(self, model, **lookup):
        try:
            return model.objects.get(**lookup)
        except model.DoesNotExist:
            raise CommandError(f"No {model._meta.verbose_name} with {lookup}.") from None

    def _dataset(self, options: dict) -> services.DatasetSpec:
        if options["file"]:
            path: Path = options["file"]
            if not path.is_file():
                raise CommandError(f"{path} is not a file.")
            upload = SimpleUploadedFile(path.name, path.read_bytes())
            return services.DatasetSpec(
                source=DatasetSource.UPLOAD, upload=upload, label_column=options["label_column"]
            )
        window = {}
        for key, option in (("window_start", "since"), ("window_end", "until")):
            if options[option]:
                moment = parse_datetime(options[option])
                if moment is None:
                    raise CommandError(
                        f"--{option} {options[option]!r} is not an ISO 8601 date and time."
                    )
                window[key] = moment
        return services.DatasetSpec(
            source=DatasetSource.DECISION_LOG,
            group=self._get(ModelGroup, slug=options["group"]),
            role=options["role"],
            **window,
        )
