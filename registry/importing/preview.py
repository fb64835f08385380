"""Step 4 of an import: the preview (kept in the cache under a token, nothing written), and
the confirm that saves every ready item of it, each on its own. A token confirms once; a
second confirm returns the first outcome and saves nothing."""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ServiceError
from core.permissions import can
from providers import selectors as provider_selectors
from registry import remap as remapper
from registry.importing.identity import (
    NEXT_FREE_LABEL,
    Identity,
    ImportOptions,
    identity_decide,
    model_named,
)
from registry.importing.map import DroppedRow, KeyMoveRow, LlmAttempt, Mapping, map_document
from registry.importing.parse import JSON_TYPE_NAMES, ImportRefused, ImportSource, documents
from registry.models import MappingMethod, ModelVersion, RegisteredModel, Task, VersionSource
from registry.schema import METADATA_SCHEMA, validate_metadata
from registry.services import (
    model_team_choose,
    model_version_next_label,
    model_version_register,
    person,
    principal_id,
    registered_model_create,
)

logger = logging.getLogger(__name__)

PREVIEW_TTL = timedelta(hours=1)
_CACHE_PREFIX = "registry:import:"

METHOD_LABELS = {
    MappingMethod.AS_IS: "as is (the document already follows the schema)",
    MappingMethod.LLM: "remapped by the LLM",
    MappingMethod.HEURISTIC: "remapped by the heuristic remapper",
}

Problem = tuple[str, str]


@dataclass(frozen=True)
class FieldRow:
    path: str
    status: str  # valid | missing | invalid
    messages: list[str]


@dataclass(frozen=True)
class Issue:
    path: str
    message: str


@dataclass
class PreviewItem:
    index: int
    label: str
    status: str = "refused"  # ready | invalid | refused (not an object)
    message: str = ""
    method: str = ""
    method_label: str = ""
    provider_id: int | None = None
    provider_name: str = ""
    llm_model: str = ""
    notes: list[str] = field(default_factory=list)
    attempts: list[LlmAttempt] = field(default_factory=list)
    identity: Identity | None = None
    document: dict | None = None
    moves: list[KeyMoveRow] = field(default_factory=list)
    dropped: list[DroppedRow] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    fields: list[FieldRow] = field(default_factory=list)

    @property
    def document_json(self) -> str:
        return json.dumps(self.document, indent=2) if self.document is not None else ""


@dataclass
class ImportPreview:
    token: str | None
    created_at: str
    expires_at: str | None
    ready_count: int
    refused_count: int
    items: list[PreviewItem]
    team_id: int | None = None


@dataclass
class OutcomeItem:
    index: int
    label: str
    status: str  # saved | refused | skipped
    message: str
    model: str = ""
    model_slug: str = ""
    version: str = ""
    url: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class ImportOutcome:
    saved_count: int
    refused_count: int
    items: list[OutcomeItem]
    already_confirmed: bool = False


def as_data(value: Any) -> Any:
    """A preview or outcome as plain JSON-able data (the API's answer)."""
    return dataclasses.asdict(value)


# --- validation per field ----------------------------------------------------------------


def _flat_keys(document: dict) -> set[str]:
    keys = set(document)
    for key, value in document.items():
        if isinstance(value, dict):
            keys.update(f"{key}.{sub}" for sub in value)
    return keys


def _field_paths(document: dict, issues: list[Problem]) -> list[str]:
    """Each top-level field and each field of a section, schema order first."""
    properties = list(METADATA_SCHEMA.get("properties", {}))
    issue_paths = {p for p, _ in issues}
    paths: list[str] = []
    for key in [*properties, *(k for k in document if k not in properties)]:
        if key not in document and key not in issue_paths:
            continue
        value = document.get(key)
        if isinstance(value, dict) and value:
            paths.extend(f"{key}.{sub}" for sub in value)
        else:
            paths.append(key)
    return paths


def _field_row(path: str, issues: list[Problem], present: set[str], claimed: set[int]) -> FieldRow:
    messages = []
    for i, (issue_path, message) in enumerate(issues):
        if remapper.path_under(issue_path, path):
            messages.append(message if issue_path == path else f"{issue_path}: {message}")
            claimed.add(i)
    if not messages:
        return FieldRow(path, "valid", [])
    return FieldRow(path, "missing" if path not in present else "invalid", messages)


def field_rows(document: dict, issues: list[Problem]) -> list[FieldRow]:
    """A validation status per field: each top-level field and each field of a section."""
    present = _flat_keys(document)
    claimed: set[int] = set()
    rows = [_field_row(path, issues, present, claimed) for path in _field_paths(document, issues)]
    for i, (issue_path, message) in enumerate(issues):
        if i not in claimed:
            status = "missing" if message.startswith("is required") else "invalid"
            rows.append(FieldRow(issue_path, status, [message]))
    return rows


# --- one item ---------------------------------------------------------------------------------


def _item_message(identity: Identity, issues: list[Problem], missing: list[str]) -> str:
    if not issues:
        return f"Ready: confirm to save {identity.name} {identity.version}."
    if missing:
        return "Cannot be imported: missing " + ", ".join(missing) + "."
    return f"Cannot be imported: {len(issues)} problem{'s' if len(issues) != 1 else ''} left after mapping."


def _mapping_fields(mapping: Mapping) -> dict[str, Any]:
    provider = mapping.provider
    return {
        "method": str(mapping.method),
        "method_label": METHOD_LABELS[mapping.method],
        "provider_id": provider.pk if provider is not None else None,
        "provider_name": provider.name if provider is not None else "",
        "llm_model": provider.default_model if provider is not None else "",
        "notes": mapping.notes,
        "attempts": mapping.attempts,
        "moves": mapping.moves,
        "dropped": mapping.dropped,
        "unverified": mapping.unverified,
    }


def preview_item(
    index: int,
    label: str,
    document: Any,
    options: ImportOptions,
    provider: Any,
    reserved: dict[str, set[str]],
    *,
    user: Any,
) -> PreviewItem:
    if not isinstance(document, dict):
        kind = JSON_TYPE_NAMES.get(type(document), "a list")
        return PreviewItem(
            index, label, message=f"This item is {kind}, not a JSON object; it is skipped."
        )
    mapping = map_document(document, provider)
    mapped = mapping.document
    identity, identity_problems = identity_decide(mapped, options, reserved, user=user)
    # The saved metadata says the same as the version it describes.
    for key in ("name", "task", "version"):
        if getattr(identity, key):
            mapped[key] = getattr(identity, key)
    issues = [(i.path, i.message) for i in validate_metadata(mapped)]
    issues += [p for p in identity_problems if p not in issues]
    issues.sort()
    missing = [path for path, message in issues if message.startswith("is required")]
    return PreviewItem(
        index,
        label,
        status="invalid" if issues else "ready",
        message=_item_message(identity, issues, missing),
        identity=identity,
        document=mapped,
        issues=[Issue(p, m) for p, m in issues],
        missing=missing,
        fields=field_rows(mapped, issues),
        **_mapping_fields(mapping),
    )


def _team_for_new_models(items: list[PreviewItem], options: ImportOptions, user: Any) -> int | None:
    """The team new models of this upload belong to; an item the user may not register
    there becomes invalid."""
    new = [item for item in items if item.status == "ready" and not item.identity.exists]
    if not new:
        return None
    team = model_team_choose(user=user, team=options.team)
    if not can(user, "registry.add_registeredmodel", RegisteredModel(team=team)):
        for item in new:
            item.status = "invalid"
            item.message = f"Cannot be imported: you may not register models in the team {team}."
            item.issues.append(Issue("team", f"you may not register models in the team {team}"))
    return team.pk


# --- the two steps ---------------------------------------------------------------------------


def _key(token: str) -> str:
    return f"{_CACHE_PREFIX}{token}"


def import_preview(
    *, sources: list[ImportSource], options: ImportOptions | None = None, user: Any
) -> ImportPreview:
    """Map the upload and keep the result for `import_confirm`. Raises ImportRefused for an
    upload that holds no usable JSON; a document that cannot be mapped is an item with status
    "invalid" and the list of what is missing. Writes nothing to the database."""
    options = options or ImportOptions()
    if options.task and options.task not in Task.values:
        raise ImportRefused(f"Task must be one of: {', '.join(Task.values)}.", field="task")
    found = documents(sources)
    provider = provider_selectors.active_provider()
    reserved: dict[str, set[str]] = {}
    items = [
        preview_item(i, label, document, options, provider, reserved, user=user)
        for i, (label, document) in enumerate(found, 1)
    ]
    team_id = _team_for_new_models(items, options, user)
    ready = sum(1 for item in items if item.status == "ready")
    now = timezone.now()
    preview = ImportPreview(None, now.isoformat(), None, ready, len(items) - ready, items, team_id)
    if ready:
        preview.token = secrets.token_urlsafe(24)
        preview.expires_at = (now + PREVIEW_TTL).isoformat()
        entry = {"user_id": principal_id(user), "preview": preview, "raw": [d for _, d in found]}
        cache.set(_key(preview.token), entry, timeout=int(PREVIEW_TTL.total_seconds()))
    return preview


def import_preview_get(*, token: str, user: Any) -> ImportPreview | None:
    entry = cache.get(_key(token)) if token else None
    if entry is None or entry["user_id"] != principal_id(user):
        return None
    return entry["preview"]


def _description(metadata: dict) -> str:
    value = metadata.get("description", "")
    return value if isinstance(value, str) else ""


def _model_for(item: PreviewItem, team_id: int | None, user: Any) -> RegisteredModel:
    identity = item.identity
    model = model_named(identity.name)
    if model is not None:
        if not can(user, "registry.add_modelversion", model):
            raise ServiceError({"name": [f"You may not add versions to {model.name}."]}, status=403)
        return model
    from core.models import Team

    return registered_model_create(
        name=identity.name,
        task=identity.task,
        owner=person(user),
        description=_description(item.document),
        tags=item.document.get("tags") or (),
        team=Team.objects.filter(pk=team_id).first(),
    )


def _report(item: PreviewItem, token: str) -> dict:
    identity = item.identity
    rows = as_data(item)
    return {
        "import": token[:8],
        "source": item.label,
        "method": item.method,
        "notes": item.notes,
        **{key: rows[key] for key in ("attempts", "moves", "dropped", "unverified")},
        "identity": {k: getattr(identity, k) for k in ("name_from", "task_from", "version_from")},
    }


@transaction.atomic
def _version_save(
    item: PreviewItem, raw: Any, *, token: str, team_id: int | None, user: Any
) -> ModelVersion:
    model = _model_for(item, team_id, user)
    metadata = item.document
    label = item.identity.version
    taken = ModelVersion.objects.filter(model=model, version=label).exists()
    if item.identity.version_from == NEXT_FREE_LABEL and taken:
        # Someone saved this label since the preview; the rule still says "the next free one".
        label = model_version_next_label(model=model)
        metadata = {**metadata, "version": label}
    provider = None
    if item.provider_id:
        from providers.models import Provider

        provider = Provider.objects.filter(pk=item.provider_id).first()
    return model_version_register(
        model=model,
        version=label,
        flavor=item.identity.flavor,
        metadata=metadata,
        source=VersionSource.IMPORT,
        source_ref=f"import {token[:8]}",
        created_by=person(user),
        raw_document=raw,
        mapping_method=item.method,
        mapping_provider=provider,
        mapping_model=item.llm_model if item.method == MappingMethod.LLM else "",
        mapping_report=_report(item, token),
        description=_description(metadata),
    )


def _confirm_item(
    item: PreviewItem, raw: Any, *, token: str, team_id: int | None, user: Any
) -> OutcomeItem:
    result = OutcomeItem(item.index, item.label, "skipped", item.message)
    if item.status != "ready":
        return result
    try:
        version = _version_save(item, raw, token=token, team_id=team_id, user=user)
    except ServiceError as exc:
        result.status, result.message, result.errors = (
            "refused",
            f"Not saved: {exc.message}",
            exc.errors,
        )
        return result
    except IntegrityError:
        result.status = "refused"
        result.message = "Not saved: the model or version was created meanwhile; import it again."
        return result
    logger.info("import %s saved version %s by user %s", token[:8], version.pk, principal_id(user))
    result.status = "saved"
    result.message = (
        f"Saved {version.model.name} {version.version} ({METHOD_LABELS[version.mapping_method]})."
    )
    result.model, result.model_slug, result.version = (
        version.model.name,
        version.model.slug,
        version.version,
    )
    result.url = version.model.get_absolute_url()
    return result


def _already_confirmed(key: str, user: Any) -> ImportOutcome | None:
    done = cache.get(f"{key}:done")
    if done is None or done["user_id"] != principal_id(user):
        return None
    return dataclasses.replace(done["outcome"], already_confirmed=True)


def import_confirm(*, token: str, user: Any) -> ImportOutcome:
    """Save every ready item of the preview `token`, each on its own. Confirming the same token
    again saves nothing and returns the first outcome."""
    key = _key(token or "")
    entry = cache.get(key)
    if entry is None or entry["user_id"] != principal_id(user):
        done = _already_confirmed(key, user)
        if done is not None:
            return done
        raise ImportRefused(
            "This import preview has expired or does not exist; import the document again.",
            field="token",
        )
    # One confirm per token, even when two arrive at once: the cache's add is atomic.
    if not cache.add(f"{key}:claim", 1, timeout=int(PREVIEW_TTL.total_seconds())):
        done = _already_confirmed(key, user)
        if done is not None:
            return done
        raise ImportRefused("This import is being confirmed already.", field="token")
    preview: ImportPreview = entry["preview"]
    results = [
        _confirm_item(item, raw, token=token, team_id=preview.team_id, user=user)
        for item, raw in zip(preview.items, entry["raw"], strict=True)
    ]
    saved = sum(1 for r in results if r.status == "saved")
    outcome = ImportOutcome(saved, len(results) - saved, results)
    cache.set(
        f"{key}:done",
        {"user_id": entry["user_id"], "outcome": outcome},
        timeout=int(PREVIEW_TTL.total_seconds()),
    )
    cache.delete(key)
    return outcome
