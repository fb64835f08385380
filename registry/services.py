"""Every write to the registry: models, versions, status changes, trusted artifact types."""

import logging
import re
from collections.abc import Iterable
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from core.errors import Forbidden, ServiceError
from core.models import DEFAULT_TEAM_SLUG, Team
from core.permissions import can, is_api_key, is_org_admin, user_team_ids
from registry.artifacts import (
    ArtifactError,
    artifact_loads,
    artifact_read,
    artifact_sha256,
    artifact_untrusted_types,
    type_is_allowed,
)
from registry.models import (
    INVENTORY_FIELDS,
    VALIDATION_FIELDS,
    Flavor,
    MappingMethod,
    ModelVersion,
    RegisteredModel,
    Task,
    VersionSource,
    VersionStatus,
    inventory_errors,
)
from registry.prompting import parser_problems
from registry.schema import validate_metadata

logger = logging.getLogger(__name__)

VERSION_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,31}$")
NUMERIC_LABEL = re.compile(r"\d+(\.\d+)*")
Errors = dict[str, list[str]]

# The only moves a version's status can make.
ALLOWED_TRANSITIONS: dict[str, str] = {
    VersionStatus.DRAFT: VersionStatus.STAGING,
    VersionStatus.STAGING: VersionStatus.PRODUCTION,
    VersionStatus.PRODUCTION: VersionStatus.RETIRED,
}
SERVING_STATUSES = (VersionStatus.STAGING, VersionStatus.PRODUCTION)
# Page routes under /models/ that a model slug must not shadow.
RESERVED_SLUGS = frozenset({"import", "upload", "new", "api"})


TRUST_PERM = "registry.trust_modelversion"


class RegistryValidationError(ServiceError):
    """Bad input for a registry write (400); `errors` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]], *, status: int | None = None):
        super().__init__(errors, status=status)


def person(user):
    """The user row to record as owner or author: None for an API key's principal."""
    return None if is_api_key(user) else user


def principal_id(user) -> str:
    """Who made a request, a person or an API key, as a stable string."""
    if is_api_key(user):
        return f"key:{user.grant.id}"
    return f"user:{getattr(user, 'pk', None)}"


def model_team_choose(*, user, team: str = "") -> Team:
    """The team a new model belongs to: an API key's own team; else `team` (a slug) among
    the user's teams (an Admin may name any team), or their only team when none is named."""
    if is_api_key(user):
        return Team.objects.get(pk=user.grant.team_id)
    slug = (team or "").strip()
    mine = Team.objects.filter(pk__in=user_team_ids(user))
    admin = is_org_admin(user)
    if slug:
        found = (Team.objects.all() if admin else mine).filter(slug=slug).first()
        if found is None:
            raise RegistryValidationError({"team": [f"'{slug}' is not one of your teams."]})
        return found
    teams = list(mine[:2])
    if len(teams) == 1:
        return teams[0]
    if not teams and admin:
        return Team.objects.get_or_create(
            slug=DEFAULT_TEAM_SLUG, defaults={"name": "Default team"}
        )[0]
    if not teams:
        raise RegistryValidationError(
            {"team": ["You belong to no team; ask an Admin to add you to one."]}
        )
    raise RegistryValidationError(
        {"team": ["You belong to several teams; choose the team that owns the model."]}
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
    team: Team | None = None,
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
    extra = {"team": team} if team is not None else {}
    return RegisteredModel.objects.create(
        name=name,
        slug=slug,
        task=task,
        description=description,
        owner=owner,
        tags=_tags_clean(tags),
        **extra,
    )


def _recipe_lineage_problems(metadata: Any) -> list[str]:
    """A version trained from a recipe version that was not approved never serves (the
    training run records the recipe version's status in the metadata it registers)."""
    training = metadata.get("training") if isinstance(metadata, dict) else None
    lineage = training.get("lineage") if isinstance(training, dict) else None
    if not isinstance(lineage, dict) or lineage.get("recipe_status") in (None, "approved"):
        return []
    return [
        f"it was trained from recipe {lineage.get('recipe')} {lineage.get('recipe_version')}, "
        f"which was {lineage.get('recipe_status')}, not approved: train it again from an "
        "approved recipe version"
    ]


def _version_servable_problems(version: ModelVersion, *, data: bytes | None = None) -> list[str]:
    """Why this version could not serve predictions (empty when it can)."""
    lineage = _recipe_lineage_problems(version.metadata)
    if lineage:
        return lineage
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


def _choice_errors(values: dict[str, tuple[str, list[str]]]) -> Errors:
    errors: Errors = {}
    for field, (value, allowed) in values.items():
        if value not in allowed:
            label = field.replace("_", " ").capitalize()
            errors[field] = [f"{label} must be one of: {', '.join(allowed)}."]
    return errors


def _add(errors: Errors, field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def _register_errors(*, model: RegisteredModel, label: str, fields: dict[str, Any]) -> Errors:
    """What is wrong with a version before its artifact is looked at."""
    errors = _choice_errors(
        {
            "flavor": (fields["flavor"], Flavor.values),
            "status": (fields["status"], VersionStatus.values),
            "source": (fields["source"], VersionSource.values),
            "mapping_method": (fields["mapping_method"], MappingMethod.values),
        }
    )
    if not VERSION_LABEL.match(label):
        _add(errors, "version", "Use 1 to 32 letters, digits, '.', '-', '_' or '+', e.g. 1.3.")
    elif ModelVersion.objects.filter(model=model, version=label).exists():
        _add(errors, "version", f"{model.name} already has a version {label}.")
    for field, message in _metadata_errors(fields["metadata"]):
        _add(errors, field, message)
    parent = fields["parent"]
    if parent is not None and parent.model_id != model.id:
        _add(errors, "parent", "The parent version must belong to the same model.")
    for problem in parser_problems(fields["response_parser"]):
        _add(errors, "response_parser", problem)
    if fields["artifact"] is not None and fields["flavor"] != Flavor.SKLEARN:
        _add(errors, "artifact", "Only scikit-learn versions carry an artifact.")
    external = fields["flavor"] == Flavor.EXTERNAL
    if external and fields["provider"] is None and fields["status"] in SERVING_STATUSES:
        _add(errors, "provider", "An external version needs a provider before it can serve.")
    return errors


def _artifact_inspect(artifact: bytes, metadata: dict, errors: Errors) -> list[str]:
    """The artifact's types outside the allowed list; a loadable artifact is loaded once,
    to check it against its declared features."""
    try:
        refused = artifact_untrusted_types(artifact)
        if not refused:
            artifact_loads(
                artifact,
                trusted_types=[],
                feature_names=[f["name"] for f in metadata.get("features", [])],
                label="The artifact",
            )
        return refused
    except ArtifactError as exc:
        _add(errors, "artifact", exc.message)
        return []


def _serving_errors(obj: ModelVersion, refused_types: list[str], artifact: bytes | None) -> Errors:
    errors: Errors = {}
    if obj.status not in SERVING_STATUSES:
        return errors
    if refused_types:
        _add(
            errors,
            "artifact",
            f"The artifact contains types outside the allowed list ({', '.join(refused_types)}); "
            "register it as a draft and have an Admin trust them first.",
        )
    for problem in _version_servable_problems(obj, data=artifact):
        _add(errors, "status", f"Cannot register as {obj.status}: {problem}.")
    return errors


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
    label = (version or "").strip()
    errors = _register_errors(
        model=model,
        label=label,
        fields={
            "flavor": flavor,
            "status": status,
            "source": source,
            "mapping_method": mapping_method,
            "metadata": metadata,
            "parent": parent,
            "response_parser": response_parser,
            "artifact": artifact,
            "provider": provider,
        },
    )
    refused_types: list[str] = []
    if artifact is not None and flavor == Flavor.SKLEARN and "metadata.features" not in errors:
        refused_types = _artifact_inspect(artifact, metadata, errors)
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
    errors = _serving_errors(obj, refused_types, artifact)
    if errors:
        raise RegistryValidationError(errors)
    if artifact is not None:
        obj.artifact_sha256 = artifact_sha256(artifact)
        obj.artifact_types = refused_types
        obj.artifact.save(f"{model.slug}-{label}.skops", ContentFile(artifact), save=False)
    obj.save()
    _touch(model)
    return obj


@transaction.atomic
def registered_model_inventory_update(
    *, model: RegisteredModel, changes: dict[str, Any]
) -> RegisteredModel:
    """Set inventory fields (registry.models INVENTORY_FIELDS and VALIDATION_FIELDS; the
    caller has checked registry.models.inventory_perms); refused when invalid."""
    allowed = set(INVENTORY_FIELDS) | set(VALIDATION_FIELDS)
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise RegistryValidationError({name: ["Not an inventory field."] for name in unknown})
    locked = RegisteredModel.objects.select_for_update().get(pk=model.pk)
    for name, value in changes.items():
        setattr(locked, name, "" if value is None and name in INVENTORY_FIELDS else value)
    errors = inventory_errors(locked)
    if errors:
        raise RegistryValidationError(errors)
    locked.save()
    return locked


def _touch(model: RegisteredModel) -> None:
    RegisteredModel.objects.filter(pk=model.pk).update(updated_at=timezone.now())


def version_label_bump(label: str) -> str:
    """The label after `label`: "1.3" -> "1.4", "2" -> "3", "beta" -> "beta.1"."""
    parts = label.split(".")
    if parts[-1].isdigit():
        parts[-1] = str(int(parts[-1]) + 1)
        return ".".join(parts)
    return f"{label}.1"


def version_label_next(labels: Iterable[str], *, taken: Iterable[str] = ()) -> str:
    """The label after the highest numeric one of `labels` ("1.0" when there is none),
    skipping every label in `labels` or `taken`."""
    labels = set(labels)
    used = labels | set(taken)
    numeric = [
        tuple(int(p) for p in label.split("."))
        for label in labels
        if NUMERIC_LABEL.fullmatch(label)
    ]
    candidate = version_label_bump(".".join(map(str, max(numeric)))) if numeric else "1.0"
    while candidate in used:  # a non-numeric label could collide; keep going
        candidate = version_label_bump(candidate)
    return candidate


def model_version_next_label(*, model: RegisteredModel, taken: Iterable[str] = ()) -> str:
    """The label after the model's highest numeric one: "1.3" -> "1.4", "2" -> "3", none -> "1.0"."""
    labels = ModelVersion.objects.filter(model=model).values_list("version", flat=True)
    return version_label_next(labels, taken=taken)


@transaction.atomic
def model_version_transition(*, version: ModelVersion, to_status: str, actor) -> ModelVersion:
    locked = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
    current = locked.status
    if to_status not in VersionStatus.values:
        raise RegistryValidationError(
            {
                "status": [
                    f"Unknown status '{to_status}'; use one of {', '.join(VersionStatus.values)}."
                ]
            }
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
        "version %s status %s -> %s by %s",
        locked.pk,
        current,
        to_status,
        getattr(actor, "pk", None),
    )
    version.status = locked.status
    version.updated_at = locked.updated_at
    return locked


def model_version_inspect_types(*, version: ModelVersion) -> ModelVersion:
    """Record the artifact's types outside the allowed list (for versions uploaded before
    they were recorded at upload); an artifact that cannot be read is an ArtifactError."""
    if version.artifact and version.artifact_types is None:
        version.artifact_types = artifact_untrusted_types(artifact_read(version))
        ModelVersion.objects.filter(pk=version.pk).update(artifact_types=version.artifact_types)
    return version


@transaction.atomic
def model_version_trust_types(
    *, version: ModelVersion, types: Iterable[str], actor
) -> ModelVersion:
    """An Admin vouches for the listed artifact types on this one version."""
    if not can(actor, TRUST_PERM, version):
        raise Forbidden(
            "Only an Admin can trust artifact types.",
            {"trusted_types": ["Only an Admin can trust artifact types."]},
        )
    locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
    types = sorted({str(t).strip() for t in types if str(t).strip()})
    if not types:
        raise RegistryValidationError({"trusted_types": ["Choose at least one type to trust."]})
    if locked.artifact:
        present = set(model_version_inspect_types(version=locked).artifact_types or [])
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
    team: Team | None = None,
) -> ModelVersion:
    """The upload page: a new sklearn version of an existing model, or of a new one (owned
    by `team`)."""
    if model is None:
        model = registered_model_create(name=new_model_name, task=task, owner=created_by, team=team)
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
