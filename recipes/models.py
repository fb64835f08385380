from django.conf import settings
from django.db import models
from django.urls import reverse

from core.models import default_team_id


class Family(models.TextChoices):
    FORECASTING = "forecasting", "Forecasting"
    PRICING = "pricing", "Pricing"
    NEXT_BEST_ACTION = "next_best_action", "Next best action"
    LOCATION_SCORING = "location_scoring", "Location scoring"
    CUSTOM = "custom", "Custom"


class Level(models.TextChoices):
    BASELINE = "baseline", "Baseline"
    INDUSTRY = "industry", "Industry"
    CLIENT = "client", "Client"


# A child sits below its parent: baseline -> industry -> client.
LEVEL_DEPTH = {Level.BASELINE: 0, Level.INDUSTRY: 1, Level.CLIENT: 2}


class RecipeStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    APPROVED = "approved", "Approved"
    ARCHIVED = "archived", "Archived"


class Recipe(models.Model):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=200, unique=True)
    family = models.CharField(max_length=32, choices=Family.choices)
    level = models.CharField(max_length=16, choices=Level.choices, default=Level.BASELINE)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    # Its Operators write versions; its Approvers approve them (core/permissions.py).
    team = models.ForeignKey(
        "core.Team", on_delete=models.PROTECT, related_name="+", default=default_team_id
    )
    # The registered model its train runs register versions of (made by the first one).
    model = models.ForeignKey(
        "registry.RegisteredModel",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="recipes",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["family", "level", "name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("recipes:recipe_detail", args=[self.slug])

    @property
    def owning_team_id(self) -> int:
        return self.team_id


class RecipeVersion(models.Model):
    """One immutable version: its own layer, and what it resolves to (its parent version is
    pinned when it is made, so the effective manifest never changes afterwards)."""

    recipe = models.ForeignKey(Recipe, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=32)
    status = models.CharField(
        max_length=16, choices=RecipeStatus.choices, default=RecipeStatus.DRAFT
    )
    # This recipe's own layer (merged over the parent version's effective manifest).
    manifest = models.JSONField(default=dict)
    # The merged result, validated against recipes/manifest.schema.json.
    effective = models.JSONField(default=dict)
    content_hash = models.CharField(max_length=64, db_index=True)
    parent_version = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="inheriting"
    )
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # RFC 6902 operations from the previous version's effective manifest to this one's.
    diff = models.JSONField(default=list, blank=True)
    change_note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # "user:<id>" or "key:<id>": the author, for the four-eyes rule (a key is no person).
    author = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["recipe__name", "-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["recipe", "version"], name="unique_recipe_version")
        ]
        permissions = [("approve_recipeversion", "Can approve a recipe version (four-eyes)")]

    def __str__(self) -> str:
        return f"{self.recipe.name} {self.version}"

    def get_absolute_url(self) -> str:
        return reverse("recipes:version_detail", args=[self.recipe.slug, self.version])

    @property
    def owning_team_id(self) -> int:
        return self.recipe.team_id

    @property
    def is_approved(self) -> bool:
        return self.status == RecipeStatus.APPROVED


# --- the assistant (issue 18) --------------------------------------------------------------


class Conversation(models.Model):
    """A chat about one recipe with an LLM that may only propose JSON Patches."""

    recipe = models.ForeignKey(Recipe, on_delete=models.CASCADE, related_name="conversations")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return f"Conversation #{self.pk} on {self.recipe.name}"

    @property
    def owning_team_id(self) -> int:
        return self.recipe.team_id


class MessageRole(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=MessageRole.choices)
    content = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The provider and model that wrote an assistant message (the name kept if it is deleted).
    provider = models.ForeignKey(
        "providers.Provider", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider_name = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200, blank=True)
    # Summed over every call this answer took (the retries included).
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The version the model was shown (assistant messages).
    base_version = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["conversation", "id"]

    def __str__(self) -> str:
        return f"{self.get_role_display()} message #{self.pk}"

    @property
    def owning_team_id(self) -> int:
        return self.conversation.recipe.team_id


class ProposalStatus(models.TextChoices):
    VALID = "valid", "Valid"
    REFUSED = "refused", "Refused"
    APPLIED = "applied", "Applied"


class Proposal(models.Model):
    """One change the model proposed: shown, and applied only as a new draft version."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="proposals")
    summary = models.TextField(blank=True)
    rationale = models.TextField(blank=True)
    patch = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=ProposalStatus.choices)
    # Why it was refused: {JSON Pointer or field: [messages]}.
    reasons = models.JSONField(default=dict, blank=True)
    # What it was checked against: the version and its content hash.
    base_version = models.CharField(max_length=32, blank=True)
    base_hash = models.CharField(max_length=64, blank=True)
    # The RFC 6902 diff it makes (from the check), for the side-by-side view.
    diff = models.JSONField(default=list, blank=True)
    applied_version = models.ForeignKey(
        RecipeVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    applied_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["message", "id"]

    def __str__(self) -> str:
        return f"Proposal #{self.pk}: {self.summary[:60]}"

    @property
    def owning_team_id(self) -> int:
        return self.message.conversation.recipe.team_id
