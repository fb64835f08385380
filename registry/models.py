from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from core.models import default_team_id


class Task(models.TextChoices):
    BINARY = "binary_classification", "Binary classification"
    MULTICLASS = "multiclass_classification", "Multiclass classification"
    REGRESSION = "regression", "Regression"
    TEXT_GENERATION = "text_generation", "Text generation"


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"
    RETIRED = "retired", "Retired"


class Flavor(models.TextChoices):
    SKLEARN = "sklearn", "scikit-learn artifact"
    EXTERNAL = "external", "External provider model"


class MappingMethod(models.TextChoices):
    AS_IS = "as_is", "As is"
    HEURISTIC = "heuristic", "Heuristic remapping"
    LLM = "llm", "LLM remapping"


class VersionSource(models.TextChoices):
    IMPORT = "import", "Import"
    UPLOAD = "upload", "Upload"
    TRAINING = "training", "Training job"
    DEMO = "demo", "Demo seed"


class ValidationStatus(models.TextChoices):
    NOT_VALIDATED = "not_validated", "Not validated"
    IN_PROGRESS = "in_progress", "Validation in progress"
    APPROVED = "approved", "Approved"
    CONDITIONAL = "conditional", "Approved with findings"
    REJECTED = "rejected", "Rejected"


# The inventory fields (model-risk review, SR 11-7 / SS1/23): Operators of the team edit
# these; the validation ones (VALIDATION_FIELDS) need registry.validate_registeredmodel.
INVENTORY_FIELDS = ("business_purpose", "intended_use", "known_limitations", "risk_tier")
VALIDATION_FIELDS = ("validator", "validation_status", "validated_on", "next_review_on")


def risk_tiers() -> list[str]:
    return [str(t) for t in settings.HUB_RISK_TIERS]


class RegisteredModel(models.Model):
    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    task = models.CharField(max_length=32, choices=Task.choices, default=Task.BINARY)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tags = models.JSONField(default=list, blank=True)
    # Its Operators act on it; core/permissions.py.
    team = models.ForeignKey(
        "core.Team", on_delete=models.PROTECT, related_name="models", default=default_team_id
    )
    business_purpose = models.TextField(blank=True)
    intended_use = models.TextField(blank=True)
    known_limitations = models.TextField(blank=True)
    # One of settings.HUB_RISK_TIERS (checked in clean(), so the list stays configurable).
    risk_tier = models.CharField(max_length=16, blank=True)
    validator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    validation_status = models.CharField(
        max_length=16, choices=ValidationStatus.choices, default=ValidationStatus.NOT_VALIDATED
    )
    validated_on = models.DateField(null=True, blank=True)
    next_review_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [("validate_registeredmodel", "Can set a model's validator and validation")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("registry:model_detail", args=[self.slug])

    def clean(self) -> None:
        errors = inventory_errors(self)
        if errors:
            raise ValidationError(errors)

    @property
    def owning_team_id(self) -> int:
        return self.team_id


def inventory_errors(model: RegisteredModel) -> dict[str, list[str]]:
    """What is wrong with a model's inventory fields: a known tier, a validator who is
    not the owner (independent review)."""
    errors: dict[str, list[str]] = {}
    if model.risk_tier and model.risk_tier not in risk_tiers():
        errors["risk_tier"] = [f"Use one of {', '.join(risk_tiers())}."]
    if model.validator_id is not None and model.validator_id == model.owner_id:
        errors["validator"] = ["The validator must be another person than the owner."]
    if model.validated_on and model.validation_status == ValidationStatus.NOT_VALIDATED:
        errors["validation_status"] = ["A validation date needs a validation status."]
    return errors


def inventory_perms(fields: object) -> list[str]:
    """The permissions an edit of these inventory fields needs (validation: an Approver's)."""
    names = set(fields)
    perms = []
    if names & set(INVENTORY_FIELDS):
        perms.append("registry.change_registeredmodel")
    if names & set(VALIDATION_FIELDS):
        perms.append("registry.validate_registeredmodel")
    return perms


class ModelVersion(models.Model):
    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=32)
    status = models.CharField(
        max_length=16, choices=VersionStatus.choices, default=VersionStatus.DRAFT
    )
    flavor = models.CharField(max_length=16, choices=Flavor.choices, default=Flavor.SKLEARN)
    description = models.TextField(blank=True)
    # The document validated against registry/model_metadata.schema.json.
    metadata = models.JSONField(default=dict, blank=True)
    # Kept verbatim for audit: what the user sent, and how it was mapped onto the schema.
    raw_document = models.JSONField(null=True, blank=True)
    mapping_method = models.CharField(
        max_length=16, choices=MappingMethod.choices, default=MappingMethod.AS_IS
    )
    mapping_provider = models.ForeignKey(
        "providers.Provider", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    mapping_model = models.CharField(max_length=200, blank=True)
    mapping_report = models.JSONField(default=dict, blank=True)
    # sklearn flavor: a skops artifact, never pickle.
    artifact = models.FileField(upload_to="artifacts/%Y/%m/", blank=True)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    # The artifact's types outside the hub's allowed list, found when it was uploaded (so no
    # page unpacks the artifact to show them); None for an artifact not inspected yet.
    artifact_types = models.JSONField(null=True, blank=True, default=None)
    trusted_types = models.JSONField(default=list, blank=True)
    trusted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trusted_at = models.DateTimeField(null=True, blank=True)
    # external flavor: a provider's model, a prompt template and a response parser.
    provider = models.ForeignKey(
        "providers.Provider",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="versions",
    )
    provider_model = models.CharField(max_length=200, blank=True)
    prompt_template = models.TextField(blank=True)
    response_parser = models.JSONField(default=dict, blank=True)
    # Lineage: the version it was derived from, and what made it (an import, an upload,
    # or a training job, whose id is source_ref; training points back via result_version).
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    source = models.CharField(
        max_length=16, choices=VersionSource.choices, default=VersionSource.UPLOAD
    )
    source_ref = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model__name", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="unique_version_per_model")
        ]
        permissions = [("trust_modelversion", "Can trust the types of a skops artifact")]

    def __str__(self) -> str:
        return f"{self.model.name} {self.version}"

    def get_absolute_url(self) -> str:
        return reverse("registry:version_detail", args=[self.model.slug, self.version])

    @property
    def owning_team_id(self) -> int:
        return self.model.team_id

    @property
    def untrusted_types(self) -> list[str] | None:
        """Types that keep the artifact from loading (None: not inspected yet)."""
        if self.artifact_types is None:
            return None
        return [t for t in self.artifact_types if t not in set(self.trusted_types or [])]

    @property
    def feature_names(self) -> list[str]:
        return [f["name"] for f in self.metadata.get("features", []) if "name" in f]
