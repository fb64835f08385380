"""Every write to the registry: models, versions, status changes, trusted artifact types."""

import logging
import re
from collections.abc import Iterable
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from registry.artifacts import (
    ArtifactError,
    artifact_loads,
    artifact_sha256,
    artifact_untrusted_types,
    type_is_allowed,
)
from registry.models import (
    Flavor,
    MappingMethod,
    ModelVersion,
    RegisteredModel,
    Task,
    VersionSource,
    VersionStatus,
)
from registry.prompting import parser_problems
from registry.schema import validate_metadata

logger = logging.getLogger(__name__)

VERSION_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,31}$")

# The only moves a version's status can make.
ALLOWED_TRANSITIONS: dict[str, str] = {
    VersionStatus.DRAFT: VersionStatus.STAGING,
    VersionStatus.STAGING: VersionStatus.PRODUCTION,
    VersionStatus.PRODUCTION: VersionStatus.RETIRED,
}
SERVING_STATUSES = (VersionStatus.STAGING, VersionStatus.PRODUCTION)
# Page routes under /models/ that a model slug must not shadow.
RESERVED_SLUGS = frozenset({"import", "upload", "new", "api"})


class RegistryValidationError(Exception):
    """Bad input for a registry write; `errors` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__(
            "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())
        )


def _tags_clean(tags: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for tag in tags:
        tag = str(tag).strip().lower()
        if tag and tag not in seen:
            seen.append(tag[:50])
    return seen


@transaction.atomic
def registered_model_create(
    *,
    name: str,
    task: str,
    description: str = "",
    owner=None,
    tags: Iterable[str] = (),
) -> RegisteredModel:
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    slug = slugify(name)[:200]
    if not name:
        errors["name"] = ["A model needs a name."]
    elif not slug:
        errors["name"] = ["The name needs at least one letter or digit."]
    elif slug in RESERVED_SLUGS:
        errors["name"] = [f"'{name}' is reserved; choose another name."]
    elif RegisteredModel.objects.filter(name__iexact=name).exists() or (
        RegisteredModel.objects.filter(slug=slug).exists()
    ):
        errors["name"] = [f"A model named '{name}' already exists."]
    if task not in Task.values:
        errors["task"] = [f"Task must be one of: {', '.join(Task.values)}."]
    if errors:
        raise RegistryValidationError(errors)
    return RegisteredModel.objects.create(
        name=name, slug=slug, task=task, description=description, owner=owner, tags=_tags_clean(tags)
    )


def _version_servable_problems(version: ModelVersion, *, data: bytes | None = None) -> list[str]:
    """Why this version could not serve predictions (empty when it can)."""
    if version.flavor == Flavor.SKLEARN:
        if data is None and not version.artifact:
            return ["a scikit-learn version needs a skops artifact before it can serve"]
        if data is None:
            from registry.artifacts import artifact_load

            try:
                artifact_load(version)
            except ArtifactError as exc:
                return [str(exc)]
        return []
    problems = []
    if version.provider_id is None:
        problems.append("an external version needs a provider")
    if not version.provider_model:
        problems.append("an external version needs the provider's model id")
    if not version.prompt_template:
        problems.append("an external version needs a prompt template")
    return problems


def _metadata_errors(metadata: Any) -> list[tuple[str, str]]:
    return [(f"metadata.{issue.path}", issue.message) for issue in validate_metadata(metadata)]


@transaction.atomic
def model_version_register(
    *,
    model: RegisteredModel,
    version: str,
    flavor: str,
    metadata: dict,
    artifact: bytes | None = None,
    status: str = VersionStatus.DRAFT,
    parent: ModelVersion | None = None,
    source: str = VersionSource.UPLOAD,
    source_ref: str = "",
    created_by=None,
    provider=None,
    provider_model: str = "",
    prompt_template: str = "",
    response_parser: dict | None = None,
    raw_document: Any = None,
    mapping_method: str = MappingMethod.AS_IS,
    mapping_provider=None,
    mapping_model: str = "",
    mapping_report: dict | None = None,
    description: str = "",
) -> ModelVersion:
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    label = (version or "").strip()
    if not VERSION_LABEL.match(label):
        add("version", "Use 1 to 32 letters, digits, '.', '-', '_' or '+', e.g. 1.3.")
    elif ModelVersion.objects.filter(model=model, version=label).exists():
        add("version", f"{model.name} already has a version {label}.")
    if flavor not in Flavor.values:
        add("flavor", f"Flavor must be one of: {', '.join(Flavor.values)}.")
    if status not in VersionStatus.values:
        add("status", f"Status must be one of: {', '.join(VersionStatus.values)}.")
    if source not in VersionSource.values:
        add("source", f"Source must be one of: {', '.join(VersionSource.values)}.")
    if mapping_method not in MappingMethod.values:
        add("mapping_method", f"Mapping method must be one of: {', '.join(MappingMethod.values)}.")
    for field, message in _metadata_errors(metadata):
        add(field, message)
    if parent is not None and parent.model_id != model.id:
        add("parent", "The parent version must belong to the same model.")
    for problem in parser_problems(response_parser):
        add("response_parser", problem)
    if artifact is not None and flavor != Flavor.SKLEARN:
        add("artifact", "Only scikit-learn versions carry an artifact.")
    if flavor == Flavor.EXTERNAL and provider is None and status in SERVING_STATUSES:
        add("provider", "An external version needs a provider before it can serve.")

    refused_types: list[str] = []
    if artifact is not None and flavor == Flavor.SKLEARN and "metadata.features" not in errors:
        try:
            refused_types = artifact_untrusted_types(artifact)
            if not refused_types:
                artifact_loads(
                    artifact,
                    trusted_types=[],
                    feature_names=[f["name"] for f in metadata.get("features", [])],
                    label="The artifact",
                )
        except ArtifactError as exc:
            add("artifact", str(exc))
    if errors:
        raise RegistryValidationError(errors)

    obj = ModelVersion(
        model=model,
        version=label,
        flavor=flavor,
        status=status,
        description=description,
        metadata=metadata,
        raw_document=raw_document,
        mapping_method=mapping_method,
        mapping_provider=mapping_provider,
        mapping_model=mapping_model,
        mapping_report=mapping_report or {},
        provider=provider,
        provider_model=provider_model,
        prompt_template=prompt_template,
        response_parser=response_parser or {},
        parent=parent,
        source=source,
        source_ref=source_ref,
        created_by=created_by,
    )
    if status in SERVING_STATUSES:
        if refused_types:
            add(
                "artifact",
                f"The artifact contains types outside the allowed list ({', '.join(refused_types)}); "
                "register it as a draft and have a staff user trust them first.",
            )
        for problem in _version_servable_problems(obj, data=artifact):
            add("status", f"Cannot register as {status}: {problem}.")
        if errors:
            raise RegistryValidationError(errors)
    if artifact is not None:
        obj.artifact_sha256 = artifact_sha256(artifact)
        obj.artifact.save(f"{model.slug}-{label}.skops", ContentFile(artifact), save=False)
    obj.save()
    _touch(model)
    return obj


def _touch(model: RegisteredModel) -> None:
    RegisteredModel.objects.filter(pk=model.pk).update(updated_at=timezone.now())


def model_version_next_label(*, model: RegisteredModel) -> str:
    """The label after the highest numeric one: "1.3" -> "1.4", "2" -> "3", none -> "1.0"."""
    labels = list(ModelVersion.objects.filter(model=model).values_list("version", flat=True))
    numeric = [
        tuple(int(p) for p in label.split(".")) for label in labels if re.fullmatch(r"\d+(\.\d+)*", label)
    ]
    if not numeric:
        candidate = "1.0"
    else:
        top = list(max(numeric))
        top[-1] += 1
        candidate = ".".join(str(p) for p in top)
    while candidate in labels:  # a non-numeric label could collide; keep going
        parts = candidate.split(".")
        parts[-1] = str(int(parts[-1]) + 1)
        candidate = ".".join(parts)
    return candidate


@transaction.atomic
def model_version_transition(*, version: ModelVersion, to_status: str, actor) -> ModelVersion:
    locked = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
    current = locked.status
    if to_status not in VersionStatus.values:
        raise RegistryValidationError(
            {"status": [f"Unknown status '{to_status}'; use one of {', '.join(VersionStatus.values)}."]}
        )
    allowed = ALLOWED_TRANSITIONS.get(current)
    if to_status != allowed:
        hint = (
            f"the only next status is {VersionStatus(allowed).label.lower()}"
            if allowed
            else "a retired version stays retired"
        )
        raise RegistryValidationError(
            {
                "status": [
                    f"Cannot move {locked} from {VersionStatus(current).label.lower()} to "
                    f"{VersionStatus(to_status).label.lower()}: {hint}."
                ]
            }
        )
    if to_status in SERVING_STATUSES:
        problems = _version_servable_problems(locked)
        if problems:
            raise RegistryValidationError(
                {"status": [f"Cannot move {locked} to {to_status}: {p}." for p in problems]}
            )
    locked.status = to_status
    locked.save(update_fields=["status", "updated_at"])
    logger.info(
        "version %s status %s -> %s by %s", locked.pk, current, to_status, getattr(actor, "pk", None)
    )
    version.status = locked.status
    version.updated_at = locked.updated_at
    return locked


@transaction.atomic
def model_version_trust_types(*, version: ModelVersion, types: Iterable[str], actor) -> ModelVersion:
    """A staff user vouches for the listed artifact types on this one version."""
    if actor is None or not getattr(actor, "is_staff", False):
        raise RegistryValidationError({"trusted_types": ["Only staff users can trust artifact types."]})
    locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
    types = sorted({str(t).strip() for t in types if str(t).strip()})
    if not types:
        raise RegistryValidationError({"trusted_types": ["Choose at least one type to trust."]})
    if locked.artifact:
        from registry.artifacts import artifact_read

        try:
            present = set(artifact_untrusted_types(artifact_read(locked)))
        except ArtifactError as exc:
            raise RegistryValidationError({"artifact": [str(exc)]}) from exc
        unknown = [t for t in types if t not in present and not type_is_allowed(t)]
        if unknown:
            raise RegistryValidationError(
                {"trusted_types": [f"Not in this artifact: {', '.join(unknown)}."]}
            )
    locked.trusted_types = sorted(set(locked.trusted_types or []) | set(types))
    locked.trusted_by = actor
    locked.trusted_at = timezone.now()
    locked.save(update_fields=["trusted_types", "trusted_by", "trusted_at", "updated_at"])
    from registry.predictors import predictor_cache_clear

    transaction.on_commit(lambda: predictor_cache_clear(locked.pk))
    return locked


@transaction.atomic
def model_version_upload(
    *,
    model: RegisteredModel | None,
    new_model_name: str = "",
    task: str = Task.BINARY,
    version: str,
    metadata: dict,
    artifact: bytes,
    created_by=None,
    description: str = "",
) -> ModelVersion:
    """The upload page: a new sklearn version of an existing model, or of a new one."""
    if model is None:
        model = registered_model_create(name=new_model_name, task=task, owner=created_by)
    return model_version_register(
        model=model,
        version=version or model_version_next_label(model=model),
        flavor=Flavor.SKLEARN,
        metadata=metadata,
        artifact=artifact,
        source=VersionSource.UPLOAD,
        created_by=created_by,
        raw_document=metadata,
        description=description,
    )
