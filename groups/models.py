from django.conf import settings
from django.db import models
from django.urls import reverse

from core.models import default_team_id
from registry.models import ModelVersion, Task


class RoutingMode(models.TextChoices):
    WEIGHTED = "weighted", "Weighted random"
    STICKY = "sticky", "Sticky by routing key"


class DeletionPolicy(models.TextChoices):
    ARCHIVE = "archive", "Archive the inference table"
    DROP = "drop", "Drop the inference table"


class Role(models.TextChoices):
    CHAMPION = "champion", "Champion"
    CHALLENGER = "challenger", "Challenger"
    SHADOW = "shadow", "Shadow"


class ModelGroup(models.Model):
    name = models.CharField(max_length=200, unique=True)
    # Fixed at creation: the endpoint URL and the inference table are named after it.
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    task = models.CharField(max_length=32, choices=Task.choices, default=Task.BINARY)
    routing_mode = models.CharField(
        max_length=16, choices=RoutingMode.choices, default=RoutingMode.WEIGHTED
    )
    deletion_policy = models.CharField(
        max_length=16, choices=DeletionPolicy.choices, default=DeletionPolicy.ARCHIVE
    )
    is_active = models.BooleanField(default=True)
    # The features every member must accept (taken from the first champion by default).
    features = models.JSONField(default=list, blank=True)
    # Set by inference/signals.py when the table is created; never renamed afterwards.
    table_name = models.CharField(max_length=63, blank=True, editable=False)
    # Its Operators act on it; core/permissions.py.
    team = models.ForeignKey(
        "core.Team", on_delete=models.PROTECT, related_name="groups", default=default_team_id
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("promote_modelgroup", "Can promote, roll back and set traffic"),
            ("predict_modelgroup", "Can call predict and feedback"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("groups:group_detail", args=[self.slug])

    @property
    def owning_team_id(self) -> int:
        return self.team_id

    @property
    def owning_group_slug(self) -> str:
        return self.slug


class Membership(models.Model):
    group = models.ForeignKey(ModelGroup, on_delete=models.CASCADE, related_name="memberships")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CHALLENGER)
    weight = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group", "role", "-weight"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "model_version"], name="unique_version_per_group"
            ),
            models.CheckConstraint(condition=models.Q(weight__lte=100), name="weight_at_most_100"),
        ]

    def __str__(self) -> str:
        return f"{self.group.name}: {self.model_version} ({self.role} {self.weight}%)"

    @property
    def owning_team_id(self) -> int:
        return self.group.team_id

    @property
    def owning_group_slug(self) -> str:
        return self.group.slug


class RoleChangeAction(models.TextChoices):
    CREATE = "create", "Group created"
    PROMOTE = "promote", "Promoted to champion"
    SET_TRAFFIC = "set_traffic", "Traffic split changed"
    ROLLBACK = "rollback", "Rolled back to previous champion"
    MEMBER_ADD = "member_add", "Member added"
    MEMBERS_EDIT = "members_edit", "Members edited"


class RoleChange(models.Model):
    """The audit trail of a group's roles and weights: who changed what, when and why.

    `weights_before`/`weights_after` are full snapshots, a list of
    {"model_version": id, "role": ..., "weight": ...}, so a rollback can restore them.
    """

    group = models.ForeignKey(ModelGroup, on_delete=models.CASCADE, related_name="role_changes")
    action = models.CharField(max_length=16, choices=RoleChangeAction.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    weights_before = models.JSONField(default=list, blank=True)
    weights_after = models.JSONField(default=list, blank=True)
    reason = models.TextField(blank=True)
    # Set on a promotion once it has been rolled back, so the next rollback goes further back.
    rolled_back_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rolls_back"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.group.name}: {self.get_action_display()} at {self.created_at:%Y-%m-%d %H:%M}"


class ApiKey(models.Model):
    """A key a workflow sends as `Authorization: Bearer <key>`; only its sha256 is stored."""

    name = models.CharField(max_length=200)
    # The first characters of the key, shown so people can tell keys apart.
    prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    all_groups = models.BooleanField(
        default=False, help_text="Allowed on every group, present and future."
    )
    groups = models.ManyToManyField(ModelGroup, blank=True, related_name="api_keys")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
