from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from groups.models import InGroup
from rollouts.decide import SHADOW_STEP


class RolloutState(models.TextChoices):
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    AWAITING_APPROVAL = "awaiting_approval", "Waiting for an Approver"
    PROMOTED = "promoted", "Promoted"
    ROLLED_BACK = "rolled_back", "Rolled back"
    INCONCLUSIVE = "inconclusive", "Inconclusive"
    ABORTED = "aborted", "Aborted"


# A rollout in one of these owns its group's split: one at a time per group. An
# inconclusive rollout keeps its split until someone aborts it.
ACTIVE_STATES = (
    RolloutState.RUNNING,
    RolloutState.PAUSED,
    RolloutState.AWAITING_APPROVAL,
    RolloutState.INCONCLUSIVE,
)


class Metric(models.TextChoices):
    ACCURACY = "accuracy", "Accuracy"
    AUC_ROC = "auc_roc", "AUC ROC"
    LOG_LOSS = "log_loss", "Log loss"
    BRIER = "brier", "Brier score"
    MAE = "mae", "Mean absolute error"
    RMSE = "rmse", "Root mean squared error"


class Goal(models.TextChoices):
    NON_INFERIOR = "non_inferior", "Non-inferior (no worse than the margin)"
    SUPERIOR = "superior", "Superior (better than the champion)"


class DecisionAction(models.TextChoices):
    START = "start", "Start"
    ADVANCE = "advance", "Advance"
    HOLD = "hold", "Hold"
    PROMOTE = "promote", "Promote"
    ROLLBACK = "rollback", "Roll back"
    INCONCLUSIVE = "inconclusive", "Inconclusive"
    AWAIT_APPROVAL = "await_approval", "Waiting for approval"
    PAUSE = "pause", "Pause"
    RESUME = "resume", "Resume"
    ABORT = "abort", "Abort"


class Rollout(InGroup, models.Model):
    """One challenger climbing a group's traffic steps (rollouts/services.py drives it)."""

    group = models.ForeignKey(
        "groups.ModelGroup", on_delete=models.CASCADE, related_name="rollouts"
    )
    challenger = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="rollouts"
    )
    # The champion when the rollout started: the comparison is against it.
    champion = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="+"
    )
    steps = models.JSONField(default=list)
    step_min_minutes = models.FloatField(default=60)
    step_max_minutes = models.FloatField(default=1440)
    min_labelled_per_step = models.PositiveIntegerField(default=200)
    metric = models.CharField(max_length=16, choices=Metric.choices, default=Metric.ACCURACY)
    goal = models.CharField(max_length=16, choices=Goal.choices, default=Goal.NON_INFERIOR)
    margin = models.FloatField(default=0.01)
    alpha = models.FloatField(default=0.05)
    guardrails = models.JSONField(default=dict, blank=True)
    shadow_first = models.BooleanField(default=False)
    final_approval = models.BooleanField(default=False)

    state = models.CharField(
        max_length=20, choices=RolloutState.choices, default=RolloutState.RUNNING
    )
    # -1 while the challenger runs as a shadow (shadow_first), then 0.. into `steps`.
    step_index = models.IntegerField(default=0)
    step_started_at = models.DateTimeField()
    # When the challenger first took traffic: the unpaired test reads rows from here.
    traffic_started_at = models.DateTimeField(null=True, blank=True)
    # A change waiting for an Approver (groups.PendingChange) and what it will do.
    pending_change = models.ForeignKey(
        "groups.PendingChange", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pending_action = models.CharField(max_length=16, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_key = models.ForeignKey(
        "groups.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["group"],
                condition=models.Q(state__in=[s.value for s in ACTIVE_STATES]),
                name="one_active_rollout_per_group",
            ),
        ]

    def __str__(self) -> str:
        return f"Rollout #{self.pk} of {self.challenger} in {self.group}"

    def get_absolute_url(self) -> str:
        return reverse("rollouts:rollout_detail", args=[self.group.slug, self.pk])

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def current_weight(self) -> int:
        if self.step_index == SHADOW_STEP or not self.steps:
            return 0
        return int(self.steps[self.step_index])

    @property
    def started_by_label(self) -> str:
        if self.created_by_id:
            return str(self.created_by)
        if self.created_by_key_id:
            return f"API key {self.created_by_key}"
        return "system"


class RolloutDecision(models.Model):
    """What a rollout did at one moment, why, and on which evidence. Never changed or
    deleted (save refuses an update; the admin and the API offer neither)."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="decisions")
    at = models.DateTimeField()
    action = models.CharField(max_length=16, choices=DecisionAction.choices)
    step_index = models.IntegerField()
    weight = models.PositiveSmallIntegerField()
    reason = models.TextField()
    evidence = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValidationError("A rollout decision is a record: it is never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("A rollout decision is a record: it is never deleted.")

    @property
    def owning_team_id(self) -> int:
        return self.rollout.group.team_id

    @property
    def owning_group_slug(self) -> str:
        return self.rollout.group.slug
