from django.conf import settings
from django.db import models
from django.urls import reverse

from groups.models import InGroup


class ReferenceSource(models.TextChoices):
    UPLOAD = "upload", "Uploaded file"
    LIVE = "live", "Window of live traffic"
    TRAINING = "training", "Training hold-out"


class Reference(models.Model):
    """What a version's inputs and scores looked like when it was right: a capped, seeded
    sample of rows plus exact per-feature summaries. One per version (replaced, not kept)."""

    model_version = models.OneToOneField(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="monitoring_reference"
    )
    source = models.CharField(max_length=16, choices=ReferenceSource.choices)
    # Where it came from, for people: a file name, or "1.2, 2026-01-01 → 2026-01-08".
    description = models.CharField(max_length=300, blank=True)
    rows = models.PositiveIntegerField(default=0)  # rows read (the sample may be smaller)
    features = models.JSONField(default=list)
    # {feature: [values]} of the sample, at most HUB_MONITORING_REFERENCE_ROWS rows.
    sample = models.JSONField(default=dict)
    sample_scores = models.JSONField(default=list)
    # {feature: {kind, count, missing, min, max, quantiles, frequencies}} over every row read.
    summaries = models.JSONField(default=dict)
    score_summary = models.JSONField(default=dict, blank=True)
    # Each feature's share of mean |SHAP| in the reference period (live references only).
    shap_share = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Reference of {self.model_version}"

    @property
    def owning_team_id(self) -> int:
        return self.model_version.owning_team_id


class MonitorConfig(InGroup, models.Model):
    """A group's drift options: PSI instead of the per-type default, per-feature overrides
    ({"income": {"method": "psi", "threshold": 0.2}}), the dataset-drift share."""

    group = models.OneToOneField(
        "groups.ModelGroup", on_delete=models.CASCADE, related_name="monitor_config"
    )
    use_psi = models.BooleanField(
        default=False, help_text="PSI (10 quantile bins, >= 0.1) for every feature."
    )
    feature_overrides = models.JSONField(default=dict, blank=True)
    dataset_drift_share = models.FloatField(default=0.5)
    defaults_created = models.BooleanField(default=False, editable=False)

    def __str__(self) -> str:
        return f"Monitoring of {self.group}"


class Period(models.TextChoices):
    HOUR = "1h", "Hourly"
    DAY = "24h", "Daily"
    WEEK = "7d", "7 days"
    MONTH = "30d", "30 days"


class Snapshot(InGroup, models.Model):
    """One member's drift, quality, health and performance over one window."""

    group = models.ForeignKey(
        "groups.ModelGroup", on_delete=models.CASCADE, related_name="snapshots"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="+"
    )
    role = models.CharField(max_length=16)
    period = models.CharField(max_length=4, choices=Period.choices)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    drift = models.JSONField(null=True)  # None: no reference yet
    prediction_drift = models.JSONField(null=True)
    quality = models.JSONField(default=dict)
    health = models.JSONField(default=dict)
    performance = models.JSONField(default=dict)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-window_end", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "model_version", "period", "window_end"],
                name="unique_snapshot_window",
            )
        ]
        indexes = [
            models.Index(fields=["group", "period", "-window_end"], name="monitoring_snap_recent")
        ]
        permissions = [("run_snapshot", "Can run monitoring on demand")]

    def __str__(self) -> str:
        return f"{self.group} {self.model_version} {self.period} → {self.window_end:%Y-%m-%d %H:%M}"


class Operator(models.TextChoices):
    GT = ">", ">"
    GE = ">=", ">="
    LT = "<", "<"
    LE = "<=", "<="


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class AlertRule(InGroup, models.Model):
    """Open an alert when `metric operator threshold` holds for `windows` consecutive
    snapshots of `period` of a member (or of every member, or of a role's members)."""

    group = models.ForeignKey(
        "groups.ModelGroup", on_delete=models.CASCADE, related_name="alert_rules"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    role = models.CharField(
        max_length=16, blank=True, help_text="Only members in this role (blank: all)."
    )
    name = models.CharField(max_length=200)
    metric = models.CharField(
        max_length=200,
        help_text="drift.share, drift.dataset, drift.weighted, drift.feature:<name>, prediction_drift.drifted, "
        "quality.missing_rate, quality.out_of_range_rate, health.error_rate, health.fallback_rate, "
        "health.p99_latency_ms, performance.auc_roc, performance.accuracy …",
    )
    operator = models.CharField(max_length=2, choices=Operator.choices, default=Operator.GE)
    threshold = models.FloatField()
    windows = models.PositiveSmallIntegerField(
        default=1, help_text="Consecutive windows it must hold for."
    )
    period = models.CharField(max_length=4, choices=Period.choices, default=Period.DAY)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group", "name"]

    def __str__(self) -> str:
        return f"{self.name}: {self.metric} {self.operator} {self.threshold}"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class Alert(InGroup, models.Model):
    """Something someone should look at. `source` is `rule:<id>` for rule alerts, or the
    name another app gives (rollouts) through monitoring.alerts.alert_open."""

    group = models.ForeignKey("groups.ModelGroup", on_delete=models.CASCADE, related_name="alerts")
    model_version = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rule = models.ForeignKey(
        AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    source = models.CharField(max_length=200)
    title = models.CharField(max_length=300)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    evidence = models.JSONField(default=dict, blank=True)
    opened_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["status", "-opened_at"], name="monitoring_alert_status")]
        permissions = [("acknowledge_alert", "Can acknowledge an alert")]

    def __str__(self) -> str:
        return f"{self.group}: {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("monitoring:group_monitoring", args=[self.group.slug])

    @property
    def is_open(self) -> bool:
        return self.status != AlertStatus.RESOLVED


class WebhookEvent(models.TextChoices):
    OPENED = "alert.opened", "Alert opened"
    RESOLVED = "alert.resolved", "Alert resolved"


class Webhook(models.Model):
    """Where a team's alerts are POSTed, signed with its secret (stored encrypted)."""

    team = models.ForeignKey("core.Team", on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    secret_encrypted = models.TextField(editable=False)
    events = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.url

    @property
    def owning_team_id(self) -> int:
        return self.team_id


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event sent to one webhook: the exact body signed, each attempt's outcome."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    alert = models.ForeignKey(
        Alert, null=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    event = models.CharField(max_length=32, choices=WebhookEvent.choices)
    body = models.TextField()
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook.url} ({self.status})"

    @property
    def owning_team_id(self) -> int:
        return self.webhook.team_id
