import hashlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone

from core.models import default_team_id
from core.roles import SCOPES
from registry.models import ModelVersion, Task


class InGroup:
    """A record that belongs to one group (a `group` foreign key): its group's team owns
    it, for `core.permissions`."""

    @property
    def owning_team_id(self) -> int:
        return self.group.team_id

    @property
    def owning_group_slug(self) -> str:
        return self.group.slug


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
    # Four-eyes: promotions, rollbacks and traffic changes wait for a second person.
    requires_approval = models.BooleanField(
        default=False,
        help_text="Promotions, rollbacks and traffic changes wait until another person approves them.",
    )
    # Bumped by every change of the group or its members (groups.services._audit_record):
    # the routing cache is checked against the database's state, so a change made while
    # the cache was unreachable still takes effect everywhere (groups/routing_cache.py).
    routing_generation = models.PositiveBigIntegerField(default=0, editable=False)
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


class Membership(InGroup, models.Model):
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


class RoleChangeAction(models.TextChoices):
    CREATE = "create", "Group created"
    PROMOTE = "promote", "Promoted to champion"
    SET_TRAFFIC = "set_traffic", "Traffic split changed"
    ROLLBACK = "rollback", "Rolled back to previous champion"
    MEMBER_ADD = "member_add", "Member added"
    MEMBERS_EDIT = "members_edit", "Members edited"
    EDIT = "edit", "Group edited"


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
    # The key that made the change, when a workflow made it (then `actor` is empty).
    api_key = models.ForeignKey(
        "ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The second person, on a group that requires approval (groups.PendingChange).
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)
    # What the change was based on, as it stood just before it (promotion, rollback, traffic
    # change, approval): the comparison's numbers and tests. Written once, never updated.
    evidence = models.JSONField(default=dict, blank=True, editable=False)
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
    """A key a workflow sends as `Authorization: Bearer <key>`; only its sha256 is stored.

    What it may do: its `scopes` (core.roles.SCOPE_PERMS), on its team's groups (all of
    them, or the listed ones), never more than its team may (core.permissions.key_allows).
    """

    name = models.CharField(max_length=200)
    # The first characters of the key, shown so people can tell keys apart.
    prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    team = models.ForeignKey("core.Team", on_delete=models.PROTECT, related_name="api_keys")
    # A list of core.roles.SCOPES: "predict", "read", "manage".
    scopes = models.JSONField(default=list)
    all_groups = models.BooleanField(
        default=False, help_text="Allowed on every group of its team, present and future."
    )
    groups = models.ManyToManyField(ModelGroup, blank=True, related_name="api_keys")
    expires_at = models.DateTimeField(null=True, blank=True)
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

    def clean(self) -> None:
        errors = api_key_scope_errors(self.scopes)
        if errors:
            raise ValidationError(errors)

    @staticmethod
    def hash(plaintext: str) -> str:
        # A key is 256 random bits: a fast hash is enough, there is nothing to brute-force.
        return hashlib.sha256(plaintext.encode()).hexdigest()

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    @property
    def owning_team_id(self) -> int:
        return self.team_id


def api_key_scope_errors(scopes: object) -> dict[str, list[str]]:
    """What is wrong with a key's scopes: a non-empty list drawn from core.roles.SCOPES."""
    if not isinstance(scopes, list | tuple | set | frozenset) or not scopes:
        return {"scopes": [f"Give at least one scope among {', '.join(SCOPES)}."]}
    unknown = sorted(str(s) for s in scopes if s not in SCOPES)
    if unknown:
        return {
            "scopes": [
                f"Unknown scope {', '.join(repr(s) for s in unknown)}: use {', '.join(SCOPES)}."
            ]
        }
    return {}


class PendingAction(models.TextChoices):
    PROMOTE = "promote", "Promotion"
    ROLLBACK = "rollback", "Rollback"
    SET_TRAFFIC = "set_traffic", "Traffic change"


class PendingStatus(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    APPLIED = "applied", "Approved and applied"
    REJECTED = "rejected", "Rejected"


class PendingChange(InGroup, models.Model):
    """A promotion, rollback or traffic change on a group that requires approval: applied
    only once another person approves it (groups.services.pending_change_approve).

    `payload` holds the change's arguments: {"model_version", "former_champion_role"} for a
    promotion, {"weights": {"<version id>": weight}} for traffic, {"promotion": id} for a
    rollback (the promotion it undoes).
    """

    group = models.ForeignKey(ModelGroup, on_delete=models.CASCADE, related_name="pending_changes")
    action = models.CharField(max_length=16, choices=PendingAction.choices)
    payload = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=PendingStatus.choices, default=PendingStatus.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # The audit record of the change once applied.
    role_change = models.OneToOneField(
        RoleChange, null=True, blank=True, on_delete=models.SET_NULL, related_name="pending_change"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("approve_pendingchange", "Can approve or reject pending changes")]

    def __str__(self) -> str:
        return (
            f"{self.group.name}: {self.get_action_display()} ({self.get_status_display().lower()})"
        )

    @property
    def author_label(self) -> str:
        if self.author_id:
            return str(self.author)
        if self.author_key_id:
            return f"API key {self.author_key}"
        return "system"
