import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse

from groups.models import InGroup


class ArchivedInferenceTable(models.Model):
    """A group's inference table kept after the group was deleted (deletion policy 'archive')."""

    table_name = models.CharField(max_length=63, unique=True)
    original_table_name = models.CharField(max_length=63)
    group_name = models.CharField(max_length=200)
    group_slug = models.CharField(max_length=200)
    row_count = models.BigIntegerField(default=0)
    archived_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-archived_at"]

    def __str__(self) -> str:
        return self.table_name


class HourlyRollup(models.Model):
    """What one hour of a group's inference log adds to the comparison, per model version
    and (prediction, outcome): the counts and sums the comparison's GROUP BY computes.
    Written by inference/rollup.py only, an hour at a time: its rows are deleted and
    written again, never edited."""

    # The (group, hour) index leads with the group: a second index on it alone would only
    # cost writes.
    group = models.ForeignKey(
        # Deleted by the group's pre_delete signal (inference/signals.py), not listed one
        # by one on the admin's delete confirmation: a year is over 100,000 rows.
        "groups.ModelGroup",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
    )
    hour = models.DateTimeField()  # the UTC start of the hour
    # Not a foreign key, as in the log table: a version's history outlives the version.
    model_version_id = models.BigIntegerField()
    prediction = models.JSONField(null=True)
    outcome = models.JSONField(null=True)
    requests = models.IntegerField(default=0)
    served = models.IntegerField(default=0)
    scored = models.IntegerField(default=0)
    score_sum = models.FloatField(default=0.0)
    score_squares = models.FloatField(default=0.0)
    fallbacks = models.IntegerField(default=0)
    errors = models.IntegerField(default=0)
    # Regression groups: one row per (version, hour), prediction and outcome null, with the
    # sums their metrics need (error = prediction - outcome, over labelled rows), so MAE,
    # RMSE, bias, R² and MAPE come out exact from a few rows. Zero for classifiers, whose
    # (prediction, outcome) rows are already the per-class counts.
    error_rows = models.IntegerField(default=0)
    error_sum = models.FloatField(default=0.0)
    abs_error_sum = models.FloatField(default=0.0)
    squared_error_sum = models.FloatField(default=0.0)
    actual_sum = models.FloatField(default=0.0)
    actual_squares = models.FloatField(default=0.0)
    ape_sum = models.FloatField(default=0.0)  # sum of |error| / |outcome|, outcome != 0
    ape_rows = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["group", "hour"], name="inference_rollup_group_hour")]

    def __str__(self) -> str:
        return f"{self.group_id} {self.hour:%Y-%m-%d %H:00} v{self.model_version_id}"


class HourlyLatency(models.Model):
    """The latency histogram (inference/latency_sketch.py) of one model version's hour,
    written with that hour's HourlyRollup rows.

    Kept per version, not per (prediction, outcome) row: the comparison only ever needs a
    member's histogram, and split by labels a week of them is 2,000 histograms and 1.1 MB
    of JSON to decode and add up (~75 ms, as much in SQL), against 340 and ~25 ms."""

    group = models.ForeignKey(
        # Deleted by the group's pre_delete signal (inference/signals.py), not listed one
        # by one on the admin's delete confirmation: a year is over 100,000 rows.
        "groups.ModelGroup",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
    )
    hour = models.DateTimeField()
    model_version_id = models.BigIntegerField()
    histogram = models.JSONField(default=dict)  # {bucket key: count}

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["group", "hour", "model_version_id"], name="unique_latency_per_version_hour"
            )
        ]

    def __str__(self) -> str:
        return f"{self.group_id} {self.hour:%Y-%m-%d %H:00} v{self.model_version_id}"


class RollupState(models.Model):
    """How far a group's log is rolled up: every hour before `rolled_until` has its roll-up
    rows (none when it had no rows), except the hours marked dirty since."""

    # Deleted by the group's pre_delete signal with the roll-ups (inference/signals.py): a
    # cascade would put it on the admin's delete confirmation, where its admin, which
    # allows no deletes, would refuse the group's deletion.
    group = models.OneToOneField("groups.ModelGroup", on_delete=models.DO_NOTHING, related_name="+")
    rolled_until = models.DateTimeField(null=True)  # an hour boundary; null: nothing yet
    refreshed_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"{self.group_id} rolled until {self.rolled_until}"


class RollupDirtyHour(models.Model):
    """An hour whose rows changed (feedback, a backdated write) after it may have been
    rolled up: read raw until the next refresh writes its roll-up again."""

    group = models.ForeignKey(
        # Deleted by the group's pre_delete signal (inference/signals.py), not listed one
        # by one on the admin's delete confirmation: a year is over 100,000 rows.
        "groups.ModelGroup",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
    )
    hour = models.DateTimeField()
    marked_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "hour"], name="unique_dirty_hour_per_group")
        ]

    def __str__(self) -> str:
        return f"{self.group_id} {self.hour:%Y-%m-%d %H:00}"


class BatchStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class BatchFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSONL = "jsonl", "JSON Lines"
    PARQUET = "parquet", "Parquet"


class BatchJob(models.Model):
    """A file of rows scored like live traffic, chunk by chunk (inference/batch.py).

    Its id seeds every row's request id and (without a key column) its routing, so a
    resumed job routes and logs each row as the first attempt did."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # A group's job routes like its traffic; a version's job (no group) uses that version.
    group = models.ForeignKey(
        "groups.ModelGroup", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    team = models.ForeignKey("core.Team", on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=BatchStatus.choices, default=BatchStatus.QUEUED
    )
    file_name = models.CharField(max_length=255)
    input_format = models.CharField(max_length=8, choices=BatchFormat.choices)
    output_format = models.CharField(max_length=8, choices=BatchFormat.choices)
    key_column = models.CharField(max_length=200, blank=True, default="")
    explain = models.BooleanField(default=True)
    log = models.BooleanField(default=True)
    keep_columns = models.JSONField(null=True, blank=True)  # null: every input column
    shadow_columns = models.BooleanField(default=False)  # shadows' outputs in the result
    # The routing table when the job was created: a resumed job routes as it began.
    members = models.JSONField(default=list)
    features = models.JSONField(default=list)
    columns = models.JSONField(default=list)  # the input's columns, in order
    chunk_size = models.PositiveIntegerField(default=5000)
    chunks_total = models.PositiveIntegerField(null=True, blank=True)
    rows_total = models.BigIntegerField(null=True, blank=True)
    rows_done = models.BigIntegerField(default=0)
    rows_ok = models.BigIntegerField(default=0)
    rows_failed = models.BigIntegerField(default=0)
    first_errors = models.JSONField(default=list, blank=True)  # up to 10 row reasons
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="inference_batch_status")]

    def __str__(self) -> str:
        return f"Batch {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("inference:batch_detail", args=[self.pk])

    @property
    def owning_team_id(self) -> int:
        return self.team_id

    @property
    def owning_group_slug(self) -> str | None:
        return self.group.slug if self.group_id else None  # a version's job: no group

    @property
    def is_active(self) -> bool:
        return self.status in (BatchStatus.QUEUED, BatchStatus.RUNNING)


class BatchChunk(models.Model):
    """One chunk of a job: its rows are scored, written and logged in one commit."""

    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    first_row = models.BigIntegerField()
    rows = models.PositiveIntegerField()
    done = models.BooleanField(default=False)
    rows_ok = models.PositiveIntegerField(default=0)
    rows_failed = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="unique_chunk_per_batch")
        ]

    def __str__(self) -> str:
        return f"{self.job_id} chunk {self.index}"


class RetentionAction(models.TextChoices):
    ARCHIVE = "archive", "Archive to Parquet, then drop"
    DROP = "drop", "Drop"


class LogRetention(InGroup, models.Model):
    """How long a group's inference log keeps its rows (PostgreSQL, partitioned tables):
    whole months older than `keep_months` (counted before the current month) are archived
    to a Parquet file or dropped by beat (inference/retention.py). No policy: kept forever."""

    group = models.OneToOneField(
        # Deleted by the group's pre_delete signal with its table (inference/signals.py).
        "groups.ModelGroup",
        on_delete=models.DO_NOTHING,
        related_name="+",
    )
    keep_months = models.PositiveSmallIntegerField(
        help_text="Whole months kept before the current one (at least 1)."
    )
    action = models.CharField(
        max_length=16, choices=RetentionAction.choices, default=RetentionAction.ARCHIVE
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(keep_months__gte=1), name="inference_retention_keep_months"
            )
        ]

    def __str__(self) -> str:
        return f"{self.group}: keep {self.keep_months} month(s), then {self.action}"


class ArchivedLogPartition(models.Model):
    """One month of a group's log, archived to a Parquet file by its retention policy and
    dropped from the database."""

    group = models.ForeignKey(
        "groups.ModelGroup", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    group_name = models.CharField(max_length=200)
    group_slug = models.CharField(max_length=200)
    table_name = models.CharField(max_length=63)
    partition_name = models.CharField(max_length=63)
    month = models.DateField()
    row_count = models.BigIntegerField(default=0)
    file = models.FileField(upload_to="inference/archives/", max_length=300)
    file_bytes = models.BigIntegerField(default=0)
    freed_bytes = models.BigIntegerField(default=0, help_text="The partition's size on disk.")
    archived_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-month", "table_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["table_name", "month"], name="inference_archived_partition_month"
            )
        ]

    def __str__(self) -> str:
        return f"{self.table_name} {self.month:%Y-%m}"


class RefusalCount(models.Model):
    """Instances a group's predict endpoint refused at input validation, per UTC hour and
    reason (inference/refusals.py): what monitoring reports as `quality.refused`."""

    # The unique (group, hour, reason) index leads with the group: no index on it alone.
    group = models.ForeignKey(
        # Deleted by the group's pre_delete signal (inference/signals.py), not listed one
        # by one on the admin's delete confirmation.
        "groups.ModelGroup",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
    )
    hour = models.DateTimeField()  # the UTC start of the hour
    reason = models.CharField(max_length=40)  # a stable code, e.g. missing_field
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["group", "hour", "reason"], name="unique_refusal_per_group_hour_reason"
            )
        ]

    def __str__(self) -> str:
        return f"{self.group_id} {self.hour:%Y-%m-%d %H:00} {self.reason}: {self.count}"
