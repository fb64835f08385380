from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from core.models import default_team_id


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class BaseKind(models.TextChoices):
    PRESET = "preset", "Platform preset (scikit-learn)"
    LOCAL_VERSION = "local_version", "Existing local version, retrained"
    EXTERNAL = "external", "Provider model (OpenAI fine-tuning)"


class Preset(models.TextChoices):
    LOGISTIC_REGRESSION = "logistic_regression", "Logistic regression"
    GRADIENT_BOOSTING = "gradient_boosting", "Gradient boosting"
    RANDOM_FOREST = "random_forest", "Random forest"
    RIDGE_REGRESSION = "ridge_regression", "Ridge regression (linear, regression only)"


class DatasetSource(models.TextChoices):
    DECISION_LOG = "decision_log", "A group's decision log"
    UPLOAD = "upload", "Uploaded file (CSV or JSONL)"
    SYNTHETIC = "synthetic", "A recipe's synthetic example"


# What a fine-tuning job trains on (a recipe run may also use its synthetic example).
JOB_SOURCES = [
    (DatasetSource.DECISION_LOG, DatasetSource.DECISION_LOG.label),
    (DatasetSource.UPLOAD, DatasetSource.UPLOAD.label),
]


class RunKind(models.TextChoices):
    """What a job (a run) does. Fine-tuning jobs are train runs without a recipe."""

    TRAIN = "train", "Train"
    EVAL = "eval", "Evaluate"
    BACKTEST = "backtest", "Backtest"


class FileFormat(models.TextChoices):
    CSV = "csv", "CSV"
    JSONL = "jsonl", "JSON Lines"


class EventLevel(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


class Dataset(models.Model):
    """Where training rows come from: a group's decision log or an uploaded file."""

    name = models.CharField(max_length=200)
    source = models.CharField(max_length=16, choices=DatasetSource.choices)
    # Decision log: rows of the group's inference table that have an outcome.
    group = models.ForeignKey(
        "groups.ModelGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    # Optional narrowing of the log: {"role": "champion", "model_version_id": 3}.
    filters = models.JSONField(default=dict, blank=True)
    # Upload: the file as the user sent it.
    upload = models.FileField(upload_to="training/uploads/%Y/%m/", blank=True)
    file_format = models.CharField(max_length=8, choices=FileFormat.choices, blank=True)
    label_column = models.CharField(max_length=100, default="outcome")
    # The team of the job that made it (the team of the model it trains).
    team = models.ForeignKey(
        "core.Team", on_delete=models.PROTECT, related_name="+", default=default_team_id
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def owning_team_id(self) -> int:
        return self.team_id

    @property
    def owning_group_slug(self) -> str | None:
        return self.group.slug if self.group_id else None


class DatasetSnapshot(models.Model):
    """The exact rows a job trained on, frozen in a file so the job can be reproduced."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="snapshots")
    file = models.FileField(upload_to="training/snapshots/%Y/%m/")
    row_count = models.PositiveIntegerField()
    columns = models.JSONField(default=list)
    features = models.JSONField(default=list)
    label_column = models.CharField(max_length=100)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.dataset.name}: {self.row_count} rows ({self.sha256[:12]})"

    @property
    def owning_team_id(self) -> int:
        return self.dataset.team_id


class FineTuneJob(models.Model):
    """A run: train (a fine-tuning job, or a recipe's pipeline), eval or backtest."""

    kind = models.CharField(max_length=16, choices=RunKind.choices, default=RunKind.TRAIN)
    # A recipe run: the (immutable) recipe version whose effective manifest it runs.
    recipe_version = models.ForeignKey(
        "recipes.RecipeVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="runs",
    )
    # An eval run: the registered version it scores.
    evaluated_version = models.ForeignKey(
        "registry.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="evaluations",
    )
    # A recipe run's outcome: metrics, the evaluation gate, backtest folds, chart data.
    results = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    # What is trained: a preset, or an existing version (local: retrained; external: fine-tuned).
    base_kind = models.CharField(max_length=16, choices=BaseKind.choices, default=BaseKind.PRESET)
    preset = models.CharField(max_length=32, choices=Preset.choices, blank=True)
    base_version = models.ForeignKey(
        "registry.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="fine_tune_jobs",
    )
    # The registered model that receives the new version.
    model = models.ForeignKey(
        "registry.RegisteredModel",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="fine_tune_jobs",
    )
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    snapshot = models.ForeignKey(
        DatasetSnapshot, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    # Validated per trainer, defaults filled in: what the job really ran with.
    hyperparameters = models.JSONField(default=dict, blank=True)
    result_version = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    # Who may act on the job: the team of the model that receives its version, fixed at
    # creation (the model may be deleted later; the job keeps its owner).
    team = models.ForeignKey(
        "core.Team",
        on_delete=models.PROTECT,
        related_name="fine_tune_jobs",
        default=default_team_id,
    )
    # Written by the worker at every stage; a running job whose heartbeat is too old has
    # lost its worker (training.services.jobs_fail_stale).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # A running local job stops at its next stage once this is set.
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # OpenAI fine-tuning: the provider's ids and status, mirrored by the poller.
    external_file_id = models.CharField(max_length=200, blank=True)
    external_job_id = models.CharField(max_length=200, blank=True, db_index=True)
    external_status = models.CharField(max_length=40, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="training_job_status_beat")]

    def __str__(self) -> str:
        if self.recipe_version_id:
            return f"Run {self.pk} ({self.kind}, {self.status})"
        return f"Job {self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("training:job_detail", args=[self.pk])

    @property
    def is_recipe_run(self) -> bool:
        return self.recipe_version_id is not None

    @property
    def owning_team_id(self) -> int:
        return self.team_id

    @property
    def owning_group_slug(self) -> str | None:
        # A job trained on a group's decision log belongs to that group too: a key limited
        # to other groups may neither read it nor act on it.
        if self.dataset_id is None:
            return None
        return self.dataset.owning_group_slug

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_external(self) -> bool:
        return self.base_kind == BaseKind.EXTERNAL

    @property
    def base_label(self) -> str:
        if self.base_kind == BaseKind.PRESET:
            return Preset(self.preset).label if self.preset else "Preset"
        if self.base_version_id:
            return str(self.base_version)
        return BaseKind(self.base_kind).label


class JobEvent(models.Model):
    job = models.ForeignKey(FineTuneJob, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(default=timezone.now)
    level = models.CharField(max_length=8, choices=EventLevel.choices, default=EventLevel.INFO)
    stage = models.CharField(max_length=200, blank=True)
    progress = models.PositiveSmallIntegerField(null=True, blank=True)
    message = models.TextField()
    # e.g. {"stage": 3, "train_loss": 0.41, "val_loss": 0.44}: the job page charts these.
    metrics = models.JSONField(default=dict, blank=True)
    # The provider's event id for mirrored OpenAI events, so each is stored once.
    external_id = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "external_id"],
                condition=~models.Q(external_id=""),
                name="unique_external_event_per_job",
            )
        ]

    def __str__(self) -> str:
        return f"{self.job_id} {self.level}: {self.message[:60]}"
